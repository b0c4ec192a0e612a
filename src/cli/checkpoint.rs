//! Which checkpoint a model command opens when none is named: the shipped one for the
//! data set (`assets/checkpoints/`), with the reasoning budget it was evaluated with, so
//! that `r2ec` and `r2ec recommend` show the trained R²ec rather than the base model.
//! `--adapter`, `--model` or `--base` opt out; `--max-new-tokens` wins over the budget.

use std::path::{Path, PathBuf};

use super::model_opts::ModelOpts;
use r2ec::paths::Paths;
use r2ec::rec::ItemCache;
use r2ec::train::config::RecPoConfig;
use r2ec::train::fork::read_config;
use r2ec::train::trainer::CONFIG_FILE;

/// The adapter a command runs with and its reasoning budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub adapter: Option<PathBuf>,
    pub max_new_tokens: usize,
}

impl Opened {
    /// `--adapter` when given; else, unless `--model` or `--base` asks for another model,
    /// the shipped checkpoint for `data` (it is trained on the default model, so it does
    /// not apply to another). The budget is `--max-new-tokens` when typed, else the
    /// checkpoint's own, else the default.
    pub fn resolve(model: &ModelOpts, base: bool, paths: &Paths, data: &str) -> Self {
        Self::resolve_with(model, base, paths, data, flag_given("--max-new-tokens"))
    }

    fn resolve_with(
        model: &ModelOpts,
        base: bool,
        paths: &Paths,
        data: &str,
        budget_typed: bool,
    ) -> Self {
        let adapter = Self::adapter(model, base, paths, data);
        let max_new_tokens = match (&adapter, budget_typed) {
            (Some(dir), false) => checkpoint_budget(dir).unwrap_or(model.max_new_tokens),
            _ => model.max_new_tokens,
        };
        Self {
            adapter,
            max_new_tokens,
        }
    }

    /// The adapter alone (see `resolve`), for a command that sets its own budget.
    pub fn adapter(model: &ModelOpts, base: bool, paths: &Paths, data: &str) -> Option<PathBuf> {
        match (&model.adapter, &model.model, base) {
            (Some(a), _, _) => Some(a.clone()),
            (None, None, false) => {
                find_checkpoint(&paths.root.join("assets").join("checkpoints"), data)
            }
            _ => None,
        }
    }
}

/// The shipped checkpoint for `data`: among the folders of `assets/checkpoints/` that hold
/// a PEFT adapter, one whose shipped item table was built for `data`, an R²ec adapter
/// before a "w/o reasoning" one, then by name. A checkpoint for another data set is still
/// better than the base model, so it is the last resort.
fn find_checkpoint(dir: &Path, data: &str) -> Option<PathBuf> {
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
    run_config(checkpoint).is_some_and(|c| c.no_reasoning)
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
/// the run's own `config.json` above it. Another kind of `config.json` (a model's) does
/// not parse as a run config and is passed over.
fn run_config(checkpoint: &Path) -> Option<RecPoConfig> {
    let candidates = [
        Some(checkpoint.join("run")),
        checkpoint.parent().map(Path::to_path_buf),
        checkpoint
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter(|dir| dir.join(CONFIG_FILE).is_file())
        .find_map(|dir| read_config(&dir).ok())
}

/// The reasoning budget a checkpoint was evaluated with (`eval_max_new_tokens`), else
/// the one it was trained with.
fn checkpoint_budget(checkpoint: &Path) -> Option<usize> {
    let c = run_config(checkpoint)?;
    [c.eval_max_new_tokens, c.max_new_tokens]
        .into_iter()
        .find(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, FromArgMatches};
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
        // A checkpoint inside a training run: the run's config.json two folders up; with
        // no evaluation budget, the training one.
        let step = r.join("run-a").join("checkpoints").join("step-10");
        std::fs::create_dir_all(&step).unwrap();
        std::fs::write(
            r.join("run-a").join("config.json"),
            r#"{"max_new_tokens": 96, "eval_max_new_tokens": 0}"#,
        )
        .unwrap();
        assert_eq!(checkpoint_budget(&step), Some(96));
        // No run config: the command line's default stays; a model's config.json above
        // the folder is not a run config.
        let bare = r.join("model").join("bare");
        std::fs::create_dir_all(&bare).unwrap();
        std::fs::write(
            r.join("model").join("config.json"),
            r#"{"hidden_size": 576}"#,
        )
        .unwrap();
        assert_eq!(checkpoint_budget(&bare), None);
    }

    #[test]
    fn the_shipped_run_configs_read_as_run_configs() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/checkpoints");
        let r2ec = shipped.join("r2ec-smollm2-135m-ml100k-cpu");
        assert_eq!(checkpoint_budget(&r2ec), Some(64));
        assert!(!no_reasoning(&r2ec));
        assert!(no_reasoning(
            &shipped.join("wo-reasoning-smollm2-135m-ml100k-cpu")
        ));
        assert_eq!(find_checkpoint(&shipped, "ml-100k"), Some(r2ec));
    }

    fn opts(args: &[&str]) -> ModelOpts {
        let cmd = <ModelOpts as Args>::augment_args(clap::Command::new("t"));
        let mut all = vec!["t"];
        all.extend_from_slice(args);
        ModelOpts::from_arg_matches(&cmd.get_matches_from(all)).unwrap()
    }

    #[test]
    fn a_command_opens_the_shipped_checkpoint_unless_told_otherwise() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::at(root.path());
        let dir = root.path().join("assets").join("checkpoints");
        checkpoint(&dir, "r2ec-ml100k", Some("ml-100k"), false);
        std::fs::write(
            dir.join("r2ec-ml100k").join("run").join("config.json"),
            r#"{"no_reasoning": false, "max_new_tokens": 64, "eval_max_new_tokens": 64}"#,
        )
        .unwrap();
        let shipped = Opened {
            adapter: Some(dir.join("r2ec-ml100k")),
            max_new_tokens: 64,
        };
        let r = |a: &[&str], base: bool, typed: bool| {
            Opened::resolve_with(&opts(a), base, &paths, "ml-100k", typed)
        };
        assert_eq!(r(&[], false, false), shipped);
        // A typed budget wins over the checkpoint's.
        let typed = r(&["--max-new-tokens", "12"], false, true);
        assert_eq!(
            (typed.adapter, typed.max_new_tokens),
            (shipped.adapter.clone(), 12)
        );
        // --base, or another model, runs without the adapter at the default budget.
        let default = opts(&[]).max_new_tokens;
        let none = Opened {
            adapter: None,
            max_new_tokens: default,
        };
        assert_eq!(r(&[], true, false), none);
        assert_eq!(r(&["--model", "other.gguf"], false, false), none);
        // A named adapter is used as given.
        let named = r(&["--adapter", "mine"], false, false);
        assert_eq!(named.adapter, Some(PathBuf::from("mine")));
        // Nothing shipped: the base model.
        let empty = tempfile::tempdir().unwrap();
        let bare = Opened::resolve_with(
            &opts(&[]),
            false,
            &Paths::at(empty.path()),
            "ml-100k",
            false,
        );
        assert_eq!(bare, none);
    }
}
