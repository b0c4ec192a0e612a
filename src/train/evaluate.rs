//! Evaluation during training (SPEC §4, §5.6–7): the whole item table rebuilt with the
//! current adapter, then greedy chains for the first N examples of a split, full
//! ranking with the history masked, Hit/NDCG@5/10/20 and the mean reasoning length.

use super::config::RecPoConfig;
use super::error::TrainError;
use super::rollout::{rows_of, user_prompt_ids};
use crate::data::prepared::{PreparedDataset, Split};
use crate::eval::metrics::{rank_of_target, RankingMetrics};
use crate::model::backbone::LinearHook;
use crate::model::error::ModelError;
use crate::model::generate::{generate_batch_hooked, GenerateOptions, GenerateRequest};
use crate::model::loaded::LoadedModel;
use crate::model::sampling::Sampling;
use crate::rec::{batch_user_scores, mask_history, ItemEncoder, ItemTable};

/// The backbone with an adapter on its fast path, as an item encoder.
pub struct AdaptedEncoder<'a> {
    pub model: &'a LoadedModel,
    pub hook: Option<&'a dyn LinearHook>,
    pub batch: usize,
}

impl ItemEncoder for AdaptedEncoder<'_> {
    type Error = ModelError;

    fn encode(&mut self, prompts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        let ids = prompts
            .iter()
            .map(|p| self.model.tokenizer.encode(p))
            .collect::<Result<Vec<_>, _>>()?;
        self.model.last_hidden_hooked(&ids, self.batch, self.hook)
    }

    fn dim(&self) -> usize {
        self.model.config().hidden_size
    }
}

/// Every catalogue item encoded again through the adapter.
pub fn rebuild_table(
    model: &LoadedModel,
    hook: Option<&dyn LinearHook>,
    data: &PreparedDataset,
    batch: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ItemTable, TrainError> {
    let mut enc = AdaptedEncoder { model, hook, batch };
    Ok(ItemTable::build(
        &data.catalog,
        &data.domain(),
        &model.template,
        &mut enc,
        batch,
        progress,
    )?)
}

pub struct SplitEval {
    pub metrics: RankingMetrics,
    pub reasoning_len: f64,
    pub examples: usize,
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
    let examples = &all[..cfg.eval_limit.unwrap_or(all.len()).min(all.len())];
    let mut ranks = Vec::with_capacity(examples.len());
    let mut tokens = 0usize;
    let opts = GenerateOptions {
        max_new_tokens: cfg.eval_max_new_tokens,
        sampling: Sampling::ArgMax,
        ..Default::default()
    };
    for chunk in examples.chunks(cfg.encode_batch.max(1)) {
        let prompts = chunk
            .iter()
            .map(|e| user_prompt_ids(model, data, e, cfg.history_window, cfg.no_reasoning))
            .collect::<Result<Vec<_>, _>>()?;
        let vectors = if cfg.no_reasoning {
            model.last_hidden_hooked(&prompts, prompts.len(), hook)?
        } else {
            let requests: Vec<GenerateRequest> = prompts
                .into_iter()
                .map(|prompt_ids| GenerateRequest {
                    prompt_ids,
                    samples: 1,
                })
                .collect();
            let (chains, _) = generate_batch_hooked(
                &model.backbone,
                hook,
                &model.tokenizer,
                &requests,
                &opts,
                &mut |_| {},
                None,
            )?;
            tokens += chains.iter().map(|c| c.sampled_tokens).sum::<usize>();
            chains.into_iter().map(|c| c.user_vector).collect()
        };
        let mut scores = batch_user_scores(table, &vectors, cfg.tau)?;
        for (e, s) in chunk.iter().zip(scores.iter_mut()) {
            let (target, masked) = rows_of(table, e)?;
            mask_history(s, &masked);
            ranks.push(rank_of_target(s, target, &masked));
        }
        progress(ranks.len(), examples.len());
    }
    Ok(SplitEval {
        metrics: RankingMetrics::from_ranks(&ranks),
        reasoning_len: if ranks.is_empty() {
            0.0
        } else {
            tokens as f64 / ranks.len() as f64
        },
        examples: ranks.len(),
    })
}
