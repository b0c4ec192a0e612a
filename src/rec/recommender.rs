//! R²ec inference for one history (SPEC §1): the user prompt, a reasoning chain that
//! stops at `<answer>`, h_T read there (or straight after the prompt without reasoning),
//! cosine / tau against the whole item table with the history masked, and the target's
//! rank when the history comes from an example.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;

use super::cache::{CacheDtype, CacheKey, CacheStatus, ItemCache};
use super::item_table::{ItemEncoder, ItemTable};
use super::score::{mask_history, user_scores};
use super::{UserVectorAt, TAU};
use crate::data::prepared::{PreparedDataset, ITEMS_FILE};
use crate::data::prompt::{ANSWER_TAG, HISTORY_WINDOW};
use crate::data::Interaction;
use crate::eval::metrics::{rank_of_target, top_k};
use crate::model::error::ModelError;
use crate::model::generate::{
    generate_batch, GenEvent, GenerateOptions, GenerateRequest, StopReason, Timings,
};
use crate::model::loaded::LoadedModel;

/// Item prompts encoded per forward pass while building the table.
pub const ITEM_BATCH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum RecError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Cache(#[from] super::cache::CacheError),
    #[error(transparent)]
    Table(#[from] super::item_table::TableError),
    #[error(transparent)]
    Score(#[from] super::score::ScoreError),
}

/// The backbone as an item encoder: hidden state at the last token of each item prompt.
pub struct ModelEncoder<'a> {
    pub model: &'a LoadedModel,
    pub batch: usize,
}

impl ItemEncoder for ModelEncoder<'_> {
    type Error = ModelError;

    fn encode(&mut self, prompts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        let ids = prompts
            .iter()
            .map(|p| self.model.tokenizer.encode(p))
            .collect::<Result<Vec<_>, _>>()?;
        self.model.last_hidden(&ids, self.batch)
    }

    fn dim(&self) -> usize {
        self.model.config().hidden_size
    }
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
    if let Some(dir) = &model.adapter {
        let shipped = ItemCache::shipped_with(dir);
        if let Ok(Some(table)) = shipped.load(&key) {
            let path = shipped.path_for(&key);
            return Ok((table, CacheStatus::Loaded { path }));
        }
    }
    let cache = ItemCache::new(data.dir.join("cache"), CacheDtype::F16);
    let domain = data.domain();
    cache.load_or_build(&key, || -> Result<ItemTable, RecError> {
        let mut enc = ModelEncoder {
            model,
            batch: ITEM_BATCH,
        };
        Ok(ItemTable::build(
            &data.catalog,
            &domain,
            &model.template,
            &mut enc,
            ITEM_BATCH,
            progress,
        )?)
    })
}

#[derive(Debug, Clone)]
pub struct RecommendOptions {
    pub generate: GenerateOptions,
    /// Where h_T is read: after the chain (R²ec) or straight after the prompt.
    pub user_vector: UserVectorAt,
    pub top_k: usize,
    pub window: usize,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        Self {
            generate: GenerateOptions::default(),
            user_vector: UserVectorAt::AfterReasoning,
            top_k: 10,
            window: HISTORY_WINDOW,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RankedItem {
    pub item_id: String,
    pub title: String,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetRank {
    pub item_id: String,
    /// 1-based rank among unmasked items; `None` when the target is in the history.
    pub rank: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecTiming {
    #[serde(flatten)]
    pub generation: Timings,
    pub scoring_secs: f64,
    pub total_secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub prompt: String,
    /// Set when the prompt shows only the latest part of the history.
    pub history_cut: Option<super::context::HistoryCut>,
    pub reasoning: String,
    pub reasoning_tokens: usize,
    pub stop: Option<StopReason>,
    pub top: Vec<RankedItem>,
    pub target: Option<TargetRank>,
    pub timing: RecTiming,
}

/// Recommend for one history seen at time `now`; with a target, report where it lands.
#[allow(clippy::too_many_arguments)]
pub fn recommend(
    model: &LoadedModel,
    data: &PreparedDataset,
    table: &ItemTable,
    history: &[Interaction],
    now: i64,
    target: Option<&str>,
    opts: &RecommendOptions,
    on_event: &mut dyn FnMut(GenEvent),
    cancel: Option<&AtomicBool>,
) -> Result<Recommendation, RecError> {
    let start = Instant::now();
    let budget = match opts.user_vector {
        UserVectorAt::AfterReasoning => opts.generate.max_new_tokens,
        UserVectorAt::AfterPrompt => 0,
    };
    let (prompt, history_cut) =
        super::context::fit_prompt(model, data, history, now, opts.window, budget)?;
    let (reasoning, reasoning_tokens, stop, user_vector, generation) =
        if opts.user_vector == UserVectorAt::AfterReasoning {
            let req = GenerateRequest {
                prompt_ids: model.tokenizer.encode(&prompt).map_err(ModelError::from)?,
                samples: 1,
            };
            let (mut chains, timings) = generate_batch(
                &model.backbone,
                &model.tokenizer,
                std::slice::from_ref(&req),
                &opts.generate,
                on_event,
                cancel,
            )?;
            let chain = chains
                .pop()
                .ok_or_else(|| ModelError::Input("generation returned no chain".into()))?;
            (
                chain.text,
                chain.sampled_tokens,
                Some(chain.stop),
                chain.user_vector,
                timings,
            )
        } else {
            // Without reasoning the answer tag follows the prompt directly, as for items.
            let ids = model
                .tokenizer
                .encode(&format!("{prompt}{ANSWER_TAG}"))
                .map_err(ModelError::from)?;
            let t = Instant::now();
            let v = model
                .last_hidden(std::slice::from_ref(&ids), 1)?
                .pop()
                .unwrap_or_default();
            let secs = t.elapsed().as_secs_f64();
            let timings = Timings {
                prompt_tokens: ids.len(),
                prefill_secs: secs,
                first_token_secs: secs,
                ..Default::default()
            };
            (String::new(), 0, None, v, timings)
        };
    let t_score = Instant::now();
    let masked: Vec<usize> = history
        .iter()
        .filter_map(|h| table.position(&h.item_id))
        .collect();
    let (top, target) = if user_vector.is_empty() {
        // Cancelled: no user vector, nothing to rank.
        (
            Vec::new(),
            target.map(|t| TargetRank {
                item_id: t.to_string(),
                rank: None,
            }),
        )
    } else {
        let mut scores = user_scores(table, &user_vector, TAU)?;
        mask_history(&mut scores, &masked);
        let top = top_k(&scores, opts.top_k, &masked)
            .into_iter()
            .map(|(pos, score)| {
                let item_id = table.ids()[pos].clone();
                let title = data
                    .catalog
                    .get(&item_id)
                    .map(|i| i.title.clone())
                    .unwrap_or_default();
                RankedItem {
                    item_id,
                    title,
                    score,
                }
            })
            .collect();
        let target = target.map(|t| TargetRank {
            item_id: t.to_string(),
            rank: table
                .position(t)
                .and_then(|p| rank_of_target(&scores, p, &masked)),
        });
        (top, target)
    };
    Ok(Recommendation {
        prompt,
        history_cut,
        reasoning,
        reasoning_tokens,
        stop,
        top,
        target,
        timing: RecTiming {
            generation,
            scoring_secs: t_score.elapsed().as_secs_f64(),
            total_secs: start.elapsed().as_secs_f64(),
        },
    })
}
