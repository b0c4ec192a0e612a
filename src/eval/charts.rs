//! PNG charts of a report with plotters' bitmap backend: where the target lands (rank
//! buckets), Hit@K / NDCG@K, and the distribution of reasoning length. Drawn to a
//! temporary file and renamed, so a reader never sees half an image. Where no system
//! font can be found, the bars are drawn without text rather than not at all.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde_json::Value;

use super::bootstrap::metric_keys;
use super::report::{rank_histogram, reasoning_lengths};
use super::run::ExampleResult;

const SIZE: (u32, u32) = (800, 480);

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
        let drawn = draw_atomic(&path, &title, &labels, &values, y, true).or_else(|e| {
            warn(format!(
                "{}: drawing with text failed ({e}); drawing bars only",
                path.display()
            ));
            draw_atomic(&path, &title, &labels, &values, y, false)
        });
        match drawn {
            Ok(()) => written.push(path),
            Err(e) => warn(format!("{}: chart not written: {e}", path.display())),
        }
    }
    written
}

/// Up to `bins` equal-width bins over [min, max] of the lengths.
pub fn length_bins(lengths: &[usize], bins: usize) -> (Vec<String>, Vec<f64>) {
    let lo = lengths.iter().copied().min().unwrap_or(0);
    let hi = lengths.iter().copied().max().unwrap_or(0);
    let width = ((hi - lo) / bins.max(1) + 1).max(1);
    let n = (hi - lo) / width + 1;
    let mut counts = vec![0.0; n];
    for &l in lengths {
        counts[(l - lo) / width] += 1.0;
    }
    let labels = (0..n)
        .map(|i| {
            let a = lo + i * width;
            if width == 1 {
                a.to_string()
            } else {
                format!("{a}-{}", a + width - 1)
            }
        })
        .collect();
    (labels, counts)
}

fn draw_atomic(
    path: &Path,
    title: &str,
    labels: &[String],
    values: &[f64],
    y_desc: &str,
    with_text: bool,
) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The extension must stay `.png`: plotters picks the encoder from it.
    let tmp = path.with_file_name(format!(".tmp-{}-{name}", std::process::id()));
    let result = draw_bars(&tmp, title, labels, values, y_desc, with_text)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn draw_bars(
    path: &Path,
    title: &str,
    labels: &[String],
    values: &[f64],
    y_desc: &str,
    with_text: bool,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let top = values.iter().copied().fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.1 } else { 1.0 };
    let n = labels.len().max(1);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(12);
    if with_text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(40)
            .y_label_area_size(60);
    }
    let mut chart = builder
        .build_cartesian_2d((0..n).into_segmented(), 0f64..y_max)
        .map_err(|e| err(&e))?;
    if with_text {
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_desc(y_desc)
            .draw()
            .map_err(|e| err(&e))?;
    }
    chart
        .draw_series(values.iter().enumerate().map(|(i, &v)| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), v),
                ],
                BLUE.mix(0.7).filled(),
            );
            bar.set_margin(0, 0, 6, 6);
            bar
        }))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_length() {
        let (labels, counts) = length_bins(&[3, 3, 4, 25], 10);
        assert_eq!(counts.iter().sum::<f64>(), 4.0);
        assert_eq!(labels[0], "3-5");
        assert_eq!(counts[0], 3.0);
        let (labels, counts) = length_bins(&[7, 7], 10);
        assert_eq!((labels, counts), (vec!["7".to_string()], vec![2.0]));
    }
}
