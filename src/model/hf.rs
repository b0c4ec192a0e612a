//! Hugging Face model folders: `config.json`, the weights in one `*.safetensors` file or
//! several shards (listed by `model.safetensors.index.json` when present), and the
//! paths of `tokenizer.json` / `tokenizer_config.json` for the tokenizer module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde_json::Value;

use super::config::ModelConfig;
use super::error::ModelError;
use super::weights::Weights;

const INDEX_FILE: &str = "model.safetensors.index.json";

/// The files of one model folder, found but not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfFolder {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub weight_files: Vec<PathBuf>,
    pub tokenizer: Option<PathBuf>,
    pub tokenizer_config: Option<PathBuf>,
}

impl HfFolder {
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        if !dir.is_dir() {
            return Err(ModelError::MissingFile {
                path: dir.to_path_buf(),
                what: "model folder",
            });
        }
        let config = dir.join("config.json");
        if !config.is_file() {
            return Err(ModelError::MissingFile {
                path: config,
                what: "config.json",
            });
        }
        let existing = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            weight_files: weight_files(dir)?,
            tokenizer: existing("tokenizer.json"),
            tokenizer_config: existing("tokenizer_config.json"),
        })
    }

    pub fn load(&self, device: &Device) -> Result<(ModelConfig, Weights), ModelError> {
        let cfg = ModelConfig::from_hf_json(&self.config)?;
        let weights = Weights::from_safetensors_files(&self.weight_files, device)?;
        Ok((cfg, weights))
    }
}

/// Opens and reads a model folder in one go.
pub fn load_hf_folder(
    dir: &Path,
    device: &Device,
) -> Result<(HfFolder, ModelConfig, Weights), ModelError> {
    let folder = HfFolder::open(dir)?;
    let (cfg, weights) = folder.load(device)?;
    Ok((folder, cfg, weights))
}

fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let index = dir.join(INDEX_FILE);
    if index.is_file() {
        return indexed_shards(dir, &index);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| ModelError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(ModelError::MissingFile {
            path: dir.join("model.safetensors"),
            what: "*.safetensors weights",
        });
    }
    files.sort();
    Ok(files)
}

/// The shards named in the index's `weight_map`, each checked to exist.
fn indexed_shards(dir: &Path, index: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let text = std::fs::read_to_string(index).map_err(|source| ModelError::Io {
        path: index.to_path_buf(),
        source,
    })?;
    let json: Value = serde_json::from_str(&text).map_err(|e| ModelError::Json {
        path: index.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let bad = |reason: String| ModelError::BadConfig {
        path: index.to_path_buf(),
        field: "weight_map".into(),
        reason,
    };
    let map = json
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("missing or not an object".into()))?;
    let mut shards = BTreeSet::new();
    for (tensor, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| bad(format!("`{tensor}` does not name a file")))?;
        shards.insert(file.to_string());
    }
    shards
        .into_iter()
        .map(|f| {
            let path = dir.join(&f);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ModelError::MissingFile {
                    path,
                    what: "safetensors shard named in the index",
                })
            }
        })
        .collect()
}
