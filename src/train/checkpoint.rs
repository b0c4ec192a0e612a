//! Checkpoints of a run, `RUN_DIR/checkpoints/step-N/`: the adapter, the optimizer's
//! moments, the item table (its rows are refreshed every step, so they are state too)
//! and state.json (step, RNG seed and data cursor, optimizer step count, best so far).
//! Each is written into a temporary folder that is renamed into place once every file
//! is synced, so a kill leaves either the whole checkpoint or none. `RUN_DIR/best/` is
//! a copy of the checkpoint with the best valid NDCG@10.

use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::adapter::TrainableAdapter;
use super::optim::AdamW;
use crate::rec::ItemTable;
use crate::util::atomic::write_atomic;

pub const CHECKPOINTS: &str = "checkpoints";
pub const BEST: &str = "best";
const STATE: &str = "state.json";
const OPTIMIZER: &str = "optimizer.safetensors";
const TABLE: &str = "item_table.safetensors";
const ADAPTER: &str = "adapter";

/// Where training stands; with the config, enough to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: usize,
    /// The data order is a seeded shuffle per epoch; `cursor` indexes into it.
    pub epoch: u64,
    pub cursor: usize,
    pub seed: u64,
    pub optimizer_steps: u64,
    pub best: Option<BestSoFar>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestSoFar {
    pub step: usize,
    pub valid_ndcg10: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Bad { path: PathBuf, message: String },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn bad(path: &Path, message: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Bad {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Write the checkpoint of `state.step`, then remove older ones. Returns its folder.
pub fn save_checkpoint(
    run_dir: &Path,
    state: &TrainState,
    adapter: &dyn TrainableAdapter,
    optim: &AdamW,
    table: &ItemTable,
) -> Result<PathBuf, CheckpointError> {
    let root = run_dir.join(CHECKPOINTS);
    fs::create_dir_all(&root).map_err(io(&root))?;
    let name = format!("step-{}", state.step);
    let tmp = root.join(format!(".tmp-{name}"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs::create_dir_all(tmp.join(ADAPTER)).map_err(io(&tmp))?;
    adapter
        .save(&tmp.join(ADAPTER))
        .map_err(|e| bad(&tmp.join(ADAPTER), format!("{e:#}")))?;
    let p = tmp.join(OPTIMIZER);
    optim.save(&p).map_err(|e| bad(&p, e))?;
    let p = tmp.join(TABLE);
    let rows = Tensor::from_slice(table.rows(), (table.len(), table.dim()), &Device::Cpu)
        .map_err(|e| bad(&p, e))?;
    candle_core::safetensors::save(&[("item_table", rows)].into_iter().collect(), &p)
        .map_err(|e| bad(&p, e))?;
    let p = tmp.join(STATE);
    let text = serde_json::to_string_pretty(state).map_err(|e| bad(&p, e))?;
    write_atomic(&p, text.as_bytes()).map_err(io(&p))?;
    sync_tree(&tmp)?;
    let dest = root.join(&name);
    if dest.exists() {
        fs::remove_dir_all(&dest).map_err(io(&dest))?;
    }
    fs::rename(&tmp, &dest).map_err(io(&dest))?;
    sync_dir(&root);
    for (step, dir) in list_checkpoints(run_dir)? {
        if step < state.step {
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
    }
    Ok(dest)
}

/// Complete checkpoints of a run as (step, folder), oldest first.
pub fn list_checkpoints(run_dir: &Path) -> Result<Vec<(usize, PathBuf)>, CheckpointError> {
    let root = run_dir.join(CHECKPOINTS);
    let mut out = Vec::new();
    let entries = match fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(&root)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(&root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(step) = name.strip_prefix("step-").and_then(|s| s.parse().ok()) {
            out.push((step, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

pub fn read_state(dir: &Path) -> Result<TrainState, CheckpointError> {
    let p = dir.join(STATE);
    let text = fs::read_to_string(&p).map_err(io(&p))?;
    serde_json::from_str(&text).map_err(|e| bad(&p, format!("line {}: {e}", e.line())))
}

/// Load a checkpoint into the adapter and optimizer; returns its state and item table
/// (row ids are `ids`, the catalogue order the table was built in).
pub fn load_checkpoint(
    dir: &Path,
    adapter: &dyn TrainableAdapter,
    optim: &mut AdamW,
    ids: Vec<String>,
    device: &Device,
) -> Result<(TrainState, ItemTable), CheckpointError> {
    let state = read_state(dir)?;
    adapter
        .load(&dir.join(ADAPTER))
        .map_err(|e| bad(&dir.join(ADAPTER), format!("{e:#}")))?;
    let p = dir.join(OPTIMIZER);
    optim
        .load(&p, state.optimizer_steps, device)
        .map_err(|e| bad(&p, e))?;
    let p = dir.join(TABLE);
    let map = candle_core::safetensors::load(&p, &Device::Cpu).map_err(|e| bad(&p, e))?;
    let rows = map
        .get("item_table")
        .ok_or_else(|| bad(&p, "no tensor `item_table`"))?;
    let (n, dim) = rows.dims2().map_err(|e| bad(&p, e))?;
    if n != ids.len() {
        return Err(bad(
            &p,
            format!("{n} rows, the catalogue has {} items", ids.len()),
        ));
    }
    let values = rows
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| bad(&p, e))?;
    let table = ItemTable::from_unit_rows(ids, dim, values).map_err(|e| bad(&p, e))?;
    Ok((state, table))
}

/// Copy checkpoint `src` to `RUN_DIR/best/` (replacing the previous best).
pub fn save_best(run_dir: &Path, src: &Path) -> Result<(), CheckpointError> {
    let tmp = run_dir.join(".tmp-best");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    copy_tree(src, &tmp)?;
    sync_tree(&tmp)?;
    let best = run_dir.join(BEST);
    let old = run_dir.join(".old-best");
    if best.exists() {
        fs::rename(&best, &old).map_err(io(&best))?;
    }
    fs::rename(&tmp, &best).map_err(io(&best))?;
    sync_dir(run_dir);
    if old.exists() {
        fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path) -> Result<(), CheckpointError> {
    fs::create_dir_all(dst).map_err(io(dst))?;
    for entry in fs::read_dir(src).map_err(io(src))? {
        let entry = entry.map_err(io(src))?;
        let to = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else {
            fs::copy(entry.path(), &to).map_err(io(&to))?;
        }
    }
    Ok(())
}

/// fsync every file below `dir`, and the folders themselves.
fn sync_tree(dir: &Path) -> Result<(), CheckpointError> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

/// Best effort: some file systems refuse to sync a folder handle.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
