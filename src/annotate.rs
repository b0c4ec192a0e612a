//! Annotation of reasoning chains with the paper's seven behaviours (SPEC §6): sets of
//! chains opened from evaluations or training runs, one append-only log per annotator,
//! agreement statistics, a pattern tagger that suggests tags, and export.

pub mod agreement;
pub mod behaviour;
pub mod set;
pub mod stats;
pub mod store;
pub mod tagger;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

pub use behaviour::Behaviour;
pub use set::Chain;
pub use store::{Record, Store};

#[derive(Debug, thiserror::Error)]
pub enum AnnotateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{what} name {name:?}: {why}")]
    Name {
        what: &'static str,
        name: String,
        why: &'static str,
    },
}

impl AnnotateError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Self::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
    pub fn line(path: &Path, line: usize, message: &str) -> Self {
        Self::Line {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// Set and annotator names become file names under `sessions/`: they may not climb out
/// of it or hide (letters, digits, `-`, `_`, `.`, not starting with `.`).
pub fn check_name(what: &'static str, name: &str) -> Result<(), AnnotateError> {
    match crate::util::names::invalid_reason(name) {
        Some(why) => Err(AnnotateError::Name {
            what,
            name: name.into(),
            why,
        }),
        None => Ok(()),
    }
}

/// Every annotator log of a set folder, by annotator name.
pub fn load_all(dir: &Path) -> Result<BTreeMap<String, BTreeMap<String, Record>>, AnnotateError> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| AnnotateError::io(dir, e))?;
    for e in entries {
        let p = e.map_err(|e| AnnotateError::io(dir, e))?.path();
        let name = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.extension().is_some_and(|x| x == "jsonl") && name != "chains" && !name.starts_with('.')
        {
            out.insert(name, store::read_log(&p)?);
        }
    }
    Ok(out)
}

/// Run the tagger over every chain and store its suggestions as annotator `tagger`.
pub fn suggest_all(dir: &Path, chains: &[Chain]) -> Result<usize, AnnotateError> {
    let mut s = Store::open(dir, stats::TAGGER)?;
    let mut n = 0;
    for c in chains {
        let spans = tagger::suggest(&c.text);
        let rec = Record {
            chain: c.id.clone(),
            tags: spans.iter().map(|s| s.behaviour).collect(),
            spans,
            note: String::new(),
            skipped: false,
            time: store::now(),
        };
        if s.get(&c.id) != Some(&rec) {
            s.save(rec)?;
            n += 1;
        }
    }
    Ok(n)
}

/// One JSON line per chain: its text, reward and rank, and every annotator's record.
pub fn export_jsonl(chains: &[Chain], all: &BTreeMap<String, BTreeMap<String, Record>>) -> String {
    let mut out = String::new();
    for c in chains {
        let anns: Vec<_> = all
            .iter()
            .filter_map(|(name, recs)| recs.get(&c.id).map(|r| (name, r)))
            .map(|(name, r)| {
                json!({"annotator": name, "tags": r.tags, "spans": r.spans, "note": r.note,
                       "skipped": r.skipped, "time": r.time})
            })
            .collect();
        let line = json!({"chain": c.id, "text": c.text, "reward": c.reward, "rank": c.rank,
                          "annotations": anns});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Merge other copies of a set (folders with annotator logs, e.g. from other machines):
/// each annotator's records are appended to the local log unless already there.
pub fn merge(dir: &Path, from: &Path) -> Result<usize, AnnotateError> {
    let mut added = 0;
    for (name, recs) in load_all(from)? {
        let mut s = Store::open(dir, &name)?;
        for r in recs.into_values() {
            let newer = s.get(&r.chain).is_none_or(|old| old.time < r.time);
            if newer && s.get(&r.chain) != Some(&r) {
                s.save(r)?;
                added += 1;
            }
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_sessions() {
        for bad in ["", "..", "../x", "a/b", "/etc", ".hidden", "a\0b", "a b"] {
            assert!(check_name("set", bad).is_err(), "{bad:?} accepted");
        }
        for good in ["ml-100k_test", "r2ec.v2", "ann1"] {
            check_name("set", good).unwrap();
        }
    }
}
