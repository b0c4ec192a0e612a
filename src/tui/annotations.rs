//! The Annotate screen's file work, done by the runtime: list sets and evaluation
//! reports, open (or create from a report) a set, save one judgement synced.

use std::path::Path;

use crate::annotate::{self, set, Record, Store};
use crate::tui::app::annotate::LIVE_SET;
use crate::tui::msg::{OpenedSet, SetChoices};

fn folders(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Sets under `sessions/annotations/`, and reports under `sessions/eval/` with chains
/// that have no set of their name yet.
pub fn choices(sessions: &Path) -> SetChoices {
    let sets: Vec<String> = folders(&sessions.join("annotations"))
        .into_iter()
        .filter(|n| set::chains_path(&sessions.join("annotations").join(n)).is_file())
        .collect();
    let reports = folders(&sessions.join("eval"))
        .into_iter()
        .filter(|r| !sets.contains(r) && annotate::check_name("set", r).is_ok())
        .filter(|r| {
            sessions
                .join("eval")
                .join(r)
                .join("examples.jsonl")
                .is_file()
        })
        .collect();
    SetChoices { sets, reports }
}

pub fn open(sessions: &Path, name: &str, from_report: Option<&str>) -> Result<OpenedSet, String> {
    let dir = set::set_dir(sessions, name).map_err(|e| e.to_string())?;
    if let (Some(report), false) = (from_report, set::chains_path(&dir).is_file()) {
        let src = sessions.join("eval").join(report).join("examples.jsonl");
        let chains = set::read_source(&src).map_err(|e| e.to_string())?;
        if chains.is_empty() {
            return Err(format!(
                "{}: no reasoning chains to annotate",
                src.display()
            ));
        }
        set::create(&dir, &chains).map_err(|e| e.to_string())?;
        // New sets come with the tagger's suggestions, for the annotator to accept.
        annotate::suggest_all(&dir, &chains).map_err(|e| e.to_string())?;
    }
    Ok(OpenedSet {
        name: name.to_string(),
        chains: set::load(&dir).map_err(|e| e.to_string())?,
        records: annotate::load_all(&dir).map_err(|e| e.to_string())?,
    })
}

pub fn save(
    sessions: &Path,
    set_name: &str,
    annotator: &str,
    rec: Record,
) -> Result<Record, String> {
    let dir = set::set_dir(sessions, set_name).map_err(|e| e.to_string())?;
    let mut store = Store::open(&dir, annotator).map_err(|e| e.to_string())?;
    store.save(rec.clone()).map_err(|e| e.to_string())?;
    Ok(rec)
}

/// Append sampled chains to the `live` set (created when missing), each with a fresh id;
/// the chains file is rewritten atomically, so annotators' logs stay valid.
pub fn collect(
    sessions: &Path,
    mut chains: Vec<crate::annotate::Chain>,
) -> Result<(String, usize), String> {
    let name = LIVE_SET;
    let dir = set::set_dir(sessions, name).map_err(|e| e.to_string())?;
    let path = set::chains_path(&dir);
    let mut all = if path.is_file() {
        set::load(&dir).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let secs = crate::annotate::store::now();
    for (k, c) in chains.iter_mut().enumerate() {
        c.id = format!("live-{secs}-{}-{k}", all.len());
    }
    let n = chains.len();
    all.extend(chains);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut buf = String::new();
    for c in &all {
        buf.push_str(&serde_json::to_string(c).map_err(|e| e.to_string())?);
        buf.push('\n');
    }
    crate::util::atomic::write_atomic(&path, buf.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    annotate::suggest_all(&dir, &all).map_err(|e| e.to_string())?;
    Ok((name.to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_chains_append_to_the_live_set_with_fresh_ids() {
        let dir = tempfile::tempdir().unwrap();
        let chain = |t: &str| crate::annotate::Chain {
            id: String::new(),
            text: t.into(),
            reward: Some(0.5),
            rank: Some(3),
        };
        assert_eq!(
            collect(dir.path(), vec![chain("recently a comedy"), chain("b")]).unwrap(),
            ("live".into(), 2)
        );
        assert_eq!(collect(dir.path(), vec![chain("c")]).unwrap().1, 1);
        let set = open(dir.path(), "live", None).unwrap();
        assert_eq!(set.chains.len(), 3);
        let ids: std::collections::BTreeSet<_> = set.chains.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids.len(), 3, "ids are unique");
        assert!(
            set.records["tagger"].values().any(|r| !r.tags.is_empty()),
            "suggestions come with them"
        );
        assert!(choices(dir.path()).sets.contains(&"live".to_string()));
    }
}
