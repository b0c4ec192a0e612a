//! Training curves and reasoning length, drawn from run folders and evaluation reports:
//! what `r2ec plot` writes as PNG or SVG files (series reading, smoothing, length
//! statistics, charts). `charts` is also the chart writer of evaluation reports; this
//! layer reads files and draws, and imports nothing of `eval` (eval builds on it).

pub mod charts;
pub mod lengths;
pub mod series;

use std::path::{Path, PathBuf};

pub use charts::Format;
pub use series::{ema, read_run, RunSeries, XAxis};

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Chart { path: PathBuf, message: String },
}

/// What to draw.
pub struct PlotRequest<'a> {
    pub runs: &'a [PathBuf],
    pub out: &'a Path,
    pub format: Format,
    /// EMA weight of the smoothed line (0 = none).
    pub smooth: f64,
    /// Evaluation `examples.jsonl` files whose length distributions are drawn.
    pub examples: &'a [PathBuf],
    /// What the training curves' x axis counts (the length-growth chart stays in steps).
    pub x: XAxis,
}

/// Write one chart per field found in any run (runs overlaid), the length growth and
/// the length histograms; returns the files written.
pub fn plot(req: &PlotRequest) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(req.out).map_err(|source| PlotError::Io {
        path: req.out.to_path_buf(),
        source,
    })?;
    let runs: Vec<RunSeries> = req
        .runs
        .iter()
        .map(|d| {
            let mut run = read_run(d)?;
            if req.x == XAxis::Users {
                run.to_users()?;
            }
            Ok(run)
        })
        .collect::<Result<_, PlotError>>()?;
    let mut fields: Vec<String> = runs.iter().flat_map(|r| r.fields()).collect();
    fields.dedup();
    let mut seen = std::collections::HashSet::new();
    fields.retain(|f| seen.insert(f.clone()));
    // Most popular's figures on the probe go on the chart of the model's same figure.
    fields.retain(|f| !f.starts_with(POPULAR_PREFIX));
    let mut written = Vec::new();
    let mut put = |file: String, chart: charts::Chart| -> Result<(), PlotError> {
        let path = req.out.join(format!("{file}.{}", req.format.ext()));
        charts::write(&path, req.format, &chart).map_err(|message| PlotError::Chart {
            path: path.clone(),
            message,
        })?;
        written.push(path);
        Ok(())
    };
    for field in &fields {
        let lines = chart_lines(&runs, field, req.smooth);
        let title = if req.smooth > 0.0 {
            format!("{field} (EMA {})", req.smooth)
        } else {
            field.clone()
        };
        put(
            format!("curve-{}", file_stem(field)),
            charts::Chart::Curves {
                title: &title,
                x: req.x.label(),
                y: field,
                lines: &lines,
            },
        )?;
    }
    let lengths: Vec<(String, Vec<lengths::StepLength>)> = runs
        .iter()
        .map(|r| {
            lengths::of_run(&r.dir, r.get("reasoning_len").map(Vec::as_slice))
                .map(|l| (r.name.clone(), l))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if !lengths.is_empty() {
        put(
            "reasoning-length".into(),
            charts::Chart::Lengths {
                title: "Reasoning length over training",
                runs: &lengths,
            },
        )?;
    }
    for (i, ex) in req.examples.iter().enumerate() {
        let l = lengths::from_examples(ex)?;
        if l.is_empty() {
            continue;
        }
        let (labels, values) = lengths::length_bins(&l, 12);
        let title = format!("Reasoning length, {} ({} chains)", ex.display(), l.len());
        put(
            format!("length-hist-{}", i + 1),
            charts::Chart::Bars {
                title: &title,
                labels: &labels,
                values: &values,
                y: "chains",
            },
        )?;
    }
    Ok(written)
}

/// Fields of most popular's figures on a run's valid probe (`probe_popular_mean_rank`
/// beside the model's `probe_mean_rank`).
const POPULAR_PREFIX: &str = "probe_popular_";

/// The lines of `field`'s chart: each run's, then, on a probe figure, most popular's on
/// the same examples (the line the model's has to cross), unsmoothed.
fn chart_lines(runs: &[RunSeries], field: &str, smooth: f64) -> Vec<charts::Line> {
    // Colours follow the run's place in `runs`, so a run keeps its colour on every chart
    // and its most popular line shares it.
    let mut lines: Vec<charts::Line> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.get(field).map(|raw| charts::Line {
                name: r.name.clone(),
                raw: raw.clone(),
                smooth: ema(raw, smooth),
                colour: i,
                dashed: false,
            })
        })
        .collect();
    if let Some(figure) = field.strip_prefix("probe_") {
        let reference = format!("{POPULAR_PREFIX}{figure}");
        lines.extend(runs.iter().enumerate().filter_map(|(i, r)| {
            r.get(&reference).map(|raw| charts::Line {
                name: format!("{}: most popular", r.name),
                raw: raw.clone(),
                smooth: raw.clone(),
                colour: i,
                dashed: true,
            })
        }));
    }
    lines
}

/// A field name as a file name: "valid ndcg@10" -> "valid-ndcg10".
fn file_stem(field: &str) -> String {
    field
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' => Some(c),
            ' ' | '-' => Some('-'),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
