//! `report.md`: the numbers of `report.json` as a page people read, with the charts.

use std::fmt::Write;
use std::path::PathBuf;

use serde_json::Value;

use crate::eval::bootstrap::metric_keys;
use crate::eval::coldwarm::GROUPS;

/// A number to 4 decimals, or "-" when absent.
pub fn num(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.4}"))
}

/// Seconds per sample: milliseconds when small.
pub fn secs(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x < 0.1 => format!("{:.2} ms", x * 1000.0),
        Some(x) => format!("{x:.2} s"),
        None => "-".into(),
    }
}

pub fn report_markdown(s: &Value, charts: &[PathBuf]) -> String {
    let mut md = String::new();
    let text = |k: &str| s[k].as_str().unwrap_or("-").to_string();
    let _ = writeln!(
        md,
        "# Evaluation: {} on {} {}\n",
        text("name"),
        text("data"),
        text("split")
    );
    let _ = writeln!(
        md,
        "Method `{}`{}; {} examples, full ranking over the catalogue, history masked.\n",
        text("method"),
        s["model"]
            .as_str()
            .map(|m| format!(", model `{m}`"))
            .unwrap_or_default(),
        s["n"]
    );
    for note in s["notes"].as_array().into_iter().flatten() {
        let _ = writeln!(md, "- {}", note.as_str().unwrap_or(""));
    }
    let _ = writeln!(md, "\n## Metrics (95% bootstrap interval)\n");
    let _ = writeln!(md, "| metric | value | 95% interval |\n|---|---|---|");
    for key in metric_keys() {
        let ci = &s["ci95"][&key];
        let _ = writeln!(
            md,
            "| {key} | {} | [{}, {}] |",
            num(&s[&key]),
            num(&ci[0]),
            num(&ci[1])
        );
    }
    let _ = writeln!(md, "\n## Cold and warm (seen in train)\n");
    let _ = writeln!(
        md,
        "| group | n | hit@10 | ndcg@10 | hit@20 | ndcg@20 |\n|---|---|---|---|---|---|"
    );
    for g in GROUPS {
        let m = &s["cold_warm"][g];
        let _ = writeln!(
            md,
            "| {g} | {} | {} | {} | {} | {} |",
            m["n"],
            num(&m["hit@10"]),
            num(&m["ndcg@10"]),
            num(&m["hit@20"]),
            num(&m["ndcg@20"])
        );
    }
    let _ = writeln!(md, "\n## Ranks of the target\n");
    let _ = writeln!(md, "| ranks | examples |\n|---|---|");
    for b in s["rank_histogram"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {} |",
            b["ranks"].as_str().unwrap_or("?"),
            b["count"]
        );
    }
    let _ = writeln!(md, "\n## Reasoning and speed\n");
    let r = &s["reasoning_len"];
    if r.is_null() {
        let _ = writeln!(md, "- no reasoning chain");
    } else {
        let _ = writeln!(
            md,
            "- reasoning length (tokens): mean {:.1}, min {}, median {}, p90 {}, max {}",
            r["mean"].as_f64().unwrap_or(0.0),
            r["min"],
            r["p50"],
            r["p90"],
            r["max"]
        );
    }
    let h = &s["reasoning_health"];
    if !h.is_null() {
        let answered = 100.0 * h["answered"].as_f64().unwrap_or(0.0);
        let at_once = match h["wrote_at_once"].as_f64() {
            Some(o) => format!(
                "; {:.1}% wrote `<answer>` at once, with nothing before it",
                100.0 * o
            ),
            None => String::new(),
        };
        let split = match h["wrote_answer"].as_f64() {
            Some(w) => format!(
                " ({:.1}% wrote `<answer>`, {:.1}% ended their turn and had `<answer>` placed after){at_once}",
                100.0 * w,
                (answered - 100.0 * w).max(0.0)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            md,
            "- chains that end by themselves: {answered:.1}%{split}; repeated 4-gram share: mean {:.3}",
            h["repeat4"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        md,
        "- seconds per sample: {} at batch {}, {} at batch 1 (over {} examples)",
        secs(&s["secs_per_sample"]),
        s["batch"],
        secs(&s["secs_per_sample_batch1"]),
        s["batch1_samples"]
    );
    let _ = writeln!(
        md,
        "\nSettings:\n\n```json\n{}\n```",
        serde_json::to_string_pretty(&s["settings"]).unwrap_or_default()
    );
    if !charts.is_empty() {
        let _ = writeln!(md, "\n## Charts\n");
        for c in charts {
            if let Some(name) = c.file_name() {
                let name = name.to_string_lossy();
                let _ = writeln!(md, "![{name}]({name})");
            }
        }
    }
    md
}
