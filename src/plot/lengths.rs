//! Reasoning length: its mean, min and max over training steps (the paper's length
//! growth, from the sampled chains in `rollouts.jsonl`, or the logged mean when a run
//! kept no rollouts) and its distribution over an evaluation's `examples.jsonl`, binned
//! for the histograms of `r2ec plot`, of an evaluation report and of the TUI.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::PlotError;

/// Reasoning length at one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLength {
    pub step: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

fn read_lines(path: &Path) -> Result<Vec<(usize, Value)>, PlotError> {
    let text = std::fs::read(path).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let complete = text.ends_with(b"\n");
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let mut out = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(raw) {
            Ok(v) => out.push((i + 1, v)),
            // A cut last line is a write in progress.
            Err(_) if i + 1 == lines.len() && !complete => break,
            Err(e) => {
                return Err(PlotError::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("not JSON: {e}"),
                })
            }
        }
    }
    Ok(out)
}

/// Per-step length statistics from `rollouts.jsonl` (one line per user and step, each
/// with its `chains` and their `tokens`).
pub fn from_rollouts(path: &Path) -> Result<Vec<StepLength>, PlotError> {
    let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for (line, v) in read_lines(path)? {
        let bad = |message: &str| PlotError::Line {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        };
        let step = v["step"]
            .as_u64()
            .ok_or_else(|| bad("field `step`: missing or not a whole number"))?;
        let chains = v["chains"]
            .as_array()
            .ok_or_else(|| bad("field `chains`: missing or not a list"))?;
        for c in chains {
            let t = c["tokens"]
                .as_f64()
                .ok_or_else(|| bad("field `chains[].tokens`: missing or not a number"))?;
            by_step.entry(step).or_default().push(t);
        }
    }
    Ok(by_step
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(step, v)| StepLength {
            step: step as f64,
            mean: v.iter().sum::<f64>() / v.len() as f64,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
        .collect())
}

/// Lengths of a run: from its rollouts when it kept them, else the logged per-step mean
/// (min and max are then the mean).
pub fn of_run(
    dir: &Path,
    logged_mean: Option<&[(f64, f64)]>,
) -> Result<Vec<StepLength>, PlotError> {
    let rollouts = dir.join("rollouts.jsonl");
    if rollouts.is_file() {
        let l = from_rollouts(&rollouts)?;
        if !l.is_empty() {
            return Ok(l);
        }
    }
    Ok(logged_mean
        .unwrap_or(&[])
        .iter()
        .map(|&(step, mean)| StepLength {
            step,
            mean,
            min: mean,
            max: mean,
        })
        .collect())
}

/// `reasoning_tokens` of every example in an evaluation's `examples.jsonl` (examples
/// without reasoning, such as baselines', are left out).
pub fn from_examples(path: &Path) -> Result<Vec<usize>, PlotError> {
    Ok(read_lines(path)?
        .into_iter()
        .filter_map(|(_, v)| v["reasoning_tokens"].as_u64().map(|t| t as usize))
        .collect())
}

/// Up to `bins` equal-width bins over [min, max] of the lengths: (labels, counts).
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

    #[test]
    fn rollouts_give_mean_min_max_per_step() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rollouts.jsonl");
        std::fs::write(
            &p,
            concat!(
                r#"{"step":1,"user_id":"u","target":"t","chains":[{"tokens":10},{"tokens":20}]}"#,
                "\n",
                r#"{"step":1,"user_id":"v","target":"t","chains":[{"tokens":30}]}"#,
                "\n",
                r#"{"step":2,"user_id":"u","target":"t","chains":[{"tokens":40},{"tokens":48}]}"#,
                "\n",
                r#"{"step":3,"chains":[{"tok"#,
            ),
        )
        .unwrap();
        let l = from_rollouts(&p).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].mean, l[0].min, l[0].max), (20.0, 10.0, 30.0));
        assert_eq!(
            (l[1].step, l[1].mean, l[1].min, l[1].max),
            (2.0, 44.0, 40.0, 48.0)
        );
        std::fs::write(&p, "{\"step\":1,\"chains\":[{}]}\n").unwrap();
        let err = from_rollouts(&p).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("tokens"), "{err}");
    }

    #[test]
    fn without_rollouts_the_logged_mean_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let l = of_run(dir.path(), Some(&[(1.0, 12.0), (2.0, 14.0)])).unwrap();
        assert_eq!(
            l[1],
            StepLength {
                step: 2.0,
                mean: 14.0,
                min: 14.0,
                max: 14.0
            }
        );
    }
}
