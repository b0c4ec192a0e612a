//! Checkpoints of a run, `RUN_DIR/checkpoints/step-N/`: the adapter, the optimizer's
//! moments, the item table (its rows are refreshed every step, so they are state too)
//! and state.json (step, RNG seed and data cursor, optimizer step count, best so far).
//! At a step whose table was just rebuilt through the adapter, the table is left out:
//! the adapter gives it again bit for bit, and the checkpoint is a third of the size.
//! The newest such compact checkpoint is kept beside the latest one: it is the resume
//! state a run commits to a repository.
//! Each is written into a temporary folder that is renamed into place once every file
//! is synced, so a kill leaves either the whole checkpoint or none. The last file
//! written is `manifest.json`, the size and SHA-256 of every other file: a checkpoint
//! is loaded only when all of them match, so one damaged on disk after the fact is
//! refused with the file that differs, never half-used. `RUN_DIR/best/` is a copy of
//! the checkpoint with the best valid NDCG@10.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
pub const MANIFEST: &str = "manifest.json";

/// Size and SHA-256 of each file of a checkpoint, by path relative to its folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<String, FileSum>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSum {
    pub bytes: u64,
    pub sha256: String,
}

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

/// Write the checkpoint of `state.step`, then remove older ones but the newest compact
/// one. With `table_rebuilt` (the table is the adapter's own, just rebuilt) its rows are
/// not written. Returns its folder.
pub fn save_checkpoint(
    run_dir: &Path,
    state: &TrainState,
    adapter: &dyn TrainableAdapter,
    optim: &AdamW,
    table: &ItemTable,
    table_rebuilt: bool,
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
    // The centre travels with the adapter: whoever loads it scores as training did.
    if let Some(c) = table.centre() {
        c.save(&tmp.join(ADAPTER))
            .map_err(|e| bad(&tmp.join(ADAPTER), e))?;
    }
    let p = tmp.join(OPTIMIZER);
    optim.save(&p).map_err(|e| bad(&p, e))?;
    if !table_rebuilt {
        let p = tmp.join(TABLE);
        let rows = Tensor::from_slice(table.rows(), (table.len(), table.dim()), &Device::Cpu)
            .map_err(|e| bad(&p, e))?;
        candle_core::safetensors::save(&[("item_table", rows)].into_iter().collect(), &p)
            .map_err(|e| bad(&p, e))?;
    }
    let p = tmp.join(STATE);
    let text = serde_json::to_string_pretty(state).map_err(|e| bad(&p, e))?;
    write_atomic(&p, text.as_bytes()).map_err(io(&p))?;
    sync_tree(&tmp)?;
    write_manifest(&tmp)?;
    let dest = root.join(&name);
    if dest.exists() {
        fs::remove_dir_all(&dest).map_err(io(&dest))?;
    }
    fs::rename(&tmp, &dest).map_err(io(&dest))?;
    sync_dir(&root);
    let all = list_checkpoints(run_dir)?;
    let keep = newest_compact_of(&all);
    for (step, dir) in all {
        if step < state.step && Some(step) != keep {
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
    }
    Ok(dest)
}

/// Whether checkpoint `dir` left its item table out (see the module header).
pub fn is_compact(dir: &Path) -> bool {
    !dir.join(TABLE).exists()
}

/// The step of the run's newest compact checkpoint.
pub fn newest_compact(run_dir: &Path) -> Result<Option<usize>, CheckpointError> {
    Ok(newest_compact_of(&list_checkpoints(run_dir)?))
}

fn newest_compact_of(checkpoints: &[(usize, PathBuf)]) -> Option<usize> {
    checkpoints
        .iter()
        .rev()
        .find(|(_, dir)| is_compact(dir))
        .map(|(step, _)| *step)
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

/// The files below `dir` (not the manifest), relative paths with `/`, sorted.
fn files_below(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), CheckpointError> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        let path = entry.path();
        if path.is_dir() {
            files_below(&path, &format!("{rel}/"), out)?;
        } else if rel != MANIFEST {
            out.push((rel, path));
        }
    }
    out.sort();
    Ok(())
}

fn sum_file(path: &Path) -> Result<FileSum, CheckpointError> {
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    let sha256 = crate::rec::cache::hex(&hasher.finalize());
    Ok(FileSum { bytes, sha256 })
}

/// Sum every file of the (synced) checkpoint folder and write `manifest.json` last.
fn write_manifest(dir: &Path) -> Result<(), CheckpointError> {
    let mut files = Vec::new();
    files_below(dir, "", &mut files)?;
    let mut manifest = Manifest {
        files: BTreeMap::new(),
    };
    for (rel, path) in files {
        manifest.files.insert(rel, sum_file(&path)?);
    }
    let p = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| bad(&p, e))?;
    write_atomic(&p, text.as_bytes()).map_err(io(&p))
}

/// Check a checkpoint folder against its manifest: every listed file present with the
/// same size and SHA-256. The error names the first file that differs.
pub fn verify_checkpoint(dir: &Path) -> Result<(), CheckpointError> {
    let p = dir.join(MANIFEST);
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(
                &p,
                "missing: the checkpoint is incomplete or was written by an older r2ec, so its files cannot be verified",
            ))
        }
        Err(e) => return Err(io(&p)(e)),
    };
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| bad(&p, format!("line {}: {e}", e.line())))?;
    if manifest.files.is_empty() {
        return Err(bad(&p, "lists no files"));
    }
    for (rel, want) in &manifest.files {
        if rel.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(bad(&p, format!("file name `{rel}` leaves the checkpoint")));
        }
        let path = dir.join(rel);
        let meta = fs::metadata(&path).map_err(io(&path))?;
        if meta.len() != want.bytes {
            return Err(bad(
                &path,
                format!(
                    "{} bytes, the manifest says {}: the checkpoint is damaged",
                    meta.len(),
                    want.bytes
                ),
            ));
        }
        if sum_file(&path)?.sha256 != want.sha256 {
            return Err(bad(
                &path,
                "SHA-256 differs from the manifest: the checkpoint is damaged",
            ));
        }
    }
    Ok(())
}

pub fn read_state(dir: &Path) -> Result<TrainState, CheckpointError> {
    let p = dir.join(STATE);
    let text = fs::read_to_string(&p).map_err(io(&p))?;
    serde_json::from_str(&text).map_err(|e| bad(&p, format!("line {}: {e}", e.line())))
}

/// Load a checkpoint into the adapter and optimizer; returns its state and item table
/// (row ids are `ids`, the catalogue order the table was built in), `None` for a
/// compact checkpoint, whose table is the adapter's own to rebuild.
pub fn load_checkpoint(
    dir: &Path,
    adapter: &dyn TrainableAdapter,
    optim: &mut AdamW,
    ids: Vec<String>,
    device: &Device,
) -> Result<(TrainState, Option<ItemTable>), CheckpointError> {
    verify_checkpoint(dir)?;
    let state = read_state(dir)?;
    adapter
        .load(&dir.join(ADAPTER))
        .map_err(|e| bad(&dir.join(ADAPTER), format!("{e:#}")))?;
    let p = dir.join(OPTIMIZER);
    optim
        .load(&p, state.optimizer_steps, device)
        .map_err(|e| bad(&p, e))?;
    if is_compact(dir) {
        return Ok((state, None));
    }
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
    Ok((state, Some(table)))
}

/// Copy checkpoint `src` (verified first) into `run_dir` as `checkpoints/step-{step}`,
/// through a temporary folder renamed into place, as `save_checkpoint` writes.
pub fn copy_checkpoint(
    src: &Path,
    run_dir: &Path,
    step: usize,
) -> Result<PathBuf, CheckpointError> {
    verify_checkpoint(src)?;
    let root = run_dir.join(CHECKPOINTS);
    fs::create_dir_all(&root).map_err(io(&root))?;
    let tmp = root.join(format!(".tmp-step-{step}"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    copy_tree(src, &tmp)?;
    sync_tree(&tmp)?;
    let dest = root.join(format!("step-{step}"));
    fs::rename(&tmp, &dest).map_err(io(&dest))?;
    sync_dir(&root);
    Ok(dest)
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
