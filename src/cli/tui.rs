//! `r2ec tui` (and plain `r2ec`): open the inspector on the shipped checkpoint for the
//! data set when there is one, else on the base model; the default data set is ml-100k.
//! The reasoning budget starts at the one the loaded checkpoint was evaluated with (its
//! run's `config.json`) unless `--max-new-tokens` is given.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::checkpoint::Opened;
use super::model_opts::ModelOpts;
use r2ec::paths::Paths;
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
        let Opened {
            adapter: adapter_dir,
            max_new_tokens,
        } = Opened::resolve(&self.model, self.base, paths, &self.data);
        let adapter = match &adapter_dir {
            Some(c) => c
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            None => "none (base model)".into(),
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

    #[test]
    fn the_shipped_reports_are_found_where_they_ship() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        // The shipped checkpoints' reports are found where they ship.
        std::fs::create_dir_all(r.join("assets/checkpoints/c1/eval")).unwrap();
        std::fs::write(r.join("assets/checkpoints/c1/eval/examples.jsonl"), "").unwrap();
        std::fs::create_dir_all(r.join("assets/checkpoints/c2")).unwrap();
        assert_eq!(find_reports(r), vec![r.join("assets/checkpoints/c1/eval")]);
    }
}
