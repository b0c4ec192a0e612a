//! Steps 1–4 of RecPO (SPEC §5): G chains sampled per user from the current policy,
//! each chain's h_T scored against the full item table with the history masked, the
//! fused reward, and advantages within each user's group.
//!
//! Rollouts run on the fast (quantized, KV-cached) path with the adapter as a hook on
//! every projection, not on a backbone with the adapter merged in: re-merging would
//! re-quantize ~100M weights after every update, and at lr 1e-5 a LoRA delta is far
//! below a Q4_1 quantization step, so a merged-and-requantized policy would barely
//! differ from the base model. The hook adds `scale * B(A x)` to each quantized output,
//! which costs a rank-r matmul per projection and always samples the current policy.

use std::time::Instant;

use super::advantage::{advantages, top_advantage};
use super::config::RecPoConfig;
use super::error::TrainError;
use super::reward::{fused_reward, Reward};
use crate::data::chat_template::Message;
use crate::data::prepared::PreparedDataset;
use crate::data::prompt::{user_prompt_text, ANSWER_TAG};
use crate::data::Example;
use crate::model::backbone::LinearHook;
use crate::model::generate::{generate_batch_hooked, Chain, GenerateOptions, GenerateRequest};
use crate::model::loaded::LoadedModel;
use crate::rec::{batch_user_scores, mask_history, ItemTable};

/// One user's group: the prompt, G chains, their rewards and advantages.
pub struct Group {
    pub example: Example,
    pub prompt_ids: Vec<u32>,
    /// Row of the target in the item table.
    pub target_row: usize,
    /// Rows of the history (masked in scoring).
    pub masked: Vec<usize>,
    pub chains: Vec<Chain>,
    pub rewards: Vec<Reward>,
    pub advantages: Vec<f64>,
    /// Chains whose h_T gets the item loss.
    pub top: Vec<usize>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RolloutTiming {
    pub generate_secs: f64,
    pub scoring_secs: f64,
    pub sampled_tokens: usize,
}

/// The rendered user prompt of an example (assistant turn opened), as token ids; with
/// `answer_now` followed by `<answer>` (no reasoning: h_T is read right there).
pub fn user_prompt_ids(
    model: &LoadedModel,
    data: &PreparedDataset,
    example: &Example,
    window: usize,
    answer_now: bool,
) -> Result<Vec<u32>, TrainError> {
    let text = user_prompt_text(
        &data.domain(),
        &example.history,
        example.target.timestamp,
        &data.catalog,
        window,
    )?;
    let mut prompt = model.template.render(&[Message::user(text)], true);
    if answer_now {
        prompt.push_str(ANSWER_TAG);
    }
    Ok(model
        .tokenizer
        .encode(&prompt)
        .map_err(crate::model::error::ModelError::from)?)
}

/// Table rows of an example's target and history.
pub fn rows_of(table: &ItemTable, example: &Example) -> Result<(usize, Vec<usize>), TrainError> {
    let target = table.position(&example.target.item_id).ok_or_else(|| {
        TrainError::Input(format!(
            "target item `{}` of user `{}` is not in the item table",
            example.target.item_id, example.user_id
        ))
    })?;
    let masked = example
        .history
        .iter()
        .filter_map(|h| table.position(&h.item_id))
        .collect();
    Ok((target, masked))
}

/// Sample, score and reward G chains for each example; `seed` makes the step's
/// sampling reproducible (resume).
pub fn sample_groups(
    model: &LoadedModel,
    hook: &dyn LinearHook,
    data: &PreparedDataset,
    table: &ItemTable,
    examples: &[Example],
    cfg: &RecPoConfig,
    seed: u64,
) -> Result<(Vec<Group>, RolloutTiming), TrainError> {
    let mut timing = RolloutTiming::default();
    let t = Instant::now();
    let prompts = examples
        .iter()
        .map(|e| user_prompt_ids(model, data, e, cfg.history_window, false))
        .collect::<Result<Vec<_>, _>>()?;
    let requests: Vec<GenerateRequest> = prompts
        .iter()
        .map(|p| GenerateRequest {
            prompt_ids: p.clone(),
            samples: cfg.group_size,
        })
        .collect();
    let opts = GenerateOptions {
        max_new_tokens: cfg.max_new_tokens,
        sampling: cfg.rollout_sampling(),
        seed,
        ..Default::default()
    };
    let (chains, gen) = generate_batch_hooked(
        &model.backbone,
        Some(hook),
        &model.tokenizer,
        &requests,
        &opts,
        &mut |_| {},
        None,
    )?;
    timing.generate_secs = t.elapsed().as_secs_f64();
    timing.sampled_tokens = gen.generated_tokens;

    let t = Instant::now();
    let vectors: Vec<&[f32]> = chains.iter().map(|c| c.user_vector.as_slice()).collect();
    let mut scores = batch_user_scores(table, &vectors, cfg.tau)?;
    let mut groups: Vec<Group> = Vec::with_capacity(examples.len());
    let mut chains = chains.into_iter();
    let mut scores_iter = scores.iter_mut();
    for (example, prompt_ids) in examples.iter().zip(prompts) {
        let (target_row, masked) = rows_of(table, example)?;
        let mut group_chains = Vec::with_capacity(cfg.group_size);
        let mut rewards = Vec::with_capacity(cfg.group_size);
        for _ in 0..cfg.group_size {
            // Invariant: generate_batch returns `samples` chains per request, request-major.
            let (chain, s) = chains
                .next()
                .zip(scores_iter.next())
                .ok_or_else(|| TrainError::Input("generation returned too few chains".into()))?;
            mask_history(s, &masked);
            rewards.push(fused_reward(&cfg.reward, s, target_row, &masked));
            group_chains.push(chain);
        }
        let r: Vec<f64> = rewards.iter().map(|r| r.reward).collect();
        let adv = advantages(cfg.advantage, &r);
        let top = top_advantage(&adv, cfg.item_top_k);
        groups.push(Group {
            example: example.clone(),
            prompt_ids,
            target_row,
            masked,
            chains: group_chains,
            rewards,
            advantages: adv,
            top,
        });
    }
    timing.scoring_secs = t.elapsed().as_secs_f64();
    Ok((groups, timing))
}
