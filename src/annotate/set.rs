//! A set of reasoning chains to annotate, opened from an evaluation's `examples.jsonl`
//! (one chain per example) or a training run's `rollouts.jsonl` (every sampled chain),
//! and kept under `sessions/annotations/<set>/chains.jsonl` so that every annotator of
//! the set sees the same chains with the same ids.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AnnotateError;

/// One chain: a stable id within its set, the text, and what the model got for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    pub id: String,
    pub text: String,
    /// RecPO's fused reward (rollouts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<f64>,
    /// The target item's rank (1 = top), when it was ranked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u64>,
}

/// Read chains from `examples.jsonl` or `rollouts.jsonl` (told apart by their fields).
pub fn read_source(path: &Path) -> Result<Vec<Chain>, AnnotateError> {
    let text = std::fs::read_to_string(path).map_err(|e| AnnotateError::io(path, e))?;
    let mut chains = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: &str| AnnotateError::line(path, i + 1, m);
        let v: Value = serde_json::from_str(line).map_err(|e| bad(&format!("not JSON: {e}")))?;
        if let Some(list) = v.get("chains").and_then(Value::as_array) {
            let step = v["step"]
                .as_u64()
                .ok_or_else(|| bad("field `step`: missing"))?;
            let user = v["user_id"].as_str().unwrap_or("?");
            for (k, c) in list.iter().enumerate() {
                let text = c["text"]
                    .as_str()
                    .ok_or_else(|| bad("field `chains[].text`: missing or not a string"))?;
                chains.push(Chain {
                    id: format!("s{step}-u{user}-c{k}"),
                    text: text.to_string(),
                    reward: c["reward"].as_f64(),
                    rank: c["rank"].as_u64(),
                });
            }
        } else if let Some(text) = v.get("reasoning") {
            let text = text
                .as_str()
                .ok_or_else(|| bad("field `reasoning`: not a string"))?;
            let index = v["index"]
                .as_u64()
                .ok_or_else(|| bad("field `index`: missing"))?;
            chains.push(Chain {
                id: format!("ex{index}"),
                text: text.to_string(),
                reward: None,
                rank: v["rank"].as_u64(),
            });
        } else {
            return Err(bad(
                "neither an examples.jsonl line (`reasoning`) nor a rollouts.jsonl line (`chains`)",
            ));
        }
    }
    // Examples without reasoning (baselines, no-reasoning runs) have nothing to tag.
    chains.retain(|c| !c.text.trim().is_empty());
    Ok(chains)
}

/// Where a set lives.
pub fn set_dir(sessions: &Path, name: &str) -> Result<PathBuf, AnnotateError> {
    super::check_name("set", name)?;
    Ok(sessions.join("annotations").join(name))
}

pub fn chains_path(dir: &Path) -> PathBuf {
    dir.join("chains.jsonl")
}

/// Write a set's chains (atomically; an existing set is never overwritten).
pub fn create(dir: &Path, chains: &[Chain]) -> Result<(), AnnotateError> {
    let path = chains_path(dir);
    if path.exists() {
        return Err(AnnotateError::file(
            &path,
            "the set exists already; pick another --name",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| AnnotateError::io(dir, e))?;
    let mut buf = String::new();
    for c in chains {
        buf.push_str(
            &serde_json::to_string(c).map_err(|e| AnnotateError::file(&path, e.to_string()))?,
        );
        buf.push('\n');
    }
    crate::util::atomic::write_atomic(&path, buf.as_bytes())
        .map_err(|e| AnnotateError::io(&path, e))
}

pub fn load(dir: &Path) -> Result<Vec<Chain>, AnnotateError> {
    let path = chains_path(dir);
    let text = std::fs::read_to_string(&path).map_err(|e| AnnotateError::io(&path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| AnnotateError::line(&path, i + 1, &e.to_string()))
        })
        .collect()
}
