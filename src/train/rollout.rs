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

use super::advantage::{advantages_floored, top_advantage};
use super::config::RecPoConfig;
use super::error::TrainError;
use super::reward::{fused_reward, shaped, Reward};
use crate::data::prepared::PreparedDataset;
use crate::data::{Example, UserHistory};
use crate::eval::health::{repeated_ngram_share, REPEAT_N};
use crate::model::backbone::LinearHook;
use crate::model::chat_template::ANSWER_TAG;
use crate::model::generate::{Chain, GenerateOptions};
use crate::model::loaded::LoadedModel;
use crate::model::lower::LowerStates;
use crate::model::sampling::Sampling;
use crate::rec::pipeline::UserEncoder;
use crate::rec::ranking::masked_rows;
use crate::rec::ItemTable;

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

/// The pipeline as RecPO uses it: the policy's adapter (`hook`), the run's history
/// window and tau.
pub fn policy_encoder<'a>(
    model: &'a LoadedModel,
    hook: Option<&'a dyn LinearHook>,
    data: &'a PreparedDataset,
    cfg: &RecPoConfig,
) -> UserEncoder<'a> {
    UserEncoder::new(model, data)
        .with_hook(hook)
        .with_window(cfg.history_window)
        .with_tau(cfg.tau)
}

/// An example's history, checked as every prompt's is.
pub fn history_of(data: &PreparedDataset, example: &Example) -> Result<UserHistory, TrainError> {
    Ok(UserHistory::of_example(example, &data.catalog)?)
}

/// The user prompt of an example as token ids for a generation budget of `budget`
/// tokens; with `answer_now` followed by `<answer>` (no reasoning: h_T is read there).
pub fn user_prompt_ids(
    encoder: &UserEncoder<'_>,
    example: &Example,
    budget: usize,
    answer_now: bool,
) -> Result<Vec<u32>, TrainError> {
    let prompt = encoder.prompt(&history_of(encoder.data(), example)?, budget)?;
    Ok(if answer_now {
        encoder.answer_ids(&prompt)?
    } else {
        prompt.ids
    })
}

/// Table rows of an example's target and history.
pub fn rows_of(table: &ItemTable, example: &Example) -> Result<(usize, Vec<usize>), TrainError> {
    let target = table.position(&example.target.item_id).ok_or_else(|| {
        TrainError::Input(format!(
            "target item `{}` of user `{}` is not in the item table",
            example.target.item_id, example.user_id
        ))
    })?;
    Ok((target, masked_rows(table, &example.history)))
}

/// Each request's chains in one run, request-major as `reason` returns them: its
/// `greedy` greedy chains first, then its sampled ones, numbered 0..G again.
fn greedy_first(sampled: Vec<Chain>, greedy: Vec<Chain>, per_request: usize) -> Vec<Chain> {
    let mut out = Vec::with_capacity(sampled.len() + greedy.len());
    let mut sampled = sampled.into_iter().peekable();
    let mut greedy = greedy.into_iter().peekable();
    let mut request = 0;
    while sampled.peek().is_some() || greedy.peek().is_some() {
        let start = out.len();
        for _ in 0..per_request {
            out.extend(greedy.next_if(|c| c.request == request));
        }
        while let Some(c) = sampled.next_if(|c| c.request == request) {
            out.push(c);
        }
        for (i, c) in out[start..].iter_mut().enumerate() {
            c.sample = i;
        }
        request += 1;
    }
    out
}

/// Memory for one step's prompts' lower layers (keys, values and states of a batch of
/// users: about 120 MB for 8 SmolLM2-135M prompts of 430 tokens).
const ROLLOUT_LOWER_BUDGET: usize = 1 << 30;

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
    let greedy = cfg.greedy_chains.min(cfg.group_size);
    // The greedy chains start from the same prompts as the sampled ones: their prefill
    // takes the layers below the adapter (the base model's, bit for bit the same) from
    // the sampled chains' prefill instead of running them again.
    let lower = (greedy > 0 && greedy < cfg.group_size)
        .then(|| LowerStates::new(hook.first_adapted_layer(), ROLLOUT_LOWER_BUDGET));
    let encoder = policy_encoder(model, Some(hook), data, cfg).with_lower(lower.as_ref());
    let histories = examples
        .iter()
        .map(|e| history_of(data, e))
        .collect::<Result<Vec<_>, _>>()?;
    let prompts = histories
        .iter()
        .map(|h| encoder.prompt(h, cfg.max_new_tokens))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = GenerateOptions {
        max_new_tokens: cfg.max_new_tokens,
        sampling: cfg.rollout_sampling(),
        seed,
        ..Default::default()
    };
    let (mut chains, gen) =
        encoder.reason(&prompts, cfg.group_size - greedy, &opts, &mut |_| {}, None)?;
    timing.sampled_tokens = gen.generated_tokens;
    if greedy > 0 {
        let argmax = GenerateOptions {
            sampling: Sampling::ArgMax,
            ..opts
        };
        let (g, gen) = encoder.reason(&prompts, greedy, &argmax, &mut |_| {}, None)?;
        timing.sampled_tokens += gen.generated_tokens;
        chains = greedy_first(chains, g, greedy);
    }
    timing.generate_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let tag_tokens = model
        .tokenizer
        .encode(ANSWER_TAG)
        .map_err(crate::model::error::ModelError::from)?
        .len();
    let vectors: Vec<&[f32]> = chains.iter().map(|c| c.user_vector.as_slice()).collect();
    // Invariant: `reason` returns `group_size` chains per prompt, request-major.
    let owners: Vec<&UserHistory> = (0..chains.len())
        .map(|i| &histories[(i / cfg.group_size.max(1)).min(histories.len() - 1)])
        .collect();
    let mut rankings = encoder.rank(table, &vectors, &owners, 0)?.into_iter();
    let mut groups: Vec<Group> = Vec::with_capacity(examples.len());
    let mut chains = chains.into_iter();
    for (example, prompt) in examples.iter().zip(prompts) {
        let (target_row, masked) = rows_of(table, example)?;
        let mut group_chains = Vec::with_capacity(cfg.group_size);
        let mut rewards = Vec::with_capacity(cfg.group_size);
        for _ in 0..cfg.group_size {
            let (chain, ranking) = chains
                .next()
                .zip(rankings.next())
                .ok_or_else(|| TrainError::Input("generation returned too few chains".into()))?;
            let r = fused_reward(&cfg.reward, &ranking.scores, target_row, &masked);
            let repeat4 = repeated_ngram_share(chain.sampled_ids(), REPEAT_N);
            let reasoned = chain.reasoning_tokens(tag_tokens);
            rewards.push(shaped(&cfg.reward, r, chain.stop, repeat4, reasoned));
            group_chains.push(chain);
        }
        let r: Vec<f64> = rewards.iter().map(|r| r.reward).collect();
        let adv = advantages_floored(cfg.advantage, &r, cfg.adv_std_floor);
        let top = top_advantage(&adv, cfg.item_top_k);
        groups.push(Group {
            example: example.clone(),
            prompt_ids: prompt.ids,
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
