//! `r2ec tui` (and plain `r2ec`): open the inspector on the shipped checkpoint for the
//! data set when there is one, else on the base model; the default data set is ml-100k.
//! The reasoning budget starts at the one the loaded checkpoint was evaluated with (its
//! run's `config.json`) unless `--max-new-tokens` is given.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::model_opts::ModelOpts;
use r2ec::paths::Paths;
use r2ec::rec::ItemCache;
use r2ec::tui::app::Header;
use r2ec::tui::effect::SamplingSettings;
use r2ec::tui::keys::KeyMap;
use r2ec::tui::worker::WorkerConfig;
use r2ec::tui::Launch;

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Prepared data set under datasets/ (prepared first when missing).
    #[arg(long, default_value = "ml-100k")]
    pub data: String,
    #[command(flatten)]
    pub model: ModelOpts,
    /// A TOML keymap (`[keys]` with `action = ["key", ...]`; `?` in the TUI lists actions).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Write the latency from each key press to the frame showing it (ms per line).
    #[arg(long)]
    pub latency_log: Option<PathBuf>,
    /// Open on the base model even when a shipped checkpoint exists.
    #[arg(long)]
    pub base: bool,
    /// Run folders for the Training and Lengths screens (default: the shipped
    /// checkpoints' `run/` folders and every folder of `runs/` with a metrics.jsonl).
    #[arg(long, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Your name on the Annotate screen: tags are saved under
    /// `sessions/annotations/<set>/<name>.jsonl` (default: $USER).
    #[arg(long)]
    pub annotator: Option<String>,
}

impl TuiArgs {
    /// The defaults plain `r2ec` uses.
    pub fn defaults() -> Self {
        use clap::FromArgMatches;
        let cmd = <Self as Args>::augment_args(clap::Command::new("tui"));
        // Invariant: every argument has a default, so empty arguments always parse.
        Self::from_arg_matches(&cmd.get_matches_from(["tui"])).expect("tui defaults parse")
    }

    pub fn run(self, paths: &Paths) -> anyhow::Result<()> {
        let dir = paths.prepared(&self.data);
        if !dir.join(r2ec::data::prepared::STATS_FILE).is_file() {
            // Preparing prints progress, so it happens before the screen is taken over.
            super::data::open_prepared(paths, &self.data)?;
        }
        let annotator = self
            .annotator
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "annotator".into());
        r2ec::annotate::check_name("annotator", &annotator)?;
        let keys = match &self.keys {
            Some(p) => KeyMap::load(p)?,
            None => KeyMap::default(),
        };
        // The shipped checkpoint is trained on the default model, so it is applied only
        // when no other model or adapter is asked for.
        let adapter_dir = match (&self.model.adapter, &self.model.model, self.base) {
            (Some(a), _, _) => Some(a.clone()),
            (None, None, false) => {
                find_checkpoint(&paths.root.join("assets").join("checkpoints"), &self.data)
            }
            _ => None,
        };
        let adapter = match &adapter_dir {
            Some(c) => c
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            None => "none (base model)".into(),
        };
        // A budget given on the command line wins; else the checkpoint's own.
        let max_new_tokens = match (&adapter_dir, flag_given("--max-new-tokens")) {
            (Some(dir), false) => checkpoint_budget(dir).unwrap_or(self.model.max_new_tokens),
            _ => self.model.max_new_tokens,
        };
        let model_path = self.model.model_path(paths);
        let header = Header {
            device: format!("{:?}", self.model.device).to_lowercase(),
            model: model_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            adapter,
            data: self.data.clone(),
        };
        let launch = Launch {
            worker: WorkerConfig {
                model_path,
                adapter: adapter_dir,
                device: self.model.device,
                load_options: self.model.load_options(),
                data_dir: dir,
                data_name: self.data.clone(),
            },
            header,
            keys,
            sampling: SamplingSettings {
                temperature: self.model.temperature.max(0.0),
                top_k: self.model.top_k,
                max_new_tokens,
                seed: self.model.seed,
                repetition_penalty: self.model.repetition_penalty,
                no_repeat_ngram: self.model.no_repeat_ngram,
                ..SamplingSettings::default()
            },
            sessions: paths.sessions(),
            runs: if self.runs.is_empty() {
                find_runs(&paths.root)
            } else {
                self.runs.clone()
            },
            annotator,
            runs_root: paths.root.join("runs"),
            reports: find_reports(&paths.root),
            latency_log: self.latency_log.clone(),
        };
        let report = r2ec::tui::run(launch).context("running the TUI")?;
        // The screen is restored by now, so these reach the user's shell.
        if let Some(m) = &report.thread_panic {
            eprintln!("the model thread panicked during the session: {m}");
        }
        if let Some(sig) = report.signal {
            eprintln!("r2ec: stopped by signal {sig}; terminal restored");
            std::process::exit(128 + sig);
        }
        let g = report.generating;
        if g.count > 0 {
            eprintln!(
                "key-to-frame latency while generating: {} keys, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
                g.count, g.p50, g.p95, g.max
            );
        }
        Ok(())
    }
}

/// The shipped checkpoint for `data`: among the folders of `assets/checkpoints/` that hold
/// a PEFT adapter, one whose shipped item table was built for `data`, an R²ec adapter
/// before a "w/o reasoning" one, then by name. A checkpoint for another data set is still
/// better than the base model, so it is the last resort.
pub fn find_checkpoint(dir: &Path, data: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("adapter_config.json").is_file())
        .min_by_key(|p| {
            let other_data = !ItemCache::shipped_with(p)
                .datasets()
                .iter()
                .any(|d| d == data);
            (other_data, no_reasoning(p), p.clone())
        })
}

/// Whether a checkpoint's training run was the "w/o reasoning" ablation.
fn no_reasoning(checkpoint: &Path) -> bool {
    std::fs::read_to_string(
        checkpoint
            .join("run")
            .join(r2ec::train::trainer::CONFIG_FILE),
    )
    .ok()
    .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
    .and_then(|v| v.get("no_reasoning")?.as_bool())
    .unwrap_or(false)
}

/// Whether `flag` is on the command line (as `--flag V` or `--flag=V`): clap's default
/// and a value typed by the user look the same once parsed.
fn flag_given(flag: &str) -> bool {
    std::env::args_os().any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    })
}

/// The run config of a checkpoint: `<checkpoint>/run/config.json` for a shipped one;
/// for a checkpoint inside a training run (`<run>/best/`, `<run>/checkpoints/step-N/`),
/// the run's own `config.json` above it.
fn run_config(checkpoint: &Path) -> Option<serde_json::Value> {
    let file = r2ec::train::trainer::CONFIG_FILE;
    let candidates = [
        Some(checkpoint.join("run").join(file)),
        checkpoint.parent().map(|p| p.join(file)),
        checkpoint
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join(file)),
    ];
    candidates.into_iter().flatten().find_map(|p| {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
        // Only a RecPO run config names the budget; another config.json is not one.
        v.get("max_new_tokens")?;
        Some(v)
    })
}

/// The reasoning budget a checkpoint was evaluated with (`eval_max_new_tokens`), else
/// the one it was trained with.
pub fn checkpoint_budget(checkpoint: &Path) -> Option<usize> {
    let v = run_config(checkpoint)?;
    ["eval_max_new_tokens", "max_new_tokens"]
        .iter()
        .find_map(|k| v.get(*k)?.as_u64())
        .filter(|&n| n > 0)
        .map(|n| n as usize)
}

/// Evaluation reports shipped with the checkpoints: each `assets/checkpoints/*/eval/`
/// that holds an `examples.jsonl`.
pub fn find_reports(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("assets").join("checkpoints"))
        .map(|rd| rd.flatten().map(|e| e.path().join("eval")).collect())
        .unwrap_or_default();
    found.retain(|p| p.join("examples.jsonl").is_file());
    found.sort();
    found
}

/// Run folders to show by default: each shipped checkpoint's `run/`, then `runs/*`.
pub fn find_runs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (dir, sub) in [
        (root.join("assets").join("checkpoints"), "run"),
        (root.join("runs"), ""),
    ] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().map(|e| e.path().join(sub)).collect())
            .unwrap_or_default();
        found.retain(|p| p.join("metrics.jsonl").is_file());
        found.sort();
        out.extend(found);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use r2ec::rec::{CacheKey, ItemTable};

    /// A checkpoint folder with an adapter config, an item table for `data` (if any) and
    /// a run config saying whether it reasons.
    fn checkpoint(root: &Path, name: &str, data: Option<&str>, no_reasoning: bool) {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::write(dir.join("adapter_config.json"), "{}").unwrap();
        std::fs::write(
            dir.join("run").join("config.json"),
            format!("{{\"no_reasoning\": {no_reasoning}}}"),
        )
        .unwrap();
        if let Some(data) = data {
            let key = CacheKey {
                model: "m.gguf:1:ab".into(),
                adapter: Some(name.into()),
                dataset: format!("{data}:cd"),
                prompt_version: 1,
                template: "t".into(),
            };
            let table = ItemTable::from_rows(vec!["1".into()], 2, vec![1.0, 0.0]).unwrap();
            ItemCache::shipped_with(&dir).save(&key, &table).unwrap();
        }
    }

    #[test]
    fn the_checkpoint_for_the_asked_data_set_is_opened() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert_eq!(find_checkpoint(r, "ml-100k"), None);
        checkpoint(r, "r2ec-ml100k", Some("ml-100k"), false);
        checkpoint(r, "r2ec-ml1m", Some("ml-1m"), false);
        checkpoint(r, "a-wo-reasoning-ml1m", Some("ml-1m"), true);
        checkpoint(r, "b-wo-reasoning-ml100k", Some("ml-100k"), true);
        std::fs::create_dir_all(r.join("0-not-a-checkpoint")).unwrap();
        assert_eq!(find_checkpoint(r, "ml-100k"), Some(r.join("r2ec-ml100k")));
        assert_eq!(find_checkpoint(r, "ml-1m"), Some(r.join("r2ec-ml1m")));
        // No table for the data set: still an R²ec adapter rather than the base model.
        assert_eq!(find_checkpoint(r, "beauty"), Some(r.join("r2ec-ml100k")));
    }

    #[test]
    fn the_budget_comes_from_the_checkpoints_run_config() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        // A shipped checkpoint: <checkpoint>/run/config.json, evaluated at 48 tokens.
        let shipped = r.join("shipped");
        std::fs::create_dir_all(shipped.join("run")).unwrap();
        std::fs::write(
            shipped.join("run").join("config.json"),
            r#"{"max_new_tokens": 64, "eval_max_new_tokens": 48}"#,
        )
        .unwrap();
        assert_eq!(checkpoint_budget(&shipped), Some(48));
        // A checkpoint inside a training run: the run's config.json two folders up.
        let step = r.join("run-a").join("checkpoints").join("step-10");
        std::fs::create_dir_all(&step).unwrap();
        std::fs::write(
            r.join("run-a").join("config.json"),
            r#"{"max_new_tokens": 96}"#,
        )
        .unwrap();
        assert_eq!(checkpoint_budget(&step), Some(96));
        // No run config: the command line's default stays.
        let bare = r.join("bare");
        std::fs::create_dir_all(&bare).unwrap();
        assert_eq!(checkpoint_budget(&bare), None);
        // The shipped checkpoints' reports are found where they ship.
        std::fs::create_dir_all(r.join("assets/checkpoints/c1/eval")).unwrap();
        std::fs::write(r.join("assets/checkpoints/c1/eval/examples.jsonl"), "").unwrap();
        std::fs::create_dir_all(r.join("assets/checkpoints/c2")).unwrap();
        assert_eq!(find_reports(r), vec![r.join("assets/checkpoints/c1/eval")]);
    }
}
