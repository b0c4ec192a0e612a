//! The cost of one training step, as users per hour and where the time goes: rollout
//! (sampling the chains and scoring them), the prompts' differentiable pass, the chains',
//! the item side, the optimizer update and the refresh of the batch targets' table rows.
//! Nothing is written; the adapter is updated in memory only.
//!
//! `PRESETS` are the configurations the README compares; `r2ec train --bench` runs
//! each in turn, restarting the peak-memory count before each.

use std::time::Instant;

use serde::Serialize;

use super::adapter::TrainableAdapter;
use super::config::RecPoConfig;
use super::contrastive::{contrastive_loss, UserBatch};
use super::error::TrainError;
use super::evaluate::encode_items;
use super::loss::run_scoring;
use super::optim::{clip_grad_norm, AdamW, AdamWParams};
use super::rollout::{policy_encoder, sample_groups, user_prompt_ids, RolloutTiming};
use super::step::{recpo_loss, LossSplit, StepLoss};
use crate::data::prepared::PreparedDataset;
use crate::model::loaded::LoadedModel;
use crate::rec::ItemTable;

/// A named bench configuration: (name, w/o reasoning, users, LoRA top layers).
pub struct Preset {
    pub name: &'static str,
    pub no_reasoning: bool,
    pub users: usize,
    pub lora_layers: Option<usize>,
}

/// RecPO at B = 8, G = 4, 64 tokens; w/o reasoning at B = 64; each exact and with LoRA
/// on the top 8 layers.
pub const PRESETS: [Preset; 4] = [
    Preset {
        name: "recpo-exact",
        no_reasoning: false,
        users: 8,
        lora_layers: None,
    },
    Preset {
        name: "recpo-lora8",
        no_reasoning: false,
        users: 8,
        lora_layers: Some(8),
    },
    Preset {
        name: "wo-reasoning-exact",
        no_reasoning: true,
        users: 64,
        lora_layers: None,
    },
    Preset {
        name: "wo-reasoning-lora8",
        no_reasoning: true,
        users: 64,
        lora_layers: Some(8),
    },
];

impl Preset {
    pub fn find(name: &str) -> Option<&'static Preset> {
        PRESETS.iter().find(|p| p.name == name)
    }

    /// `base` with this preset's batch and method (G = 4, 64 tokens for RecPO).
    pub fn config(&self, base: &RecPoConfig) -> RecPoConfig {
        RecPoConfig {
            no_reasoning: self.no_reasoning,
            users_per_step: self.users,
            group_size: 4,
            max_new_tokens: 64,
            ..base.clone()
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepBench {
    pub config: String,
    pub users: usize,
    pub group_size: usize,
    pub max_new_tokens: usize,
    pub lora_layers: Option<usize>,
    pub users_per_hour: f64,
    pub step_secs: f64,
    /// Tokens through the differentiable path per second of the loss and its gradient.
    pub fwd_bwd_tok_s: f64,
    pub train_tokens: usize,
    pub rollout_secs: f64,
    pub rollout_tokens: usize,
    pub rollout_tokens_per_sec: f64,
    pub scoring_secs: f64,
    #[serde(flatten)]
    pub split: LossSplit,
    pub optimizer_secs: f64,
    pub table_refresh_secs: f64,
    /// Set by the caller, after the step (Linux `VmHWM`).
    pub peak_rss_mib: Option<f64>,
}

/// One step on `cfg.users_per_step` train examples spread over the split (so prompts
/// have the lengths training meets, not only the short first histories).
pub fn bench_step(
    name: &str,
    model: &LoadedModel,
    adapter: &dyn TrainableAdapter,
    data: &PreparedDataset,
    table: &ItemTable,
    cfg: &RecPoConfig,
    lora_layers: Option<usize>,
) -> Result<StepBench, TrainError> {
    let n = cfg.users_per_step.min(data.train.len());
    let stride = (data.train.len() / n.max(1)).max(1);
    let examples: Vec<_> = (0..n).map(|i| data.train[i * stride].clone()).collect();
    let start = Instant::now();
    adapter.set_training(false);
    let scoring = run_scoring(cfg, data, table, model.device())?;
    let (loss, timing) = if cfg.no_reasoning {
        let encoder = policy_encoder(model, None, data, cfg);
        let prompts = examples
            .iter()
            .map(|e| user_prompt_ids(&encoder, e, 0, true))
            .collect::<Result<Vec<_>, _>>()?;
        adapter.set_training(true);
        let out = contrastive_loss(
            model,
            adapter,
            data,
            UserBatch {
                examples: &examples,
                prompts: &prompts,
            },
            cfg,
            &scoring,
            cfg.seed,
        );
        adapter.set_training(false);
        (out?.0, RolloutTiming::default())
    } else {
        let (groups, timing) =
            sample_groups(model, adapter, data, table, &examples, cfg, cfg.seed)?;
        adapter.set_training(true);
        let loss = recpo_loss(model, adapter, data, &groups, cfg, &scoring, cfg.seed);
        adapter.set_training(false);
        (loss?, timing)
    };
    let (loss_secs, train_tokens, split) = (loss.secs, loss.train_tokens, loss.split);
    let (optimizer_secs, table_refresh_secs) = update(model, adapter, data, &examples, loss, cfg)?;
    let step_secs = start.elapsed().as_secs_f64();
    let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    Ok(StepBench {
        config: name.to_string(),
        users: n,
        group_size: if cfg.no_reasoning { 0 } else { cfg.group_size },
        max_new_tokens: if cfg.no_reasoning {
            0
        } else {
            cfg.max_new_tokens
        },
        lora_layers,
        users_per_hour: rate(n, step_secs) * 3600.0,
        step_secs,
        fwd_bwd_tok_s: rate(train_tokens, loss_secs),
        train_tokens,
        rollout_secs: timing.generate_secs,
        rollout_tokens: timing.sampled_tokens,
        rollout_tokens_per_sec: rate(timing.sampled_tokens, timing.generate_secs),
        scoring_secs: timing.scoring_secs,
        split,
        optimizer_secs,
        table_refresh_secs,
        peak_rss_mib: None,
    })
}

/// The update as the trainer does it: clip, AdamW, then the targets' rows re-encoded
/// with dropout off. Returns (optimizer seconds, refresh seconds).
fn update(
    model: &LoadedModel,
    adapter: &dyn TrainableAdapter,
    data: &PreparedDataset,
    examples: &[crate::data::Example],
    mut loss: StepLoss,
    cfg: &RecPoConfig,
) -> Result<(f64, f64), TrainError> {
    let t = Instant::now();
    let params = AdamWParams {
        beta1: cfg.adam_beta1,
        beta2: cfg.adam_beta2,
        eps: cfg.adam_eps,
        weight_decay: cfg.weight_decay,
    };
    let mut optim = AdamW::new(adapter.vars(), params)?;
    clip_grad_norm(&mut loss.grads, cfg.max_grad_norm)?;
    optim.step(&loss.grads, cfg.lr)?;
    let optimizer_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let ids: Vec<&str> = examples.iter().map(|e| e.target.item_id.as_str()).collect();
    encode_items(model, Some(adapter), data, &ids)?;
    Ok((optimizer_secs, t.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::evaluate::rebuild_table;
    use crate::train::testing::{paired_dataset, tiny_model, TinyLora};

    #[test]
    fn both_methods_time_a_whole_step() {
        let model = tiny_model(2);
        let adapter = TinyLora::new(model.config(), 2, 2.0, 1);
        let data = paired_dataset(8, 16, 3);
        let table = rebuild_table(&model, Some(&adapter), None, &data, 8, &mut |_, _| {}).unwrap();
        for preset in [&PRESETS[0], &PRESETS[2]] {
            let base = RecPoConfig {
                max_new_tokens: 4,
                ..Default::default()
            };
            let cfg = RecPoConfig {
                users_per_step: 4,
                max_new_tokens: 4,
                ..preset.config(&base)
            };
            let b = bench_step(preset.name, &model, &adapter, &data, &table, &cfg, None).unwrap();
            assert_eq!((b.config.as_str(), b.users), (preset.name, 4));
            assert!(b.users_per_hour > 0.0 && b.fwd_bwd_tok_s > 0.0, "{b:?}");
            assert!(b.train_tokens > 0 && b.split.items_secs > 0.0, "{b:?}");
            assert_eq!(b.rollout_tokens > 0, !preset.no_reasoning, "{b:?}");
        }
        assert!(Preset::find("recpo-lora8").is_some() && Preset::find("nope").is_none());
    }
}
