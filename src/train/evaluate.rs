//! Evaluation during training (SPEC §4, §5.6–7), through the pipeline: the whole item
//! table rebuilt with the current adapter, then greedy chains for the first N examples
//! of a split, full ranking with the history masked, Hit/NDCG@5/10/20 and the mean
//! reasoning length.

use super::config::RecPoConfig;
use super::error::TrainError;
use super::rollout::{history_of, policy_encoder};
use crate::data::prepared::{PreparedDataset, Split};
use crate::data::prompt::item_prompt;
use crate::data::Example;
use crate::eval::health::ReasoningHealth;
use crate::eval::metrics::RankingMetrics;
use crate::model::backbone::LinearHook;
use crate::model::generate::{GenerateOptions, StopReason};
use crate::model::loaded::LoadedModel;
use crate::model::lower::LowerStates;
use crate::model::sampling::Sampling;
use crate::rec::items::{build_table, ModelEncoder, ITEM_BATCH};
use crate::rec::ItemEncoder;
use crate::rec::ItemTable;

/// Every catalogue item encoded again through the adapter.
pub fn rebuild_table(
    model: &LoadedModel,
    hook: Option<&dyn LinearHook>,
    lower: Option<&LowerStates>,
    data: &PreparedDataset,
    batch: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ItemTable, TrainError> {
    let mut enc = ModelEncoder {
        model,
        hook,
        batch,
        lower,
    };
    Ok(build_table(&mut enc, data, progress)?)
}

/// The item vectors of `ids` through the adapter on the fast path (as a table rebuild
/// encodes them), in order.
pub fn encode_items(
    model: &LoadedModel,
    hook: Option<&dyn LinearHook>,
    data: &PreparedDataset,
    ids: &[&str],
) -> Result<Vec<Vec<f32>>, TrainError> {
    let mut enc = ModelEncoder {
        model,
        hook,
        batch: ITEM_BATCH,
        lower: None,
    };
    Ok(enc.encode(&item_prompts(model, data, ids)?)?)
}

/// The item prompts (SPEC §2) of catalogue items `ids`, in order.
pub fn item_prompts(
    model: &LoadedModel,
    data: &PreparedDataset,
    ids: &[&str],
) -> Result<Vec<String>, TrainError> {
    let domain = data.domain();
    ids.iter()
        .map(|id| {
            let item = data
                .catalog
                .get(id)
                .ok_or_else(|| TrainError::Input(format!("item `{id}` is not in the catalogue")))?;
            Ok(item_prompt(&model.template, &domain, item))
        })
        .collect()
}

pub struct SplitEval {
    pub metrics: RankingMetrics,
    pub reasoning_len: f64,
    pub examples: usize,
}

/// Target ranks of `examples` with greedy chains (or none, without reasoning), as
/// `r2ec eval` scores them, and the chains' reasoning health; `progress` after each
/// batch of `cfg.encode_batch`. The trainer's full evaluation and the valid probe both
/// score this way.
pub fn greedy_ranks(
    model: &LoadedModel,
    hook: Option<&dyn LinearHook>,
    lower: Option<&LowerStates>,
    data: &PreparedDataset,
    table: &ItemTable,
    examples: &[&Example],
    cfg: &RecPoConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<Option<usize>>, ReasoningHealth), TrainError> {
    let encoder = policy_encoder(model, hook, data, cfg).with_lower(lower);
    let budget = if cfg.no_reasoning {
        0
    } else {
        cfg.eval_max_new_tokens
    };
    let opts = GenerateOptions {
        max_new_tokens: cfg.eval_max_new_tokens,
        sampling: Sampling::ArgMax,
        ..Default::default()
    };
    let mut ranks = Vec::with_capacity(examples.len());
    let mut chains: Vec<(Vec<u32>, StopReason, String)> = Vec::new();
    for chunk in examples.chunks(cfg.encode_batch.max(1)) {
        let histories = chunk
            .iter()
            .map(|e| history_of(data, e))
            .collect::<Result<Vec<_>, _>>()?;
        let prompts = histories
            .iter()
            .map(|h| encoder.prompt(h, budget))
            .collect::<Result<Vec<_>, _>>()?;
        let vectors = if cfg.no_reasoning {
            encoder.answer_now(&prompts, prompts.len())?
        } else {
            let (out, _) = encoder.reason(&prompts, 1, &opts, &mut |_| {}, None)?;
            let mut vectors = Vec::with_capacity(out.len());
            for c in out {
                chains.push((c.sampled_ids().to_vec(), c.stop, c.text.clone()));
                vectors.push(c.user_vector);
            }
            vectors
        };
        let owners: Vec<_> = histories.iter().collect();
        for (e, r) in chunk.iter().zip(encoder.rank(table, &vectors, &owners, 0)?) {
            if r.target_pos.is_none() {
                return Err(TrainError::Input(format!(
                    "target item `{}` of user `{}` is not in the item table",
                    e.target.item_id, e.user_id
                )));
            }
            ranks.push(r.target_rank);
        }
        progress(ranks.len(), examples.len());
    }
    let health = ReasoningHealth::of(
        chains
            .iter()
            .map(|(t, stop, text)| (t.as_slice(), *stop, text.as_str())),
    );
    Ok((ranks, health))
}

/// Greedy evaluation of the first `cfg.eval_limit` examples of `split`.
pub fn evaluate_split(
    model: &LoadedModel,
    hook: Option<&dyn LinearHook>,
    data: &PreparedDataset,
    table: &ItemTable,
    split: Split,
    cfg: &RecPoConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SplitEval, TrainError> {
    let all = data.split(split);
    let examples: Vec<&Example> = all[..cfg.eval_limit.unwrap_or(all.len()).min(all.len())]
        .iter()
        .collect();
    let (ranks, health) = greedy_ranks(model, hook, None, data, table, &examples, cfg, progress)?;
    Ok(SplitEval {
        metrics: RankingMetrics::from_ranks(&ranks),
        // Per example: the mean over chains, one chain each (0 without reasoning).
        reasoning_len: health.mean_len,
        examples: ranks.len(),
    })
}
