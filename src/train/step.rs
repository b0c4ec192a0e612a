//! Step 5 of RecPO (SPEC §5.5): the token loss over every generated token of every
//! chain and the item loss on each group's top-advantage chain(s), through the
//! differentiable path with the adapter as hook; gradients of all adapter variables.
//!
//! Chains go through the differentiable path `train_micro_batch` at a time (one
//! forward and one backward each), and the gradients are summed, so memory holds one
//! micro-batch's activations, never the batch's: candle keeps every intermediate of
//! the unfused path (a group of 4 SmolLM2 chains of ~400 tokens took ~14 GB). Each
//! part of the loss is already divided by the batch-wide counts (total generated
//! tokens, total top chains), so the summed gradient is the gradient of the batch's
//! loss. The batch's target-item vectors are encoded once, with gradient, and
//! their graph is shared by every group's backward.

use std::time::Instant;

use candle_core::{Tensor, Var};

use super::adapter::TrainableAdapter;
use super::config::RecPoConfig;
use super::error::TrainError;
use super::loss::{clipped_objective_sum, in_batch_item_logprobs, token_logprobs, ClipRange};
use super::rollout::Group;
use crate::data::prepared::PreparedDataset;
use crate::data::prompt::item_prompt;
use crate::data::Example;
use crate::model::backbone::LinearHook;
use crate::model::error::ModelError;
use crate::model::loaded::{left_pad, LoadedModel};

/// The losses of one step and the gradient of their sum.
pub struct StepLoss {
    pub loss: f64,
    pub token_loss: f64,
    pub item_loss: f64,
    pub clip_frac: f64,
    /// One entry per adapter variable, in `vars()` order.
    pub grads: Vec<Option<Tensor>>,
    /// The batch's target-item vectors as computed in the step (for the table refresh),
    /// one per example in batch order.
    pub target_vectors: Vec<Vec<f32>>,
    /// Real tokens through the differentiable forward.
    pub train_tokens: usize,
    pub secs: f64,
}

/// Final-norm hidden state at the last token of each sequence `[N, H]`, and the full
/// hidden states `[N, L, H]`, with gradient through `hook`.
fn forward_last(
    model: &LoadedModel,
    seqs: &[Vec<u32>],
    hook: &dyn LinearHook,
) -> Result<(Tensor, Tensor), TrainError> {
    let (ids, pad) = left_pad(seqs, model.device())?;
    let hidden = model
        .backbone
        .forward_hidden_train(&ids, Some(&pad), Some(hook))?;
    let l = hidden.dim(1)?;
    let last = hidden.narrow(1, l - 1, 1)?.squeeze(1)?.contiguous()?;
    Ok((last, hidden))
}

/// Item prompts of the examples' targets, encoded with gradient `[B, H]`.
pub fn encode_targets(
    model: &LoadedModel,
    data: &PreparedDataset,
    examples: &[Example],
    hook: &dyn LinearHook,
) -> Result<(Tensor, usize), TrainError> {
    let domain = data.domain();
    let seqs = examples
        .iter()
        .map(|e| {
            let item = data.catalog.get(&e.target.item_id).ok_or_else(|| {
                TrainError::Input(format!(
                    "target item `{}` is not in the catalogue",
                    e.target.item_id
                ))
            })?;
            let text = item_prompt(&model.template, &domain, item);
            Ok(model.tokenizer.encode(&text).map_err(ModelError::from)?)
        })
        .collect::<Result<Vec<_>, TrainError>>()?;
    let tokens = seqs.iter().map(Vec::len).sum();
    Ok((forward_last(model, &seqs, hook)?.0, tokens))
}

/// `same[i][j]`: examples i and j share their target item.
fn same_targets(examples: &[Example]) -> Vec<Vec<bool>> {
    examples
        .iter()
        .map(|a| {
            examples
                .iter()
                .map(|b| a.target.item_id == b.target.item_id)
                .collect()
        })
        .collect()
}

/// Adds `grads` of this backward into `acc`.
fn accumulate(
    acc: &mut [Option<Tensor>],
    vars: &[Var],
    grads: &candle_core::backprop::GradStore,
) -> candle_core::Result<()> {
    for (slot, var) in acc.iter_mut().zip(vars) {
        if let Some(g) = grads.get(var.as_tensor()) {
            *slot = Some(match slot.take() {
                Some(s) => (s + g)?,
                None => g.clone(),
            });
        }
    }
    Ok(())
}

/// What every micro-batch's share of RecPO's loss reads from the whole batch.
struct BatchTerms<'a> {
    model: &'a LoadedModel,
    clip: ClipRange,
    tau: f64,
    /// The batch's target-item vectors `[B, H]`, with gradient.
    items: &'a Tensor,
    /// `same[g][j]`: group g's target is also example j's (see [`same_targets`]).
    same: &'a [Vec<bool>],
    /// Generated tokens of every chain in the batch: the token loss's divisor.
    total_tokens: usize,
    /// Top-advantage chains in the batch: the item loss's divisor.
    total_top: usize,
}

impl<'a> BatchTerms<'a> {
    /// The terms of the loss of `groups`, whose target-item vectors are `items`.
    fn new(
        model: &'a LoadedModel,
        cfg: &RecPoConfig,
        groups: &[Group],
        items: &'a Tensor,
        same: &'a [Vec<bool>],
    ) -> Self {
        Self {
            model,
            clip: ClipRange {
                eps_low: cfg.eps_low,
                eps_high: cfg.eps_high,
            },
            tau: cfg.tau as f64,
            items,
            same,
            total_tokens: groups
                .iter()
                .flat_map(|g| &g.chains)
                .map(|c| c.sampled_tokens)
                .sum(),
            total_top: groups.iter().map(|g| g.top.len()).sum(),
        }
    }

    /// Token loss per chain (SPEC §5.5): the clipped surrogate over the micro-batch's
    /// sampled tokens, each with its chain's advantage, over the batch's token count;
    /// with how many were clipped. `None` when the chains sampled no token.
    fn token_part(
        &self,
        group: &Group,
        chunk: &[usize],
        seqs: &[Vec<u32>],
        hidden: &Tensor,
    ) -> Result<Option<(Tensor, usize)>, TrainError> {
        let (rows, l, h) = hidden.dims3()?;
        // Position of each sampled token's prediction in the flattened [rows * L, H].
        let (mut at, mut targets, mut adv) = (Vec::new(), Vec::new(), Vec::new());
        for (row, (&i, seq)) in chunk.iter().zip(seqs).enumerate() {
            let c = &group.chains[i];
            let first = l - seq.len() + group.prompt_ids.len();
            for j in 0..c.sampled_tokens {
                at.push((row * l + first + j - 1) as u32);
                targets.push(c.token_ids[j]);
                adv.push(group.advantages[i] as f32);
            }
        }
        if at.is_empty() {
            return Ok(None);
        }
        let device = self.model.device();
        let idx = Tensor::new(at.as_slice(), device)?;
        let picked = hidden.reshape((rows * l, h))?.index_select(&idx, 0)?;
        let logp = token_logprobs(&self.model.backbone.logits_train(&picked)?, &targets)?;
        let adv = Tensor::new(adv.as_slice(), device)?;
        let s = clipped_objective_sum(&logp, &logp.detach(), &adv, self.clip)?;
        Ok(Some(((s.loss_sum / self.total_tokens as f64)?, s.clipped)))
    }

    /// Item loss (SPEC §5.5): the clipped surrogate of the h_T of the micro-batch's
    /// top-advantage chains of group `g` against the batch's target items, over the
    /// batch's top-chain count. `None` when none of them is top.
    fn item_part(
        &self,
        g: usize,
        group: &Group,
        chunk: &[usize],
        last: &Tensor,
    ) -> Result<Option<Tensor>, TrainError> {
        let top_rows: Vec<u32> = (0..chunk.len())
            .filter(|&r| group.top.contains(&chunk[r]))
            .map(|r| r as u32)
            .collect();
        if top_rows.is_empty() {
            return Ok(None);
        }
        let device = self.model.device();
        let h_t = last.index_select(&Tensor::new(top_rows.as_slice(), device)?, 0)?;
        let own = vec![g; top_rows.len()];
        let same_rows = vec![self.same[g].clone(); top_rows.len()];
        let logp = in_batch_item_logprobs(&h_t, self.items, &own, &same_rows, self.tau)?;
        let adv: Vec<f32> = top_rows
            .iter()
            .map(|&r| group.advantages[chunk[r as usize]] as f32)
            .collect();
        let adv = Tensor::new(adv.as_slice(), device)?;
        let s = clipped_objective_sum(&logp, &logp.detach(), &adv, self.clip)?;
        Ok(Some((s.loss_sum / self.total_top as f64)?))
    }
}

/// RecPO's loss over the sampled groups, and its gradient (SPEC §5.5): one forward and
/// one backward per micro-batch of a group's chains, the gradients summed.
pub fn recpo_loss(
    model: &LoadedModel,
    adapter: &dyn TrainableAdapter,
    data: &PreparedDataset,
    groups: &[Group],
    cfg: &RecPoConfig,
) -> Result<StepLoss, TrainError> {
    let start = Instant::now();
    let vars = adapter.vars();
    let hook: &dyn LinearHook = adapter;
    let examples: Vec<Example> = groups.iter().map(|g| g.example.clone()).collect();
    let same = same_targets(&examples);
    let (items, item_tokens) = encode_targets(model, data, &examples, hook)?;
    let terms = BatchTerms::new(model, cfg, groups, &items, &same);
    let mut acc: Vec<Option<Tensor>> = vec![None; vars.len()];
    let (mut token_loss, mut item_loss, mut clipped) = (0.0f64, 0.0f64, 0usize);
    let mut train_tokens = item_tokens;
    for (g, group) in groups.iter().enumerate() {
        let ids: Vec<usize> = (0..group.chains.len()).collect();
        for chunk in ids.chunks(cfg.train_micro_batch.max(1)) {
            let seqs: Vec<Vec<u32>> = chunk
                .iter()
                .map(|&i| [group.prompt_ids.as_slice(), &group.chains[i].token_ids].concat())
                .collect();
            train_tokens += seqs.iter().map(Vec::len).sum::<usize>();
            let (last, hidden) = forward_last(model, &seqs, hook)?;
            let mut loss = Tensor::zeros((), candle_core::DType::F32, model.device())?;
            if let Some((part, n)) = terms.token_part(group, chunk, &seqs, &hidden)? {
                clipped += n;
                token_loss += f64::from(part.to_scalar::<f32>()?);
                loss = (loss + part)?;
            }
            if let Some(part) = terms.item_part(g, group, chunk, &last)? {
                item_loss += f64::from(part.to_scalar::<f32>()?);
                loss = (loss + part)?;
            }
            accumulate(&mut acc, &vars, &loss.backward()?)?;
        }
    }
    Ok(StepLoss {
        loss: token_loss + item_loss,
        token_loss,
        item_loss,
        clip_frac: if terms.total_tokens > 0 {
            clipped as f64 / terms.total_tokens as f64
        } else {
            0.0
        },
        grads: acc,
        target_vectors: items.detach().to_vec2::<f32>()?,
        train_tokens,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// The "w/o reasoning" ablation's loss: h_T straight after the prompt and `<answer>`,
/// plain cross-entropy of each user's target among the batch's targets. Returns the
/// loss and the user vectors (for logging their full-catalogue reward).
pub fn contrastive_loss(
    model: &LoadedModel,
    adapter: &dyn TrainableAdapter,
    data: &PreparedDataset,
    examples: &[Example],
    prompts: &[Vec<u32>],
    cfg: &RecPoConfig,
) -> Result<(StepLoss, Vec<Vec<f32>>), TrainError> {
    let start = Instant::now();
    let vars = adapter.vars();
    let hook: &dyn LinearHook = adapter;
    let (items, item_tokens) = encode_targets(model, data, examples, hook)?;
    let (users, _) = forward_last(model, prompts, hook)?;
    let own: Vec<usize> = (0..examples.len()).collect();
    let logp = in_batch_item_logprobs(
        &users,
        &items,
        &own,
        &same_targets(examples),
        cfg.tau as f64,
    )?;
    let loss = logp.mean_all()?.neg()?;
    let mut acc: Vec<Option<Tensor>> = vec![None; vars.len()];
    accumulate(&mut acc, &vars, &loss.backward()?)?;
    let value = f64::from(loss.to_scalar::<f32>()?);
    let step = StepLoss {
        loss: value,
        token_loss: 0.0,
        item_loss: value,
        clip_frac: 0.0,
        grads: acc,
        target_vectors: items.detach().to_vec2::<f32>()?,
        train_tokens: item_tokens + prompts.iter().map(Vec::len).sum::<usize>(),
        secs: start.elapsed().as_secs_f64(),
    };
    Ok((step, users.detach().to_vec2::<f32>()?))
}
