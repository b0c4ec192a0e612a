//! What a run inherits from another run. A fork: a run continued in a new folder from
//! another run's newest checkpoint, with named settings changed from that step.
//! Everything else carries over exactly: the
//! adapter, the optimizer's moments, the RNG seed and data cursor, the step counter,
//! the best checkpoint and the logs up to that step. So the fork's curves continue its
//! parent's, it resumes like any run, and its config records where it branched and
//! what changed (`RecPoConfig::forks`). A start (`train --init`) from a run's checkpoint
//! inherits only the adapter, and the count of users that checkpoint had seen.

use std::fs;
use std::path::Path;

use super::checkpoint::{
    copy_checkpoint, list_checkpoints, read_state, save_best, BEST, CHECKPOINTS,
};
use super::config::{ForkRecord, RecPoConfig};
use super::error::TrainError;
use super::metrics_log::JsonLines;
use super::trainer::{CONFIG_FILE, METRICS_FILE, ROLLOUTS_FILE};
use crate::rec::centre::CENTRE_FILE;
use crate::util::atomic::write_atomic;

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The settings of run folder `run_dir` (its config.json).
pub fn read_config(run_dir: &Path) -> Result<RecPoConfig, TrainError> {
    let path = run_dir.join(CONFIG_FILE);
    let text = fs::read_to_string(&path).map_err(|e| {
        TrainError::Input(format!("{}: {e} (is this a run folder?)", path.display()))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| TrainError::Input(format!("{}:{}: {e}", path.display(), e.line())))
}

/// Training users a run's checkpoint (`RUN/checkpoints/step-N` or `RUN/best`) had seen,
/// from its state's step and its run's config.json; `None` for a folder that is not a
/// run's checkpoint (a bare adapter folder says nothing about its training).
pub fn users_at_checkpoint(dir: &Path) -> Result<Option<usize>, TrainError> {
    if !dir.join("state.json").is_file() {
        return Ok(None);
    }
    let Some(parent) = dir.parent() else {
        return Ok(None);
    };
    let run = if dir.file_name().is_some_and(|n| n == BEST) {
        parent
    } else if parent.file_name().is_some_and(|n| n == CHECKPOINTS) {
        match parent.parent() {
            Some(run) => run,
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    if !run.join(CONFIG_FILE).is_file() {
        return Ok(None);
    }
    let step = read_state(dir)?.step;
    Ok(Some(read_config(run)?.users_seen(step)))
}

/// Fork run `from` at its newest checkpoint into the empty folder `to`. `change` edits
/// the parent's settings and returns what it changed, one `name: old -> new` each; the
/// fork's config (written last) is the result, with the branch point recorded. Returns
/// that config.
pub fn fork_run(
    from: &Path,
    to: &Path,
    change: impl FnOnce(&mut RecPoConfig) -> Vec<String>,
) -> Result<RecPoConfig, TrainError> {
    let mut cfg = read_config(from)?;
    let Some((step, dir)) = list_checkpoints(from)?.pop() else {
        return Err(TrainError::Input(format!(
            "{}: no checkpoint to fork from",
            from.display()
        )));
    };
    if !list_checkpoints(to)?.is_empty()
        || to.join(METRICS_FILE).exists()
        || to.join(CONFIG_FILE).exists()
    {
        return Err(TrainError::Input(format!(
            "{} already holds a run; fork into a new folder",
            to.display()
        )));
    }
    fs::create_dir_all(to).map_err(io(to))?;
    copy_checkpoint(&dir, to, step)?;
    // The parent's best checkpoint goes too: the state's best refers to it.
    let best = from.join(BEST);
    if read_state(&dir)?.best.is_some() && best.join("state.json").exists() {
        save_best(to, &best)?;
    }
    for name in [CENTRE_FILE, METRICS_FILE, ROLLOUTS_FILE] {
        let src = from.join(name);
        if src.exists() {
            let dst = to.join(name);
            let text = fs::read(&src).map_err(io(&src))?;
            write_atomic(&dst, &text).map_err(io(&dst))?;
        }
    }
    // Lines the parent logged past its checkpoint are not the fork's history.
    for name in [METRICS_FILE, ROLLOUTS_FILE] {
        JsonLines::new(to.join(name)).truncate_after(step)?;
    }
    let changed = change(&mut cfg);
    cfg.forks.push(ForkRecord {
        from: from.to_path_buf(),
        step,
        changed,
    });
    cfg.validate()?;
    let path = to.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&cfg).map_err(|e| TrainError::Input(e.to_string()))?;
    write_atomic(&path, text.as_bytes()).map_err(io(&path))?;
    Ok(cfg)
}
