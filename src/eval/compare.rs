//! Several report folders side by side as one Markdown table (the paper's comparison:
//! R²ec, zero-shot, no reasoning, most popular, SASRec), with NDCG@10's 95% interval
//! and the timings, and each report's caveats listed under the table.

use std::fmt::Write;
use std::path::PathBuf;

use serde_json::Value;

use super::report::markdown::{num, secs};
use super::report::read_summary;
use super::EvalError;

/// The comparison table of the reports in `dirs`, in the order given.
pub fn compare_table(dirs: &[PathBuf]) -> Result<String, EvalError> {
    let summaries = dirs
        .iter()
        .map(|d| read_summary(d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(compare_summaries(&summaries))
}

pub fn compare_summaries(summaries: &[Value]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| method | data/split | n | H@5 | H@10 | H@20 | N@5 | N@10 [95% CI] | N@20 | cold-item N@10 (n) | reasoning tokens | s/sample b=1 | s/sample batched |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in summaries {
        let cold = &s["cold_warm"]["item_cold"];
        let _ = writeln!(
            md,
            "| {} | {}/{} | {} | {} | {} | {} | {} | {} [{}, {}] | {} | {} ({}) | {} | {} | {} (b={}) |",
            s["name"].as_str().unwrap_or("?"),
            s["data"].as_str().unwrap_or("?"),
            s["split"].as_str().unwrap_or("?"),
            s["n"],
            num(&s["hit@5"]),
            num(&s["hit@10"]),
            num(&s["hit@20"]),
            num(&s["ndcg@5"]),
            num(&s["ndcg@10"]),
            num(&s["ci95"]["ndcg@10"][0]),
            num(&s["ci95"]["ndcg@10"][1]),
            num(&s["ndcg@20"]),
            num(&cold["ndcg@10"]),
            cold["n"],
            s["reasoning_len_mean"]
                .as_f64()
                .map_or("-".into(), |x| format!("{x:.0}")),
            secs(&s["secs_per_sample_batch1"]),
            secs(&s["secs_per_sample"]),
            s["batch"],
        );
    }
    let notes: Vec<String> = summaries
        .iter()
        .flat_map(|s| {
            let name = s["name"].as_str().unwrap_or("?").to_string();
            s["notes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |n| n.as_str().map(|n| format!("- {name}: {n}")))
        })
        .collect();
    if !notes.is_empty() {
        md.push('\n');
        for n in notes {
            let _ = writeln!(md, "{n}");
        }
    }
    md
}
