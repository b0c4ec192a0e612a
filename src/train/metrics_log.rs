//! The run folder's line logs, metrics.jsonl and rollouts.jsonl. A line is appended
//! only after the checkpoint of its step is durable, and on resume every line past the
//! checkpoint's step (or cut off by a kill) is dropped, so a killed and resumed run
//! never logs a step twice.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::util::atomic::write_atomic;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// An append-only JSON-lines file.
pub struct JsonLines {
    path: PathBuf,
}

impl JsonLines {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl Fn(std::io::Error) -> LogError + '_ {
        |source| LogError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Append one line per value, flushed and synced.
    pub fn append<T: Serialize>(&self, values: &[T]) -> Result<(), LogError> {
        let mut buf = Vec::new();
        for v in values {
            serde_json::to_writer(&mut buf, v).map_err(|source| LogError::Json {
                path: self.path.clone(),
                source,
            })?;
            buf.push(b'\n');
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(self.io())?;
        f.write_all(&buf).map_err(self.io())?;
        f.sync_data().map_err(self.io())
    }

    /// Keep only complete lines whose `step` is at most `step` (rewritten atomically);
    /// returns how many lines were dropped.
    pub fn truncate_after(&self, step: usize) -> Result<usize, LogError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.io()(e)),
        };
        let mut kept = String::new();
        let mut dropped = 0;
        // A line without its newline was cut by a kill.
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        dropped += usize::from(complete.len() < text.len());
        for line in complete.lines() {
            let s = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("step")?.as_u64());
            match s {
                Some(s) if s as usize <= step => {
                    kept.push_str(line);
                    kept.push('\n');
                }
                _ => dropped += 1,
            }
        }
        if dropped > 0 {
            write_atomic(&self.path, kept.as_bytes()).map_err(self.io())?;
        }
        Ok(dropped)
    }

    /// Every complete line as JSON (unparsable lines are skipped).
    pub fn read(&self) -> Result<Vec<serde_json::Value>, LogError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io()(e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truncation_drops_later_steps_and_cut_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = JsonLines::new(dir.path().join("metrics.jsonl"));
        log.append(&[json!({"step": 1}), json!({"step": 2, "eval": {}})])
            .unwrap();
        log.append(&[json!({"step": 3})]).unwrap();
        let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
        f.write_all(b"{\"step\": 4, \"rew").unwrap();
        assert_eq!(log.truncate_after(2).unwrap(), 2);
        let steps: Vec<u64> = log
            .read()
            .unwrap()
            .iter()
            .map(|v| v["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, vec![1, 2]);
        assert_eq!(log.truncate_after(2).unwrap(), 0);
    }
}
