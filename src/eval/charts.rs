//! The PNG charts of a report folder: where the target lands (rank buckets), Hit@K /
//! NDCG@K, and the distribution of reasoning length. This module only chooses what to
//! draw; `plot::charts` draws and writes each file (atomically, in its report style, and
//! without text where no system font is found, which is reported through `warn`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::bootstrap::metric_keys;
use super::distributions::{rank_histogram, reasoning_lengths};
use super::run::ExampleResult;
use crate::plot::charts::{write_with, Chart, Format, Style};
// Kept here for callers that bin lengths next to a report (the TUI's histogram).
use crate::plot::lengths::length_bins;

/// One bar chart: file name, title, bar labels, bar heights, y-axis label.
struct BarChart {
    file: &'static str,
    title: String,
    labels: Vec<String>,
    values: Vec<f64>,
    y_desc: &'static str,
}

/// Draw every chart that applies; returns the files written. Failures go to `warn`.
pub fn write_charts(
    dir: &Path,
    summary: &Value,
    results: &[ExampleResult],
    warn: &mut dyn FnMut(String),
) -> Vec<PathBuf> {
    let hist = rank_histogram(results);
    let keys = metric_keys();
    let mut charts = vec![
        BarChart {
            file: "ranks.png",
            title: "Rank of the target".into(),
            labels: hist.iter().map(|(l, _)| l.clone()).collect(),
            values: hist.iter().map(|(_, c)| *c as f64).collect(),
            y_desc: "examples",
        },
        BarChart {
            file: "metrics.png",
            title: format!("Hit@K and NDCG@K (n = {})", summary["n"]),
            values: keys
                .iter()
                .map(|k| summary[k].as_f64().unwrap_or(0.0))
                .collect(),
            labels: keys,
            y_desc: "value",
        },
    ];
    let lengths = reasoning_lengths(results);
    if !lengths.is_empty() {
        let (labels, values) = length_bins(&lengths, 10);
        charts.push(BarChart {
            file: "reasoning_len.png",
            title: "Reasoning length (tokens)".into(),
            labels,
            values,
            y_desc: "examples",
        });
    }
    let mut written = Vec::new();
    for BarChart {
        file,
        title,
        labels,
        values,
        y_desc: y,
    } in charts
    {
        let path = dir.join(file);
        let chart = Chart::Bars {
            title: &title,
            labels: &labels,
            values: &values,
            y,
        };
        let drawn = write_with(&path, Format::Png, &Style::REPORT, &chart, &mut |e| {
            warn(format!(
                "{}: drawing with text failed ({e}); drawing bars only",
                path.display()
            ))
        });
        match drawn {
            Ok(()) => written.push(path),
            Err(e) => warn(format!("{}: chart not written: {e}", path.display())),
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Reasoning;

    fn result(rank: Option<usize>, tokens: usize) -> ExampleResult {
        ExampleResult {
            index: 0,
            user_id: "u".into(),
            target_id: "t".into(),
            history_len: 1,
            rank,
            top: vec![],
            reasoning: Some(Reasoning {
                text: String::new(),
                tokens,
                stop: None,
                repeat4: 0.0,
            }),
        }
    }

    /// Width and height from a PNG's IHDR chunk.
    fn png_size(path: &Path) -> (u32, u32) {
        let b = std::fs::read(path).unwrap();
        assert_eq!(
            &b[..8],
            b"\x89PNG\r\n\x1a\n",
            "{} is not a PNG",
            path.display()
        );
        let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        (be(16), be(20))
    }

    #[test]
    fn report_charts_are_written_in_the_report_style() {
        let dir = tempfile::tempdir().unwrap();
        let results = [result(Some(1), 12), result(Some(40), 30), result(None, 7)];
        let summary = serde_json::json!({"n": 3, "hit@10": 0.5});
        let mut warnings = Vec::new();
        let files = write_charts(dir.path(), &summary, &results, &mut |w| warnings.push(w));
        let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap()).collect();
        assert_eq!(names, ["ranks.png", "metrics.png", "reasoning_len.png"]);
        for f in &files {
            assert_eq!(png_size(f), Style::REPORT.size);
        }
        // Only the charts: no temporary file is left beside them.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        // The only warning allowed is a missing font (the bars are drawn anyway).
        assert!(
            warnings.iter().all(|w| w.contains("drawing bars only")),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_chart_that_cannot_be_written_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder");
        let mut warnings = Vec::new();
        let files = write_charts(
            &missing,
            &serde_json::json!({"n": 1}),
            &[result(Some(1), 5)],
            &mut |w| warnings.push(w),
        );
        assert!(files.is_empty());
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("ranks.png: chart not written")),
            "{warnings:?}"
        );
        assert!(!missing.exists());
    }
}
