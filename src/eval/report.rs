//! An evaluation report folder: `report.json` (metrics, 95% intervals, cold/warm split,
//! reasoning length, seconds per sample, settings), `report.md` (the same for people),
//! `examples.jsonl` (one line per example: reasoning, top 20 with scores, the target's
//! rank; the TUI and annotators open it) and PNG charts. Every file is written
//! atomically. All methods (model, popular, SASRec) share this format.

pub mod markdown;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::bootstrap::{bootstrap_intervals, intervals_json};
use super::coldwarm::{cold_warm, cold_warm_json, SeenInTrain};
use super::distributions::{rank_histogram, reasoning_lengths};
use super::health::{answered_at_once, ReasoningHealth};
use super::run::{EvalRun, ExampleResult};
use super::EvalError;
use crate::data::Catalog;
use crate::util::atomic::write_atomic;

pub const REPORT_JSON: &str = "report.json";
pub const REPORT_MD: &str = "report.md";
pub const EXAMPLES_JSONL: &str = "examples.jsonl";

/// What was evaluated, and how.
#[derive(Debug, Clone)]
pub struct ReportMeta {
    /// Short label of the row in comparison tables.
    pub name: String,
    /// `model`, `popular` or `sasrec`.
    pub method: String,
    pub data: String,
    pub split: String,
    pub model: Option<String>,
    /// Method settings (token budget, SASRec hyperparameters, ...).
    pub settings: Value,
    /// Caveats a reader must see next to the numbers.
    pub notes: Vec<String>,
}

/// Mean, min, median, 90th percentile and max; `null` without reasoning.
fn length_stats(lengths: &[usize]) -> Value {
    if lengths.is_empty() {
        return Value::Null;
    }
    let mut s = lengths.to_vec();
    s.sort_unstable();
    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    json!({
        "mean": s.iter().sum::<usize>() as f64 / s.len() as f64,
        "min": s[0],
        "p50": at(0.5),
        "p90": at(0.9),
        "max": s[s.len() - 1],
        "n": s.len(),
    })
}

/// Whether the chains end by themselves and how much they repeat; `None` without
/// reasoning. SPEC's stop is `<answer>`, so a chain cut by the budget did not answer.
fn reasoning_health(results: &[ExampleResult]) -> Option<ReasoningHealth> {
    let h = ReasoningHealth::of_measured(results.iter().filter_map(|r| {
        let x = r.reasoning.as_ref()?;
        Some((
            x.tokens,
            x.stop,
            x.repeat4,
            answered_at_once(&x.text, x.stop),
        ))
    }));
    (h.chains > 0).then_some(h)
}

/// The content of `report.json`.
pub fn summary_json(
    meta: &ReportMeta,
    run: &EvalRun,
    seen: &SeenInTrain,
    resamples: usize,
    seed: u64,
) -> Value {
    let ranks = run.ranks();
    let metrics = run.metrics();
    let mut m = match metrics.to_json() {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let lengths = reasoning_lengths(&run.results);
    let stats = length_stats(&lengths);
    let cw = cold_warm(&run.results, seen);
    let health = reasoning_health(&run.results);
    let rest = json!({
        "reasoning_len_mean": stats.get("mean").cloned().unwrap_or(Value::Null),
        "reasoning_len": stats,
        "reasoning_health": health.map(|h| json!({
            "chains": h.chains,
            "answered": h.answered,
            "wrote_answer": h.wrote_answer,
            "wrote_at_once": h.wrote_at_once,
            "repeat4": h.repeat4,
        })),
        "secs_per_sample": run.secs_per_sample,
        "secs_per_sample_batch1": run.secs_per_sample_batch1,
        "batch": run.batch,
        "batch1_samples": run.batch1_samples,
        "ci95": intervals_json(&bootstrap_intervals(&ranks, resamples, seed)),
        "bootstrap": {"resamples": resamples, "seed": seed},
        "cold_warm": cold_warm_json(&cw),
        "rank_histogram": rank_histogram(&run.results)
            .into_iter()
            .map(|(label, count)| json!({"ranks": label, "count": count}))
            .collect::<Vec<_>>(),
        "name": meta.name,
        "method": meta.method,
        "data": meta.data,
        "split": meta.split,
        "model": meta.model,
        "settings": meta.settings,
        "notes": meta.notes,
    });
    if let Value::Object(r) = rest {
        m.extend(r);
    }
    Value::Object(m)
}

/// One line of `examples.jsonl`.
pub fn example_json(r: &ExampleResult, catalog: &Catalog, seen: &SeenInTrain) -> Value {
    let title = |pos: usize| {
        catalog
            .items()
            .get(pos)
            .map(|i| (i.item_id.clone(), i.title.clone()))
            .unwrap_or_default()
    };
    let top: Vec<Value> = r
        .top
        .iter()
        .map(|&(pos, score)| {
            let (item_id, title) = title(pos);
            json!({"item_id": item_id, "title": title, "score": score})
        })
        .collect();
    let target_title = catalog
        .get(&r.target_id)
        .map(|i| i.title.clone())
        .unwrap_or_default();
    json!({
        "index": r.index,
        "user_id": r.user_id,
        "target": {"item_id": r.target_id, "title": target_title},
        "rank": r.rank,
        "history_len": r.history_len,
        "item_seen_in_train": seen.item_seen(&r.target_id),
        "user_seen_in_train": seen.user_seen(&r.user_id),
        "reasoning": r.reasoning.as_ref().map(|x| x.text.as_str()),
        "reasoning_tokens": r.reasoning.as_ref().map(|x| x.tokens),
        "stop": r.reasoning.as_ref().and_then(|x| x.stop),
        "repeat4": r.reasoning.as_ref().map(|x| x.repeat4),
        "top": top,
    })
}

/// Write the report folder; returns the files written. A chart that cannot be drawn
/// is reported through `warn` and skipped: the numbers matter more than the pictures.
pub fn write_report(
    dir: &Path,
    summary: &Value,
    run: &EvalRun,
    catalog: &Catalog,
    seen: &SeenInTrain,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<PathBuf>, EvalError> {
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: Vec<u8>| -> Result<(), EvalError> {
        let path = dir.join(name);
        write_atomic(&path, &bytes).map_err(|e| EvalError::io(&path, e))?;
        written.push(path);
        Ok(())
    };
    let mut text = serde_json::to_string_pretty(summary)
        .map_err(|e| EvalError::Input(format!("serializing the report: {e}")))?;
    text.push('\n');
    put(REPORT_JSON, text.into_bytes())?;
    let mut lines = String::new();
    for r in &run.results {
        lines.push_str(&example_json(r, catalog, seen).to_string());
        lines.push('\n');
    }
    put(EXAMPLES_JSONL, lines.into_bytes())?;
    let charts = super::charts::write_charts(dir, summary, &run.results, warn);
    put(
        REPORT_MD,
        markdown::report_markdown(summary, &charts).into_bytes(),
    )?;
    written.extend(charts);
    Ok(written)
}

/// Read a folder's `report.json`.
pub fn read_summary(dir: &Path) -> Result<Value, EvalError> {
    let path = dir.join(REPORT_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| EvalError::file(&path, format!("line {}: not a report: {e}", e.line())))
}
