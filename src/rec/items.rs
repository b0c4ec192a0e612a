//! The backbone as the item encoder of SPEC §1: the hidden state at the last token of
//! each item prompt, with the model's own adapter or a given one (the policy being
//! trained). A data set's table is loaded from its cache or built and cached; the
//! trainer rebuilds it through its current adapter with the same encoder.

use std::path::{Path, PathBuf};

use super::cache::{CacheDtype, CacheKey, CacheStatus, ItemCache};
use super::centre::Centre;
use super::error::RecError;
use super::item_table::{ItemEncoder, ItemTable};
use crate::data::prepared::{PreparedDataset, ITEMS_FILE};
use crate::model::backbone::LinearHook;
use crate::model::error::ModelError;
use crate::model::loaded::LoadedModel;
use crate::model::lower::LowerStates;

/// Item prompts encoded per forward pass while building the table.
pub const ITEM_BATCH: usize = 16;

/// The model as an item encoder: `hook` is an adapter on the fast path; without one the
/// model's own adapter (if it was loaded with one) applies.
pub struct ModelEncoder<'a> {
    pub model: &'a LoadedModel,
    pub hook: Option<&'a dyn LinearHook>,
    pub batch: usize,
    /// The base model's lower layers kept across encodings (the trainer's rebuilds).
    pub lower: Option<&'a LowerStates>,
}

impl<'a> ModelEncoder<'a> {
    /// The model as loaded, [`ITEM_BATCH`] prompts a pass.
    pub fn new(model: &'a LoadedModel) -> Self {
        Self {
            model,
            hook: None,
            batch: ITEM_BATCH,
            lower: None,
        }
    }
}

impl ItemEncoder for ModelEncoder<'_> {
    type Error = ModelError;

    fn encode(&mut self, prompts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        let ids = prompts
            .iter()
            .map(|p| self.model.tokenizer.encode(p))
            .collect::<Result<Vec<_>, _>>()?;
        self.model
            .last_hidden_reusing(&ids, self.batch, self.hook, self.lower)
    }

    fn dim(&self) -> usize {
        self.model.config().hidden_size
    }
}

/// Every catalogue item of `data` encoded by `encoder`, `encoder.batch` per pass.
pub fn build_table(
    encoder: &mut ModelEncoder<'_>,
    data: &PreparedDataset,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ItemTable, RecError> {
    let batch = encoder.batch;
    let template = &encoder.model.template;
    Ok(ItemTable::build(
        &data.catalog,
        &data.domain(),
        template,
        encoder,
        batch,
        progress,
    )?)
}

/// Load the data set's item table from its cache, or encode every item and cache it.
pub fn load_item_table(
    model: &LoadedModel,
    data: &PreparedDataset,
    dataset_name: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(ItemTable, CacheStatus), RecError> {
    // A table built without the adapter (or with another) never serves this model.
    let adapter: Vec<&Path> = model.adapter_files.iter().map(PathBuf::as_path).collect();
    let key = CacheKey::for_files(
        &model.files[0],
        model.adapter.is_some().then_some(adapter.as_slice()),
        dataset_name,
        &data.dir.join(ITEMS_FILE),
        &model.template,
    )?;
    // A checkpoint ships the table its adapter encodes (`<adapter>/cache/`), so a fresh
    // clone does not spend minutes re-encoding. It is read only when its key matches
    // exactly; anything else falls through to the data set's own cache.
    // A checkpoint trained with centring carries its centre; the cache holds the rows
    // as encoded, and the centre is applied on top.
    let centre = match &model.adapter {
        Some(dir) => Centre::load(dir)?,
        None => None,
    };
    if let Some(dir) = &model.adapter {
        let shipped = ItemCache::shipped_with(dir);
        if let Ok(Some(table)) = shipped.load(&key) {
            let path = shipped.path_for(&key);
            return Ok((table.with_centre(centre)?, CacheStatus::Loaded { path }));
        }
    }
    let cache = ItemCache::new(data.dir.join("cache"), CacheDtype::F16);
    let (table, status) = cache.load_or_build(&key, || {
        build_table(&mut ModelEncoder::new(model), data, progress)
    })?;
    Ok((table.with_centre(centre)?, status))
}
