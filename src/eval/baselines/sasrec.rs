//! SASRec (Kang & McAuley 2018, arXiv 1808.09781) trained with full-softmax
//! cross-entropy over all items, as RecBole's SASRec with `loss_type: CE` and the
//! "SASRec+" of Klenitskiy & Vasilev (RecSys 2023, arXiv 2309.07602). The paper's
//! sequential baseline. Saved as `sasrec.safetensors` plus `sasrec.json` (settings and
//! the catalogue it was trained on), so a report folder can be re-evaluated without
//! training again.

pub mod model;
pub mod train;

pub use model::SasRecModel;
pub use train::{train_sasrec, EpochLog};

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::{Catalog, Example};
use crate::eval::scorer::{Scored, Scorer};
use crate::eval::EvalError;
use crate::util::atomic::write_atomic;

pub const WEIGHTS_FILE: &str = "sasrec.safetensors";
pub const CONFIG_FILE: &str = "sasrec.json";

/// Hyperparameters (defaults: Kang & McAuley's ml-1m settings, with CE loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SasRecConfig {
    pub hidden: usize,
    pub blocks: usize,
    pub heads: usize,
    pub dropout: f64,
    /// Longest input sequence; older items are cut.
    pub max_len: usize,
    pub lr: f64,
    pub batch: usize,
    pub max_epochs: usize,
    /// Stop after this many epochs without a better valid NDCG@10.
    pub patience: usize,
    /// Valid examples used for early stopping (spread evenly over the split).
    pub valid_limit: usize,
    pub seed: u64,
}

impl Default for SasRecConfig {
    fn default() -> Self {
        Self {
            hidden: 64,
            blocks: 2,
            heads: 1,
            dropout: 0.2,
            max_len: 50,
            lr: 1e-3,
            batch: 256,
            max_epochs: 200,
            patience: 5,
            valid_limit: 3000,
            seed: 0,
        }
    }
}

/// What `sasrec.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedSasRec {
    pub config: SasRecConfig,
    /// Item ids in the order the model's item tokens follow (token = index + 1).
    pub items: Vec<String>,
    pub best_epoch: usize,
    pub best_valid_ndcg10: f64,
}

/// A trained SASRec ready to score examples.
pub struct SasRec {
    pub model: SasRecModel,
    pub best_epoch: usize,
    pub best_valid_ndcg10: f64,
}

impl SasRec {
    /// Token ids of a history, left-padded to `max_len` (older items cut).
    pub fn encode_history(&self, ex: &Example, catalog: &Catalog) -> Vec<u32> {
        let l = self.model.cfg.max_len;
        let toks: Vec<u32> = ex
            .history
            .iter()
            .filter_map(|h| catalog.position(&h.item_id).map(|p| p as u32 + 1))
            .collect();
        left_pad(&toks[toks.len().saturating_sub(l)..], l)
    }

    pub fn save(&self, dir: &Path, catalog: &Catalog) -> Result<(), EvalError> {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        let tensors: HashMap<String, Tensor> = self
            .model
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let path = dir.join(WEIGHTS_FILE);
        // candle writes to a path; write beside it and rename so the file is never half there.
        let tmp = dir.join(format!(".{WEIGHTS_FILE}.tmp-{}", std::process::id()));
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, &path).map_err(|e| EvalError::io(&path, e))?;
        let saved = SavedSasRec {
            config: self.model.cfg.clone(),
            items: catalog.items().iter().map(|i| i.item_id.clone()).collect(),
            best_epoch: self.best_epoch,
            best_valid_ndcg10: self.best_valid_ndcg10,
        };
        let path = dir.join(CONFIG_FILE);
        let text = serde_json::to_string_pretty(&saved)
            .map_err(|e| EvalError::Input(format!("serializing SASRec settings: {e}")))?;
        write_atomic(&path, text.as_bytes()).map_err(|e| EvalError::io(&path, e))
    }

    /// Load a saved model; its catalogue must be the data set's, item for item.
    pub fn load(dir: &Path, catalog: &Catalog, device: &Device) -> Result<Self, EvalError> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let saved: SavedSasRec = serde_path_to_error::deserialize(de).map_err(|e| {
            EvalError::file(
                &path,
                format!(
                    "line {}: field `{}`: {}",
                    e.inner().line(),
                    e.path(),
                    e.inner()
                ),
            )
        })?;
        let same = saved.items.len() == catalog.len()
            && saved
                .items
                .iter()
                .zip(catalog.items())
                .all(|(a, b)| *a == b.item_id);
        if !same {
            return Err(EvalError::file(
                &path,
                "field `items`: trained on another catalogue; train again (--retrain)",
            ));
        }
        let wpath = dir.join(WEIGHTS_FILE);
        let tensors = candle_core::safetensors::load(&wpath, device)
            .map_err(|e| EvalError::file(&wpath, e.to_string()))?;
        let model = SasRecModel::from_tensors(&saved.config, catalog.len(), &tensors, device)
            .map_err(|m| EvalError::file(&wpath, m))?;
        Ok(Self {
            model,
            best_epoch: saved.best_epoch,
            best_valid_ndcg10: saved.best_valid_ndcg10,
        })
    }
}

pub fn left_pad(toks: &[u32], len: usize) -> Vec<u32> {
    let mut row = vec![model::PAD; len.saturating_sub(toks.len())];
    row.extend_from_slice(&toks[toks.len().saturating_sub(len)..]);
    row
}

/// SASRec scoring needs the catalogue to map histories to tokens.
pub struct SasRecScorer<'a> {
    pub sasrec: &'a SasRec,
    pub catalog: &'a Catalog,
}

impl Scorer for SasRecScorer<'_> {
    fn score(&mut self, examples: &[&Example]) -> Result<Vec<Scored>, EvalError> {
        if examples.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Vec<u32>> = examples
            .iter()
            .map(|ex| self.sasrec.encode_history(ex, self.catalog))
            .collect();
        let m = &self.sasrec.model;
        let h = m.forward(&ids, None)?;
        let last = h.narrow(1, m.cfg.max_len - 1, 1)?.squeeze(1)?;
        let scores = m.item_logits(&last)?.to_vec2::<f32>()?;
        Ok(scores.into_iter().map(Scored::plain).collect())
    }
}
