//! Training curves read from a run folder's `metrics.jsonl`: one named series per
//! numeric field of the step lines (reward, ndcg, softmax, advantage, losses, clip_frac,
//! lr, ...) and per split and metric of the evaluation lines ("valid ndcg@10"). A run
//! still being written may end in a cut line; it is left for the next read. Any other
//! bad line is an error naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::PlotError;

/// A series: (step, value) points in file order.
pub type Points = Vec<(f64, f64)>;

/// Every curve of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSeries {
    /// Shown in legends: the run folder's name (or its parent's, for a checkpoint's `run/`).
    pub name: String,
    pub dir: PathBuf,
    pub series: BTreeMap<String, Points>,
}

impl RunSeries {
    pub fn get(&self, field: &str) -> Option<&Points> {
        self.series.get(field)
    }

    /// Field names, step fields first (as logged), then evaluation fields.
    pub fn fields(&self) -> Vec<String> {
        let mut f: Vec<String> = self.series.keys().cloned().collect();
        f.sort_by_key(|k| (k.contains(' '), k.clone()));
        f
    }
}

/// What a chart's x axis counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum XAxis {
    /// Optimizer steps, as logged.
    #[default]
    Step,
    /// Training users (examples) seen since the run started, from its `config.json`: the
    /// budget two lines with different users per step are compared on.
    Users,
}

impl XAxis {
    pub fn label(self) -> &'static str {
        match self {
            XAxis::Step => "step",
            XAxis::Users => "users seen",
        }
    }
}

impl RunSeries {
    /// Move every point from steps to training users seen: `step * users_per_step`, with
    /// the first `align_steps` steps at `align_users_per_step` each (the alignment stage),
    /// after the `init_users` of the checkpoint the run started from; read from
    /// `<dir>/config.json` (`RecPoConfig::users_seen`, read leniently).
    pub fn to_users(&mut self) -> Result<(), PlotError> {
        let path = self.dir.join("config.json");
        let text = std::fs::read(&path).map_err(|source| PlotError::Io {
            path: path.clone(),
            source,
        })?;
        let bad = |message: String| PlotError::Line {
            path: path.clone(),
            line: 1,
            message,
        };
        let cfg: Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let count = |key: &str, required: bool| -> Result<f64, PlotError> {
            match cfg.get(key).and_then(Value::as_f64) {
                Some(x) if x >= 0.0 => Ok(x),
                None if !required => Ok(0.0),
                _ => Err(bad(format!("field `{key}`: missing or not a count"))),
            }
        };
        let per_step = count("users_per_step", true)?;
        let (align, align_users) = (
            count("align_steps", false)?,
            count("align_users_per_step", false)?,
        );
        // A run started from another's checkpoint counts that checkpoint's users first.
        let start = count("init_users", false)?;
        let users = |step: f64| {
            let aligned = step.min(align);
            start + aligned * align_users + (step - aligned).max(0.0) * per_step
        };
        for points in self.series.values_mut() {
            for p in points.iter_mut() {
                p.0 = users(p.0);
            }
        }
        Ok(())
    }
}

/// Step-line fields that are bookkeeping rather than curves worth a chart.
const NOT_CURVES: [&str; 1] = ["step"];

/// Read `<dir>/metrics.jsonl` (or `dir` itself when it is a file).
pub fn read_run(dir: &Path) -> Result<RunSeries, PlotError> {
    let (dir, path) = if dir.is_file() {
        let parent = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        (parent, dir.to_path_buf())
    } else {
        (dir.to_path_buf(), dir.join("metrics.jsonl"))
    };
    let text = std::fs::read(&path).map_err(|source| PlotError::Io {
        path: path.clone(),
        source,
    })?;
    let mut run = RunSeries {
        name: run_name(&dir),
        dir,
        series: BTreeMap::new(),
    };
    add_lines(&mut run.series, &text, &path)?;
    Ok(run)
}

/// Parse whole lines of `text` into `series`. A last line without its newline that does
/// not parse is a write in progress and is skipped.
pub fn add_lines(
    series: &mut BTreeMap<String, Points>,
    text: &[u8],
    path: &Path,
) -> Result<(), PlotError> {
    let complete = text.ends_with(b"\n");
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    for (i, raw) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |message: String| PlotError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let value: Value = match serde_json::from_slice(raw) {
            Ok(v) => v,
            Err(_) if last && !complete => break,
            Err(e) => return Err(bad(format!("not a JSON object: {e}"))),
        };
        let obj = value
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let step = obj
            .get("step")
            .and_then(Value::as_f64)
            .ok_or_else(|| bad("field `step`: missing or not a number".into()))?;
        if let Some(eval) = obj.get("eval") {
            add_eval(series, step, eval, "");
            if let Some(len) = obj.get("reasoning_len") {
                add_eval(series, step, len, "reasoning_len");
            }
        } else {
            for (k, v) in obj {
                if let (false, Some(x)) = (NOT_CURVES.contains(&k.as_str()), v.as_f64()) {
                    series.entry(k.clone()).or_default().push((step, x));
                }
            }
        }
    }
    Ok(())
}

/// `{"valid": {"ndcg@10": x}}` becomes "valid ndcg@10"; `{"valid": x}` with a suffix
/// becomes "valid reasoning_len".
fn add_eval(series: &mut BTreeMap<String, Points>, step: f64, v: &Value, suffix: &str) {
    let Some(splits) = v.as_object() else { return };
    for (split, metrics) in splits {
        match metrics {
            Value::Object(m) => {
                for (k, x) in m {
                    if let Some(x) = x.as_f64() {
                        series
                            .entry(format!("{split} {k}"))
                            .or_default()
                            .push((step, x));
                    }
                }
            }
            other => {
                if let (Some(x), false) = (other.as_f64(), suffix.is_empty()) {
                    series
                        .entry(format!("{split} {suffix}"))
                        .or_default()
                        .push((step, x));
                }
            }
        }
    }
}

/// A checkpoint ships its run as `<checkpoint>/run/`: name it after the checkpoint.
fn run_name(dir: &Path) -> String {
    let base = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    match (base(&abs).as_str(), abs.parent()) {
        ("run", Some(parent)) => base(parent),
        (name, _) => name.to_string(),
    }
}

/// Exponential moving average as TensorBoard draws it: s_t = a s_{t-1} + (1 - a) x_t,
/// debiased by 1 - a^t so the first points are not pulled towards zero. `a` = 0 leaves
/// the series as it is.
pub fn ema(points: &[(f64, f64)], a: f64) -> Points {
    let a = a.clamp(0.0, 0.999);
    let mut s = 0.0;
    let mut w = 0.0;
    points
        .iter()
        .map(|&(x, y)| {
            s = a * s + (1.0 - a) * y;
            w = a * w + (1.0 - a);
            (x, s / w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = concat!(
        r#"{"step":1,"reward":0.5,"loss":-1.0,"lr":0.0}"#,
        "\n",
        r#"{"step":2,"reward":0.7,"loss":-0.5,"lr":0.001}"#,
        "\n",
        r#"{"step":2,"eval":{"valid":{"ndcg@10":0.1,"hit@10":0.2}},"reasoning_len":{"valid":40.5},"eval_secs":3.0}"#,
        "\n",
    );

    fn parse(text: &str) -> Result<BTreeMap<String, Points>, PlotError> {
        let mut s = BTreeMap::new();
        add_lines(&mut s, text.as_bytes(), Path::new("m.jsonl"))?;
        Ok(s)
    }

    #[test]
    fn step_and_eval_lines_become_named_series() {
        let s = parse(LINES).unwrap();
        assert_eq!(s["reward"], vec![(1.0, 0.5), (2.0, 0.7)]);
        assert_eq!(s["lr"], vec![(1.0, 0.0), (2.0, 0.001)]);
        assert_eq!(s["valid ndcg@10"], vec![(2.0, 0.1)]);
        assert_eq!(s["valid hit@10"], vec![(2.0, 0.2)]);
        assert_eq!(s["valid reasoning_len"], vec![(2.0, 40.5)]);
        assert!(!s.contains_key("step"));
        assert!(
            !s.contains_key("eval_secs"),
            "eval bookkeeping is not a curve"
        );
    }

    #[test]
    fn a_cut_last_line_is_skipped_and_a_bad_middle_line_is_an_error() {
        let torn = format!("{LINES}{{\"step\":3,\"rew");
        let s = parse(&torn).unwrap();
        assert_eq!(s["reward"].len(), 2);
        let bad = format!("{{\"step\":1}}\nnot json\n{LINES}");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("m.jsonl") && err.contains("line 2"), "{err}");
        let no_step = parse("{\"reward\":1}\n").unwrap_err().to_string();
        assert!(
            no_step.contains("line 1") && no_step.contains("step"),
            "{no_step}"
        );
    }

    #[test]
    fn ema_matches_hand_computation() {
        let pts = [(1.0, 1.0), (2.0, 0.0), (3.0, 1.0)];
        let s = ema(&pts, 0.5);
        // s1 = 0.5 / 0.5 = 1; s2 = 0.25 / 0.75 = 1/3; s3 = (0.125 + 0.5) / 0.875 = 5/7.
        assert!((s[0].1 - 1.0).abs() < 1e-12);
        assert!((s[1].1 - 1.0 / 3.0).abs() < 1e-12);
        assert!((s[2].1 - 5.0 / 7.0).abs() < 1e-12);
        assert_eq!(ema(&pts, 0.0), pts.to_vec());
    }

    #[test]
    fn a_checkpoint_run_is_named_after_the_checkpoint() {
        assert_eq!(
            run_name(Path::new("/x/assets/checkpoints/r2ec-a/run")),
            "r2ec-a"
        );
        assert_eq!(run_name(Path::new("/x/runs/r2ec-ml100k")), "r2ec-ml100k");
    }
}
