//! One annotator's tags on a set: `sessions/annotations/<set>/<annotator>.jsonl`, an
//! append-only log with one record per action, each written with a single `write` and
//! synced before it is confirmed, so a kill loses at most the action in flight. The last
//! record of a chain wins; a cut last line (a write the kill interrupted) is ignored.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::behaviour::Behaviour;
use super::AnnotateError;

/// A text span (byte offsets into the chain) that shows a behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub behaviour: Behaviour,
    pub start: usize,
    pub end: usize,
}

/// One annotator's judgement of one chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub chain: String,
    pub tags: Vec<Behaviour>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Skipped: seen but not judged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// Unix seconds.
    pub time: u64,
}

pub struct Store {
    path: PathBuf,
    pub annotator: String,
    latest: BTreeMap<String, Record>,
}

impl Store {
    /// Open (or start) `annotator`'s log in a set folder.
    pub fn open(set_dir: &Path, annotator: &str) -> Result<Self, AnnotateError> {
        super::check_name("annotator", annotator)?;
        let path = set_dir.join(format!("{annotator}.jsonl"));
        let latest = if path.exists() {
            read_log(&path)?
        } else {
            BTreeMap::new()
        };
        Ok(Self {
            path,
            annotator: annotator.to_string(),
            latest,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Save one record now: appended in one write and synced before returning.
    pub fn save(&mut self, record: Record) -> Result<(), AnnotateError> {
        let mut line = serde_json::to_vec(&record)
            .map_err(|e| AnnotateError::file(&self.path, e.to_string()))?;
        line.push(b'\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| AnnotateError::io(&self.path, e))?;
        // A previous kill may have left a cut line without its newline: start a fresh one
        // so this record is not glued to it.
        if needs_newline(&self.path)? {
            f.write_all(b"\n")
                .map_err(|e| AnnotateError::io(&self.path, e))?;
        }
        f.write_all(&line)
            .map_err(|e| AnnotateError::io(&self.path, e))?;
        f.sync_data()
            .map_err(|e| AnnotateError::io(&self.path, e))?;
        self.latest.insert(record.chain.clone(), record);
        Ok(())
    }

    pub fn get(&self, chain: &str) -> Option<&Record> {
        self.latest.get(chain)
    }

    pub fn records(&self) -> &BTreeMap<String, Record> {
        &self.latest
    }

    /// First chain of `order` with no record (where a reopened session resumes).
    pub fn resume_at(&self, order: &[String]) -> usize {
        order
            .iter()
            .position(|id| !self.latest.contains_key(id))
            .unwrap_or(order.len())
    }
}

fn needs_newline(path: &Path) -> Result<bool, AnnotateError> {
    let bytes = std::fs::read(path).map_err(|e| AnnotateError::io(path, e))?;
    Ok(bytes.last().is_some_and(|&b| b != b'\n'))
}

/// The latest record per chain of a log file.
pub fn read_log(path: &Path) -> Result<BTreeMap<String, Record>, AnnotateError> {
    let bytes = std::fs::read(path).map_err(|e| AnnotateError::io(path, e))?;
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let mut latest = BTreeMap::new();
    for (i, raw) in lines.iter().enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(raw) {
            Ok(r) => {
                latest.insert(r.chain.clone(), r);
            }
            // A line cut by a kill is the one record that was never confirmed: it is
            // either the last line or followed by the newline `save` puts after it.
            Err(_) if i + 1 == lines.len() || !raw.ends_with(b"}") => {}
            Err(e) => return Err(AnnotateError::line(path, i + 1, &e.to_string())),
        }
    }
    Ok(latest)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(chain: &str, tags: &[Behaviour]) -> Record {
        Record {
            chain: chain.into(),
            tags: tags.to_vec(),
            spans: vec![],
            note: String::new(),
            skipped: false,
            time: 1,
        }
    }

    #[test]
    fn saves_resume_and_survive_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), "ann").unwrap();
        s.save(rec("a", &[Behaviour::Temporal])).unwrap();
        s.save(rec("b", &[])).unwrap();
        s.save(rec("a", &[Behaviour::Temporal, Behaviour::RoleBased]))
            .unwrap();
        let order: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        // A kill in the middle of a write leaves a cut line.
        let mut f = OpenOptions::new().append(true).open(s.path()).unwrap();
        f.write_all(b"{\"chain\":\"c\",\"ta").unwrap();
        drop(f);
        let mut back = Store::open(dir.path(), "ann").unwrap();
        assert_eq!(
            back.get("a").unwrap().tags,
            vec![Behaviour::Temporal, Behaviour::RoleBased]
        );
        assert_eq!(back.resume_at(&order), 2);
        back.save(rec("c", &[Behaviour::SelfExplanation])).unwrap();
        let again = Store::open(dir.path(), "ann").unwrap();
        assert_eq!(again.records().len(), 3);
        assert_eq!(again.resume_at(&order), 3);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, "{\"chain\":\"a\",\"tags\":[],\"time\":1}\n{\"chain\":1}\n{\"chain\":\"b\",\"tags\":[],\"time\":1}\n").unwrap();
        let e = read_log(&p).unwrap_err().to_string();
        assert!(e.contains("x.jsonl") && e.contains("line 2"), "{e}");
    }
}
