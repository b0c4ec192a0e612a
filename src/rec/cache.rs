//! The item table's on-disk cache: one safetensors file per (model, adapter, data set,
//! prompt version, chat template), in `datasets/<name>/cache/`. The key is hashed into
//! the file name and stored in the file, with a SHA-256 checksum of the contents, so a
//! cache made under other conditions (stale) or damaged on disk (corrupt) is reported
//! and rebuilt, never used silently. Files are written atomically.
//!
//! File layout (safetensors, <https://github.com/huggingface/safetensors>): one tensor
//! `item_table` of shape [rows, dim] in F16 or F32, and the metadata fields `format`,
//! `key` (JSON of [`CacheKey`]), `ids` (JSON array, row order) and `checksum`.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use half::slice::HalfFloatSliceExt;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::item_table::ItemTable;
use crate::util::atomic::write_atomic;

mod key;

pub(crate) use key::hex;
pub use key::{file_fingerprint, files_fingerprint, template_fingerprint, CacheKey};

const FORMAT: &str = "r2ec.item_table.v1";
const TENSOR: &str = "item_table";
/// Cache files kept per folder; older ones (other models, old adapters) are pruned.
const KEEP_FILES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: item table cache was made for another setup ({}): rebuild it", .changed.join(", "))]
    Stale {
        path: PathBuf,
        changed: Vec<&'static str>,
    },
    #[error("{path}: item table cache is corrupt ({message}): rebuild it")]
    Corrupt { path: PathBuf, message: String },
    #[error("serialising the item table: {0}")]
    Serialise(String),
}

impl CacheError {
    fn corrupt(path: &Path, message: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// How the data is stored on disk; F16 halves the file, rows are re-normalised on load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheDtype {
    F16,
    F32,
}

/// What `load_or_build` did, for the caller to show.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheStatus {
    Loaded {
        path: PathBuf,
    },
    Built {
        path: PathBuf,
        reason: RebuildReason,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RebuildReason {
    /// No cache for this data set yet.
    Missing,
    /// Only caches made with something else (the fields that differ) were found.
    Stale {
        path: PathBuf,
        changed: Vec<&'static str>,
    },
    Corrupt {
        path: PathBuf,
        message: String,
    },
}

impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loaded { path } => write!(f, "item table loaded from {}", path.display()),
            Self::Built { path, reason } => {
                write!(f, "item table built and cached in {}", path.display())?;
                match reason {
                    RebuildReason::Missing => write!(f, " (no cache yet)"),
                    RebuildReason::Stale { path, changed } => {
                        write!(
                            f,
                            " ({} is stale: {} changed)",
                            path.display(),
                            changed.join(", ")
                        )
                    }
                    RebuildReason::Corrupt { path, message } => {
                        write!(f, " ({} was corrupt: {message})", path.display())
                    }
                }
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(rename = "__metadata__")]
    metadata: HashMap<String, String>,
}

/// The item table caches of one folder.
#[derive(Debug, Clone)]
pub struct ItemCache {
    dir: PathBuf,
    dtype: CacheDtype,
}

impl ItemCache {
    pub fn new(dir: impl Into<PathBuf>, dtype: CacheDtype) -> Self {
        Self {
            dir: dir.into(),
            dtype,
        }
    }

    /// The tables a checkpoint ships beside its adapter: `<adapter dir>/cache/`, F16.
    pub fn shipped_with(adapter_dir: &Path) -> Self {
        Self::new(adapter_dir.join("cache"), CacheDtype::F16)
    }

    /// `datasets/<name>/cache/`, stored as F16.
    pub fn for_dataset(paths: &crate::paths::Paths, dataset: &str) -> Self {
        Self::new(paths.prepared(dataset).join("cache"), CacheDtype::F16)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `items-<first 16 hex digits of the key's SHA-256>.safetensors`.
    pub fn path_for(&self, key: &CacheKey) -> PathBuf {
        self.dir
            .join(format!("items-{}.safetensors", &key.digest()[..16]))
    }

    /// Write the table under the key, atomically; returns the file written.
    pub fn save(&self, key: &CacheKey, table: &ItemTable) -> Result<PathBuf, CacheError> {
        let path = self.path_for(key);
        let (dtype, data) = match self.dtype {
            CacheDtype::F32 => (
                Dtype::F32,
                table.rows().iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            CacheDtype::F16 => (
                Dtype::F16,
                to_f16(table.rows())
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ),
        };
        let key_json = key.to_json();
        let ids_json =
            serde_json::to_string(table.ids()).map_err(|e| CacheError::Serialise(e.to_string()))?;
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            (
                "checksum".to_string(),
                checksum(&key_json, &ids_json, &data),
            ),
            ("key".to_string(), key_json),
            ("ids".to_string(), ids_json),
        ]);
        let view = TensorView::new(dtype, vec![table.len(), table.dim()], &data)
            .map_err(|e| CacheError::Serialise(e.to_string()))?;
        let bytes = safetensors::serialize([(TENSOR, view)], Some(metadata))
            .map_err(|e| CacheError::Serialise(e.to_string()))?;
        write_atomic(&path, &bytes).map_err(|source| CacheError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// `table` at the precision the cache stores it: f16-rounded and normalised again, as
    /// `load` would return it.
    fn as_stored(&self, table: ItemTable) -> Result<ItemTable, CacheError> {
        match self.dtype {
            CacheDtype::F32 => Ok(table),
            CacheDtype::F16 => from_f16(table.ids().to_vec(), table.dim(), &to_f16(table.rows()))
                .map_err(|e| CacheError::Serialise(e.to_string())),
        }
    }

    /// The cached table for `key`: `Ok(None)` when there is no file for it, an error
    /// when the file is stale or corrupt.
    pub fn load(&self, key: &CacheKey) -> Result<Option<ItemTable>, CacheError> {
        let path = self.path_for(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path, source }),
        };
        read_table(&path, &bytes, key).map(Some)
    }

    /// The cached table, or `build()`'s, saved for next time. Stale and corrupt caches
    /// are rebuilt, and the returned status says so.
    pub fn load_or_build<E: From<CacheError>>(
        &self,
        key: &CacheKey,
        build: impl FnOnce() -> Result<ItemTable, E>,
    ) -> Result<(ItemTable, CacheStatus), E> {
        let reason = match self.load(key) {
            Ok(Some(table)) => {
                return Ok((
                    table,
                    CacheStatus::Loaded {
                        path: self.path_for(key),
                    },
                ))
            }
            Ok(None) => self.closest_stale(key).unwrap_or(RebuildReason::Missing),
            Err(CacheError::Stale { path, changed }) => RebuildReason::Stale { path, changed },
            Err(CacheError::Corrupt { path, message }) => RebuildReason::Corrupt { path, message },
            Err(e) => return Err(e.into()),
        };
        let table = build()?;
        let path = self.save(key, &table)?;
        // Later runs read the stored (maybe f16) rows; the first run scores with the same
        // rows, so a recommendation does not change once its table is cached.
        let table = self.as_stored(table)?;
        // A killed writer leaves its temporary file; it is never read, only removed.
        let _ = crate::util::atomic::remove_stale_temps(&path);
        self.prune(&path);
        Ok((table, CacheStatus::Built { path, reason }))
    }

    /// The data set names (`ml-100k`, ...) that the folder's caches were built for.
    pub fn datasets(&self) -> Vec<String> {
        self.cache_files()
            .iter()
            .filter_map(|p| read_key(p))
            .filter_map(|k| k.dataset.split(':').next().map(str::to_owned))
            .collect()
    }

    /// Cache files in the folder, newest first.
    fn cache_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                name.starts_with("items-") && name.ends_with(".safetensors")
            })
            .filter_map(|p| Some((fs::metadata(&p).and_then(|m| m.modified()).ok()?, p)))
            .collect();
        files.sort_by(|a, b| b.cmp(a));
        files.into_iter().map(|(_, p)| p).collect()
    }

    /// The cache whose key differs from `key` in the fewest fields, if any.
    fn closest_stale(&self, key: &CacheKey) -> Option<RebuildReason> {
        self.cache_files()
            .into_iter()
            .filter_map(|p| {
                let stored = read_key(&p)?;
                Some((key.differing_fields(&stored), p))
            })
            .filter(|(changed, _)| !changed.is_empty())
            .min_by_key(|(changed, _)| changed.len())
            .map(|(changed, path)| RebuildReason::Stale { path, changed })
    }

    /// Remove all but the newest `KEEP_FILES` caches (never `keep`); best effort.
    fn prune(&self, keep: &Path) {
        for old in self
            .cache_files()
            .into_iter()
            .filter(|p| p != keep)
            .skip(KEEP_FILES - 1)
        {
            let _ = fs::remove_file(old);
        }
    }
}

/// Rows as the F16 cache stores them.
fn to_f16(rows: &[f32]) -> Vec<half::f16> {
    let mut h = vec![half::f16::ZERO; rows.len()];
    h.convert_from_f32_slice(rows);
    h
}

/// The table an F16 cache holds; rounding to f16 moved the rows off unit length, so they
/// are normalised again.
fn from_f16(
    ids: Vec<String>,
    dim: usize,
    halves: &[half::f16],
) -> Result<ItemTable, super::TableError> {
    let mut rows = vec![0.0f32; halves.len()];
    halves.convert_to_f32_slice(&mut rows);
    ItemTable::from_rows(ids, dim, rows)
}
fn checksum(key_json: &str, ids_json: &str, data: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [
        FORMAT.as_bytes(),
        key_json.as_bytes(),
        ids_json.as_bytes(),
        data,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    key::hex(&h.finalize())
}

/// Just the stored key of a cache file, from its header.
fn read_key(path: &Path) -> Option<CacheKey> {
    use std::io::Read;
    let mut f = fs::File::open(path).ok()?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n).ok()?;
    let n = usize::try_from(u64::from_le_bytes(n))
        .ok()
        .filter(|&n| n < 1 << 30)?;
    let mut header = vec![0u8; n];
    f.read_exact(&mut header).ok()?;
    let header: Header = serde_json::from_slice(&header).ok()?;
    CacheKey::from_json(header.metadata.get("key")?).ok()
}

fn read_table(path: &Path, bytes: &[u8], expected: &CacheKey) -> Result<ItemTable, CacheError> {
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| CacheError::corrupt(path, e.to_string()))?;
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| CacheError::corrupt(path, e.to_string()))?;
    let meta = header
        .metadata()
        .as_ref()
        .ok_or_else(|| CacheError::corrupt(path, "no metadata"))?;
    let field = |name: &str| {
        meta.get(name)
            .ok_or_else(|| CacheError::corrupt(path, format!("metadata field `{name}` is missing")))
    };
    if field("format")? != FORMAT {
        return Err(CacheError::corrupt(path, format!("format is not {FORMAT}")));
    }
    let tensor = st
        .tensor(TENSOR)
        .map_err(|e| CacheError::corrupt(path, e.to_string()))?;
    let (key_json, ids_json) = (field("key")?, field("ids")?);
    if checksum(key_json, ids_json, tensor.data()) != *field("checksum")? {
        return Err(CacheError::corrupt(path, "checksum mismatch"));
    }
    let stored = CacheKey::from_json(key_json)
        .map_err(|e| CacheError::corrupt(path, format!("key: {e}")))?;
    let changed = expected.differing_fields(&stored);
    if !changed.is_empty() {
        return Err(CacheError::Stale {
            path: path.to_path_buf(),
            changed,
        });
    }
    let ids: Vec<String> = serde_json::from_str(ids_json)
        .map_err(|e| CacheError::corrupt(path, format!("ids: {e}")))?;
    let &[rows, dim] = tensor.shape() else {
        return Err(CacheError::corrupt(
            path,
            format!("tensor shape {:?} is not [rows, dim]", tensor.shape()),
        ));
    };
    if rows != ids.len() {
        return Err(CacheError::corrupt(
            path,
            format!("{rows} rows for {} ids", ids.len()),
        ));
    }
    let data = tensor.data();
    let table = match tensor.dtype() {
        Dtype::F32 => {
            let values = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            ItemTable::from_unit_rows(ids, dim, values)
        }
        Dtype::F16 => {
            let halves: Vec<half::f16> = data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]))
                .collect();
            from_f16(ids, dim, &halves)
        }
        other => {
            return Err(CacheError::corrupt(
                path,
                format!("dtype {other:?} is not F16 or F32"),
            ))
        }
    };
    table.map_err(|e| CacheError::corrupt(path, e.to_string()))
}

#[cfg(test)]
mod tests;
