//! The Annotate screen's file work, done by the runtime: list sets and evaluation
//! reports (those under `sessions/eval/` and those shipped with the checkpoints under
//! `assets/checkpoints/*/eval/`), open (or create from a report) a set, save one
//! judgement synced.

use std::path::{Path, PathBuf};

use crate::annotate::{self, set, Record, Store};
use crate::tui::app::annotate::LIVE_SET;
use crate::tui::msg::{OpenedSet, ReportChoice, SetChoices};

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

/// A report folder's name; a checkpoint ships its report as `<checkpoint>/eval/`, so
/// that one is named after the checkpoint.
fn report_name(dir: &Path) -> String {
    let base = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match (base(dir).as_str(), dir.parent()) {
        ("eval", Some(parent)) => base(parent),
        (name, _) => name.to_string(),
    }
}

/// Every evaluation report's `examples.jsonl`: (name, path, shipped). Those under
/// `sessions/eval/` come first; a shipped report whose name is taken is left out.
pub fn report_files(sessions: &Path, shipped: &[PathBuf]) -> Vec<(String, PathBuf, bool)> {
    let mut out: Vec<(String, PathBuf, bool)> = folders(&sessions.join("eval"))
        .into_iter()
        .map(|r| {
            let p = sessions.join("eval").join(&r).join("examples.jsonl");
            (r, p, false)
        })
        .filter(|(_, p, _)| p.is_file())
        .collect();
    for dir in shipped {
        let p = dir.join("examples.jsonl");
        let name = report_name(dir);
        if p.is_file() && !out.iter().any(|(n, ..)| *n == name) {
            out.push((name, p, true));
        }
    }
    out
}

/// Sets under `sessions/annotations/`, and reports with reasoning chains that have no
/// set of their name yet (a report without reasoning, such as the w/o-reasoning
/// ablation's, has nothing to tag and is not offered).
pub fn choices(sessions: &Path, shipped: &[PathBuf]) -> SetChoices {
    let sets: Vec<String> = folders(&sessions.join("annotations"))
        .into_iter()
        .filter(|n| set::chains_path(&sessions.join("annotations").join(n)).is_file())
        .collect();
    let reports = report_files(sessions, shipped)
        .into_iter()
        .filter(|(name, ..)| !sets.contains(name) && annotate::check_name("set", name).is_ok())
        .filter_map(|(name, path, shipped)| {
            let chains = set::read_source(&path).ok()?.len();
            (chains > 0).then_some(ReportChoice {
                name,
                path,
                shipped,
                chains,
            })
        })
        .collect();
    SetChoices { sets, reports }
}

pub fn open(sessions: &Path, name: &str, from_report: Option<&Path>) -> Result<OpenedSet, String> {
    let dir = set::set_dir(sessions, name).map_err(|e| e.to_string())?;
    if let (Some(src), false) = (from_report, set::chains_path(&dir).is_file()) {
        let chains = set::read_source(src).map_err(|e| e.to_string())?;
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
        assert!(choices(dir.path(), &[]).sets.contains(&"live".to_string()));
    }

    /// An examples.jsonl line as `r2ec eval` writes it.
    fn example(index: usize, reasoning: Option<&str>) -> String {
        serde_json::json!({
            "index": index,
            "reasoning": reasoning,
            "rank": 3,
            "reasoning_tokens": reasoning.map(|r| r.split(' ').count()),
        })
        .to_string()
            + "\n"
    }

    #[test]
    fn shipped_reports_are_offered_beside_sessions_eval_and_open_as_sets() {
        let sessions = tempfile::tempdir().unwrap();
        let assets = tempfile::tempdir().unwrap();
        let shipped = |ckpt: &str, lines: &[String]| {
            let dir = assets.path().join(ckpt).join("eval");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("examples.jsonl"), lines.concat()).unwrap();
            dir
        };
        let r2ec = shipped(
            "r2ec-ml100k",
            &[example(0, Some("recently comedies")), example(1, Some("b"))],
        );
        // The w/o-reasoning ablation's report has no chains: nothing to tag.
        let wo = shipped("wo-reasoning-ml100k", &[example(0, None)]);
        let mine = sessions.path().join("eval").join("my-eval");
        std::fs::create_dir_all(&mine).unwrap();
        std::fs::write(mine.join("examples.jsonl"), example(4, Some("c"))).unwrap();
        let c = choices(sessions.path(), &[r2ec.clone(), wo]);
        let names: Vec<(&str, bool, usize)> = c
            .reports
            .iter()
            .map(|r| (r.name.as_str(), r.shipped, r.chains))
            .collect();
        assert_eq!(names, [("my-eval", false, 1), ("r2ec-ml100k", true, 2)]);
        assert_eq!(c.reports[1].path, r2ec.join("examples.jsonl"));
        let set = open(sessions.path(), "r2ec-ml100k", Some(&c.reports[1].path)).unwrap();
        assert_eq!(set.chains.len(), 2);
        assert!(
            set.records.contains_key("tagger"),
            "suggestions come with it"
        );
        // Once a set, it is listed as one and no longer offered as a report.
        let c = choices(sessions.path(), &[r2ec]);
        assert_eq!(c.sets, ["r2ec-ml100k"]);
        assert_eq!(c.reports.len(), 1);
        // Tagging writes the annotator's log.
        let rec = Record {
            chain: "ex0".into(),
            tags: vec![crate::annotate::Behaviour::Temporal],
            spans: vec![],
            note: String::new(),
            skipped: false,
            time: 1,
        };
        save(sessions.path(), "r2ec-ml100k", "ann", rec).unwrap();
        let log = sessions
            .path()
            .join("annotations")
            .join("r2ec-ml100k")
            .join("ann.jsonl");
        assert!(std::fs::read_to_string(log).unwrap().contains("\"ex0\""));
    }
}
