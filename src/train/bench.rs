//! The cost of one RecPO step, split into rollout (sampling the chains), scoring
//! (full-catalogue cosine, rewards, advantages) and backward (the differentiable
//! forward of every chain and item prompt plus its backward), with token rates.
//! Nothing is written and the adapter is left as it was (no optimizer update).

use serde::Serialize;

use super::adapter::TrainableAdapter;
use super::config::RecPoConfig;
use super::error::TrainError;
use super::rollout::sample_groups;
use super::step::recpo_loss;
use crate::data::prepared::PreparedDataset;
use crate::model::loaded::LoadedModel;
use crate::rec::ItemTable;

#[derive(Debug, Clone, Serialize)]
pub struct StepBench {
    pub users: usize,
    pub group_size: usize,
    pub max_new_tokens: usize,
    pub rollout_secs: f64,
    pub scoring_secs: f64,
    pub backward_secs: f64,
    pub rollout_tokens: usize,
    pub train_tokens: usize,
    pub rollout_tokens_per_sec: f64,
    pub train_tokens_per_sec: f64,
}

/// One step on the first `cfg.users_per_step` train examples.
pub fn bench_step(
    model: &LoadedModel,
    adapter: &dyn TrainableAdapter,
    data: &PreparedDataset,
    table: &ItemTable,
    cfg: &RecPoConfig,
) -> Result<StepBench, TrainError> {
    let n = cfg.users_per_step.min(data.train.len());
    let examples = &data.train[..n];
    adapter.set_training(false);
    let (groups, timing) = sample_groups(model, adapter, data, table, examples, cfg, cfg.seed)?;
    adapter.set_training(true);
    let loss = recpo_loss(model, adapter, data, &groups, cfg);
    adapter.set_training(false);
    let loss = loss?;
    let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    Ok(StepBench {
        users: n,
        group_size: cfg.group_size,
        max_new_tokens: cfg.max_new_tokens,
        rollout_secs: timing.generate_secs,
        scoring_secs: timing.scoring_secs,
        backward_secs: loss.secs,
        rollout_tokens: timing.sampled_tokens,
        train_tokens: loss.train_tokens,
        rollout_tokens_per_sec: rate(timing.sampled_tokens, timing.generate_secs),
        train_tokens_per_sec: rate(loss.train_tokens, loss.secs),
    })
}
