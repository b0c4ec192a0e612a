//! Step 5 of RecPO (SPEC §5.5): the token loss over every generated token of every
//! chain and the item loss on each group's top-advantage chain(s), through the
//! differentiable path with the adapter as hook; gradients of all adapter variables.
//!
//! Exact cost cuts (same gradient as one forward and backward per chain over prompt +
//! chain, checked against that reference in `step/tests.rs`):
//! - one prompt pass per group: the G chains of a user share the prompt, so its forward
//!   runs once and the chains continue after its keys and values (`TrainPrefix`);
//! - chains go through `train_micro_batch` at a time, each micro-batch with its own
//!   backward, so memory holds the prompt and one micro-batch's activations. The
//!   prompt's keys and values, and its last hidden state, are leaves of those passes:
//!   their gradients are summed, and the prompt's graph is walked once with the sum;
//! - the item side once: the batch's target-item vectors are encoded with gradient once,
//!   they are a leaf of every group's backward, and one backward through the item
//!   prompts carries the summed gradient of the vectors;
//! - logits only where used: the token head runs on the positions that predict a
//!   sampled token, never on the prompt;
//! - with the adapter on the top layers only, the layers below it (the base model's, no
//!   gradient) run for the prompt and all G chains in one fast pass without graph, over
//!   the same f32 weights (`Backbone::forward_lower_prefix`); the differentiable passes
//!   start from its states.
//!
//! With `cfg.ending_loss`, a third term: the cross-entropy of the `<answer>` appended to
//! each group's best chain when that chain ran out of budget ([`ending_chain`]). Its
//! rows are already in the chain's pass (h_T is read after the appended tag), so it
//! costs the token head on a few more positions.
//!
//! Each part of the loss is already divided by the batch-wide counts (total generated
//! tokens, total top chains), so the summed gradient is the gradient of the batch's
//! loss.

use std::time::Instant;

use candle_core::{DType, Tensor, Var};

use super::adapter::TrainableAdapter;
use super::config::RecPoConfig;
use super::error::TrainError;
use super::loss::{
    clipped_objective_sum, in_batch_item_logprobs, table_logprobs, token_logprobs, ClipRange,
    ItemScoring,
};
use super::rollout::Group;
use crate::data::prepared::PreparedDataset;
use crate::data::Example;
use crate::model::backbone::LinearHook;
use crate::model::generate::StopReason;
use crate::model::loaded::{left_pad, LoadedModel};

/// The chain of `group` whose appended `<answer>` the ending loss trains: its best chain
/// (first top-advantage one) when its advantage is positive and the budget cut it, so
/// the tag was forced, not written. A policy that never writes the tag after reasoning
/// is never paid for it; this term makes the tag likely where the group's best
/// reasoning stopped, from the model's own chain (no annotated text).
pub fn ending_chain(group: &Group) -> Option<usize> {
    let &i = group.top.first()?;
    let c = group.chains.get(i)?;
    (c.stop == StopReason::MaxTokens
        && group.advantages.get(i).is_some_and(|&a| a > 0.0)
        && c.token_ids.len() > c.sampled_tokens)
        .then_some(i)
}

/// The losses of one step and the gradient of their sum.
pub struct StepLoss {
    pub loss: f64,
    pub token_loss: f64,
    pub item_loss: f64,
    /// The item side as a plain in-batch cross-entropy: mean -log p(target) of the h_T
    /// that got the item loss, against the batch's target items; chance is
    /// ln(1 + item_negatives).
    pub item_ce: f64,
    /// Distinct other target items each h_T is scored against.
    pub item_negatives: usize,
    /// The full-table term's cross-entropy (`cfg.table_loss`; None without it).
    pub table_ce: Option<f64>,
    /// The ending loss as added to the total (its weight included; 0 without it).
    pub ending_loss: f64,
    /// Mean -log p of the appended tags' tokens it trained, and how many chains had
    /// one (None without the ending loss).
    pub ending_ce: Option<f64>,
    pub endings: usize,
    pub clip_frac: f64,
    /// One entry per adapter variable, in `vars()` order.
    pub grads: Vec<Option<Tensor>>,
    /// The batch's target-item vectors as computed in the step (for the table refresh),
    /// one per example in batch order.
    pub target_vectors: Vec<Vec<f32>>,
    /// Real tokens through the differentiable forward.
    pub train_tokens: usize,
    pub secs: f64,
    /// Where `secs` went: the prompts' forward and their one backward, the chains'
    /// forward and backward passes, the item prompts' forward and backward.
    pub split: LossSplit,
}

/// Seconds of one step's loss and gradient, by part.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct LossSplit {
    pub prompt_secs: f64,
    pub chains_secs: f64,
    pub items_secs: f64,
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

/// Item prompts of the examples' targets, then of the catalogue items at `extra`,
/// encoded with gradient `[B + extra, H]`; with their token count.
pub fn encode_targets(
    model: &LoadedModel,
    data: &PreparedDataset,
    examples: &[Example],
    extra: &[usize],
    hook: &dyn LinearHook,
) -> Result<(Tensor, usize), TrainError> {
    let mut seqs = super::contrastive::target_prompts(model, data, examples)?;
    seqs.extend(super::contrastive::position_prompts(model, data, extra)?);
    let tokens = seqs.iter().map(Vec::len).sum();
    Ok((forward_last(model, &seqs, hook)?.0, tokens))
}

/// `same[i][j]`: column j holds the item of row i's target; the first `b` columns are
/// the rows' own targets (catalogue positions, see [`catalog_positions`]).
pub(super) fn same_columns(columns: &[usize], b: usize) -> Vec<Vec<bool>> {
    (0..b)
        .map(|i| columns.iter().map(|&c| c == columns[i]).collect())
        .collect()
}

/// Distinct items among the columns but one: the negatives of each user.
pub(super) fn distinct_negatives(columns: &[usize]) -> usize {
    let distinct: std::collections::HashSet<usize> = columns.iter().copied().collect();
    distinct.len().saturating_sub(1)
}

/// Adds `grads` of this backward into `acc`.
pub(super) fn accumulate(
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

/// Catalogue positions of the examples' targets (the in-batch columns); a target
/// outside the catalogue is an error that names it.
pub fn catalog_positions(
    data: &PreparedDataset,
    examples: &[Example],
) -> Result<Vec<usize>, TrainError> {
    examples
        .iter()
        .map(|e| {
            data.catalog.position(&e.target.item_id).ok_or_else(|| {
                TrainError::Input(format!(
                    "user `{}`: target item `{}` is not in the catalogue",
                    e.user_id, e.target.item_id
                ))
            })
        })
        .collect()
}

/// What every micro-batch's share of RecPO's loss reads from the whole batch.
struct BatchTerms<'a> {
    model: &'a LoadedModel,
    clip: ClipRange,
    scoring: &'a ItemScoring,
    /// The columns' logQ correction (`None` without it).
    log_q: Option<Vec<f32>>,
    /// The batch's target-item vectors `[B, H]`, with gradient.
    items: &'a Tensor,
    /// `same[g][j]`: group g's target is also example j's (see [`same_columns`]).
    same: &'a [Vec<bool>],
    /// Group g's target and history as catalogue positions (the full-table term).
    positions: &'a [usize],
    histories: Vec<Vec<usize>>,
    /// Generated tokens of every chain in the batch: the token loss's divisor.
    total_tokens: usize,
    /// Top-advantage chains in the batch: the item loss's divisor.
    total_top: usize,
    /// The token loss's weight in the total (`cfg.token_loss_weight`).
    token_weight: f64,
    /// The ending loss's weight (`cfg.ending_loss`) and the batch's appended-tag tokens
    /// it trains: its divisor.
    ending_weight: f64,
    total_ending_tokens: usize,
}

impl<'a> BatchTerms<'a> {
    /// The terms of the loss of `groups`, whose target-item vectors are `items`.
    fn new(
        model: &'a LoadedModel,
        cfg: &RecPoConfig,
        scoring: &'a ItemScoring,
        log_q: Option<Vec<f32>>,
        groups: &[Group],
        items: &'a Tensor,
        same: &'a [Vec<bool>],
        positions: &'a [usize],
        histories: Vec<Vec<usize>>,
    ) -> Self {
        Self {
            positions,
            histories,
            model,
            clip: ClipRange {
                eps_low: cfg.eps_low,
                eps_high: cfg.eps_high,
            },
            scoring,
            log_q,
            items,
            same,
            total_tokens: groups
                .iter()
                .flat_map(|g| &g.chains)
                .map(|c| c.sampled_tokens)
                .sum(),
            total_top: groups.iter().map(|g| g.top.len()).sum(),
            token_weight: cfg.token_loss_weight,
            ending_weight: cfg.ending_loss,
            total_ending_tokens: groups
                .iter()
                .filter_map(|g| ending_chain(g).map(|i| &g.chains[i]))
                .map(|c| c.token_ids.len() - c.sampled_tokens)
                .sum(),
        }
    }

    /// Ending loss of `chunk`'s chains: the summed -log p of the appended tag of the
    /// group's [`ending_chain`] when it is in `chunk`, times the weight over the batch's
    /// appended-tag tokens; with the plain sum of -log p and how many tokens. `None`
    /// when the weight is 0 or the chunk holds no such chain.
    fn ending_part(
        &self,
        group: &Group,
        chunk: &[usize],
        rows: &Tensor,
        at: impl Fn(usize, usize) -> usize,
    ) -> Result<Option<(Tensor, f64, usize)>, TrainError> {
        if self.ending_weight <= 0.0 {
            return Ok(None);
        }
        let Some(e) = ending_chain(group) else {
            return Ok(None);
        };
        let Some(c) = chunk.iter().position(|&i| i == e) else {
            return Ok(None);
        };
        let chain = &group.chains[e];
        let js = chain.sampled_tokens..chain.token_ids.len();
        let idx: Vec<u32> = js.clone().map(|j| at(c, j) as u32).collect();
        let targets = &chain.token_ids[js];
        let device = self.model.device();
        let picked = rows.index_select(&Tensor::new(idx.as_slice(), device)?, 0)?;
        let logp = token_logprobs(&self.model.backbone.logits_train(&picked)?, targets)?;
        let sum = logp.sum_all()?.neg()?;
        let ce = f64::from(sum.to_scalar::<f32>()?);
        let scale = self.ending_weight / self.total_ending_tokens.max(1) as f64;
        Ok(Some(((sum * scale)?, ce, idx.len())))
    }

    /// Token loss per chain (SPEC §5.5): the clipped surrogate over the sampled tokens
    /// of `chunk`'s chains, each with its chain's advantage, over the batch's token
    /// count; with how many were clipped. `rows` `[N, H]` holds hidden states and
    /// `at(c, j)` is the row that predicts token `j` of the `c`-th chain of `chunk`.
    /// `None` when the chains sampled no token.
    fn token_part(
        &self,
        group: &Group,
        chunk: &[usize],
        rows: &Tensor,
        at: impl Fn(usize, usize) -> usize,
    ) -> Result<Option<(Tensor, usize)>, TrainError> {
        let (mut idx, mut targets, mut adv) = (Vec::new(), Vec::new(), Vec::new());
        for (c, &i) in chunk.iter().enumerate() {
            let chain = &group.chains[i];
            for j in 0..chain.sampled_tokens {
                idx.push(at(c, j) as u32);
                targets.push(chain.token_ids[j]);
                adv.push(group.advantages[i] as f32);
            }
        }
        if idx.is_empty() {
            return Ok(None);
        }
        let device = self.model.device();
        let picked = rows.index_select(&Tensor::new(idx.as_slice(), device)?, 0)?;
        let logp = token_logprobs(&self.model.backbone.logits_train(&picked)?, &targets)?;
        let adv = Tensor::new(adv.as_slice(), device)?;
        let s = clipped_objective_sum(&logp, &logp.detach(), &adv, self.clip)?;
        Ok(Some(((s.loss_sum / self.total_tokens as f64)?, s.clipped)))
    }

    /// Item loss (SPEC §5.5): the clipped surrogate of the h_T of the micro-batch's
    /// top-advantage chains of group `g` against the batch's target items, over the
    /// batch's top-chain count; with the sums of their -log p (the plain
    /// cross-entropy) in the batch and, with the full-table term, in the table.
    /// `None` when none of them is top.
    fn item_part(
        &self,
        g: usize,
        group: &Group,
        chunk: &[usize],
        last: &Tensor,
    ) -> Result<Option<(Tensor, f64, Option<f64>)>, TrainError> {
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
        let logp = in_batch_item_logprobs(
            &h_t,
            self.items,
            &own,
            &same_rows,
            self.scoring,
            self.log_q.as_deref(),
        )?;
        let adv: Vec<f32> = top_rows
            .iter()
            .map(|&r| group.advantages[chunk[r as usize]] as f32)
            .collect();
        let adv = Tensor::new(adv.as_slice(), device)?;
        let s = clipped_objective_sum(&logp, &logp.detach(), &adv, self.clip)?;
        let ce = -f64::from(logp.detach().sum_all()?.to_scalar::<f32>()?);
        let mut loss = (s.loss_sum / self.total_top as f64)?;
        let mut table_ce = None;
        if let Some((rows, weight)) = &self.scoring.table {
            // The same objective on the whole table's softmax: every catalogue item a
            // negative, as the probe and evaluation rank.
            let n = top_rows.len();
            let targets = vec![self.positions[g]; n];
            let masked = vec![self.histories[g].clone(); n];
            let lp = table_logprobs(&h_t, rows, &targets, &masked, self.scoring)?;
            let t = clipped_objective_sum(&lp, &lp.detach(), &adv, self.clip)?;
            loss = (loss + (t.loss_sum * (*weight / self.total_top as f64))?)?;
            table_ce = Some(-f64::from(lp.detach().sum_all()?.to_scalar::<f32>()?));
        }
        Ok(Some((loss, ce, table_ce)))
    }
}

/// Sums of one step's losses as plain numbers.
#[derive(Debug, Default, Clone, Copy)]
struct LossSums {
    token_loss: f64,
    item_loss: f64,
    /// Sum of -log p of the top chains' targets, and how many there were.
    item_ce_sum: f64,
    /// The same in the whole table (with the full-table term).
    table_ce_sum: Option<f64>,
    top_chains: usize,
    /// The ending loss (weighted), its plain -log p sum and its tokens and chains.
    ending_loss: f64,
    ending_ce_sum: f64,
    ending_tokens: usize,
    endings: usize,
    prompt_secs: f64,
    chains_secs: f64,
    clipped: usize,
    train_tokens: usize,
}

/// Gradients collected from several backward passes: the adapter's, and those of leaf
/// tensors (the prompt's keys and values, the item vectors) whose own graphs are
/// walked once afterwards.
struct Grads<'a> {
    vars: &'a [Var],
    acc: Vec<Option<Tensor>>,
}

impl<'a> Grads<'a> {
    fn new(vars: &'a [Var]) -> Self {
        Self {
            vars,
            acc: vec![None; vars.len()],
        }
    }

    /// Backward from `loss`; the adapter's gradients are added, and each leaf's
    /// gradient is added into its slot of `leaf_grads`.
    fn backward(
        &mut self,
        loss: &Tensor,
        leaves: &[&Tensor],
        leaf_grads: &mut [Option<Tensor>],
    ) -> candle_core::Result<()> {
        let grads = loss.backward()?;
        accumulate(&mut self.acc, self.vars, &grads)?;
        for (leaf, slot) in leaves.iter().zip(leaf_grads.iter_mut()) {
            if let Some(g) = grads.get(leaf) {
                *slot = Some(match slot.take() {
                    Some(s) => (s + g)?,
                    None => g.clone(),
                });
            }
        }
        Ok(())
    }

    /// One backward through the graphs of `outputs` carrying `grads` (the summed
    /// gradients of their leaf copies): `d/dθ sum(output * grad)` is exactly the
    /// chain-rule term those outputs contribute.
    fn through(
        &mut self,
        outputs: &[&Tensor],
        grads: &[Option<Tensor>],
    ) -> candle_core::Result<()> {
        let mut terms = Vec::new();
        for (out, g) in outputs.iter().zip(grads) {
            if let Some(g) = g {
                terms.push((*out * g)?.sum_all()?);
            }
        }
        if terms.is_empty() {
            return Ok(());
        }
        let surrogate = Tensor::stack(&terms, 0)?.sum_all()?;
        accumulate(&mut self.acc, self.vars, &surrogate.backward()?)
    }
}

/// One group's share of the loss: the prompt once, its chains `micro` at a time after
/// it, a backward per micro-batch into `grads`; the gradient of the group's use of the
/// batch's item vectors is added into `item_grad`.
fn group_loss(
    terms: &BatchTerms<'_>,
    g: usize,
    group: &Group,
    hook: &dyn LinearHook,
    micro: usize,
    grads: &mut Grads<'_>,
    item_grad: &mut Option<Tensor>,
) -> Result<LossSums, TrainError> {
    let device = terms.model.device();
    let backbone = &terms.model.backbone;
    let p = group.prompt_ids.len();
    let ids = Tensor::new(group.prompt_ids.as_slice(), device)?.unsqueeze(0)?;
    let t = Instant::now();
    // With base layers below the adapter, their states for the prompt and every chain
    // come from one fast pass without graph (the same f32 weights, about twice as fast).
    let first = hook.first_adapted_layer();
    let lower = match group.chains.iter().map(|c| c.token_ids.len()).max() {
        Some(w) if w > 0 && backbone.lower_is_base(Some(hook), first) => {
            let all: Vec<usize> = (0..group.chains.len()).collect();
            let cont = right_padded(group, &all, w, device)?;
            backbone.forward_lower_prefix(&ids, &cont, first, Some(hook))?
        }
        _ => None,
    };
    let (prompt_hidden, prefix) = match &lower {
        Some((x, _)) => backbone.forward_prefix_train_from(x, first, Some(hook))?,
        None => backbone.forward_prefix_train(&ids, Some(hook))?,
    };
    let prompt_last = prompt_hidden.narrow(1, p - 1, 1)?.squeeze(1)?;
    // Leaves for the chains' passes: the prompt's keys and values, and its last hidden
    // state (it predicts every chain's first token).
    let (leaf_prefix, kv_pairs) = prefix.detached()?;
    let last_leaf = Var::from_tensor(&prompt_last.detach())?;
    let mut leaves: Vec<&Tensor> = kv_pairs.iter().map(|(_, v)| v.as_tensor()).collect();
    leaves.push(last_leaf.as_tensor());
    leaves.push(terms.items);
    let mut leaf_grads: Vec<Option<Tensor>> = vec![None; leaves.len()];
    let mut sums = LossSums {
        train_tokens: p,
        ..Default::default()
    };
    sums.prompt_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let all: Vec<usize> = (0..group.chains.len()).collect();
    for chunk in all.chunks(micro.max(1)) {
        let lens: Vec<usize> = chunk
            .iter()
            .map(|&i| group.chains[i].token_ids.len())
            .collect();
        let width = lens.iter().copied().max().unwrap_or(0);
        sums.train_tokens += lens.iter().sum::<usize>();
        // Row 0 is the prompt's last hidden state, then each chain's `width` rows.
        let rows = if width == 0 {
            last_leaf.as_tensor().clone()
        } else {
            let pad: Vec<u8> = lens
                .iter()
                .flat_map(|&n| (0..width).map(move |j| u8::from(j < n)))
                .collect();
            let pad = Tensor::from_vec(pad, (chunk.len(), width), device)?;
            let hidden = match &lower {
                Some((_, x)) => {
                    let rows: Vec<u32> = chunk.iter().map(|&i| i as u32).collect();
                    let x = x
                        .index_select(&Tensor::new(rows.as_slice(), device)?, 0)?
                        .narrow(1, 0, width)?;
                    backbone.forward_continuation_train_from(
                        &x,
                        Some(&pad),
                        &leaf_prefix,
                        Some(hook),
                    )?
                }
                None => {
                    let cont = right_padded(group, chunk, width, device)?;
                    backbone.forward_continuation_train(
                        &cont,
                        Some(&pad),
                        &leaf_prefix,
                        Some(hook),
                    )?
                }
            };
            let h = hidden.dim(2)?;
            let flat = hidden.reshape((chunk.len() * width, h))?;
            Tensor::cat(&[last_leaf.as_tensor(), &flat], 0)?
        };
        // Token j of chain c is predicted by the hidden state before it; h_T is the
        // chain's last token (the prompt's last one for an empty chain).
        let row = |c: usize, j: usize| if j == 0 { 0 } else { 1 + c * width + j - 1 };
        let mut loss = Tensor::zeros((), DType::F32, device)?;
        // A zero weight skips the vocabulary head altogether (the logged token loss
        // is then 0).
        if terms.token_weight > 0.0 {
            if let Some((part, n)) = terms.token_part(group, chunk, &rows, row)? {
                sums.clipped += n;
                sums.token_loss += f64::from(part.to_scalar::<f32>()?);
                loss = if terms.token_weight == 1.0 {
                    (loss + part)?
                } else {
                    (loss + (part * terms.token_weight)?)?
                };
            }
        }
        if let Some((part, ce, n)) = terms.ending_part(group, chunk, &rows, row)? {
            sums.ending_loss += f64::from(part.to_scalar::<f32>()?);
            sums.ending_ce_sum += ce;
            sums.ending_tokens += n;
            sums.endings += 1;
            loss = (loss + part)?;
        }
        let last_rows: Vec<u32> = lens
            .iter()
            .enumerate()
            .map(|(c, &n)| row(c, n) as u32)
            .collect();
        let last = rows.index_select(&Tensor::new(last_rows.as_slice(), device)?, 0)?;
        if let Some((part, ce, table_ce)) = terms.item_part(g, group, chunk, &last)? {
            sums.item_loss += f64::from(part.to_scalar::<f32>()?);
            sums.item_ce_sum += ce;
            if let Some(t) = table_ce {
                *sums.table_ce_sum.get_or_insert(0.0) += t;
            }
            sums.top_chains += chunk.iter().filter(|i| group.top.contains(i)).count();
            loss = (loss + part)?;
        }
        grads.backward(&loss, &leaves, &mut leaf_grads)?;
    }
    let Some(items) = leaf_grads.pop() else {
        return Err(TrainError::Input("no leaf for the item vectors".into()));
    };
    if let Some(gi) = items {
        *item_grad = Some(match item_grad.take() {
            Some(s) => (s + gi)?,
            None => gi,
        });
    }
    sums.chains_secs = t.elapsed().as_secs_f64();
    // The prompt's graph, walked once with every chain's gradient.
    let t = Instant::now();
    let mut outputs: Vec<&Tensor> = kv_pairs.iter().map(|(t, _)| t).collect();
    outputs.push(&prompt_last);
    grads.through(&outputs, &leaf_grads)?;
    sums.prompt_secs += t.elapsed().as_secs_f64();
    Ok(sums)
}

/// The token ids of `group`'s chains `which`, right-padded with 0 to `width`: `[n, width]`.
fn right_padded(
    group: &Group,
    which: &[usize],
    width: usize,
    device: &candle_core::Device,
) -> Result<Tensor, TrainError> {
    let mut flat = Vec::with_capacity(which.len() * width);
    for &i in which {
        let t = &group.chains[i].token_ids;
        flat.extend(
            t.iter()
                .copied()
                .chain(std::iter::repeat_n(0, width - t.len())),
        );
    }
    Ok(Tensor::from_vec(flat, (which.len(), width), device)?)
}

/// RecPO's loss over the sampled groups, and its gradient (SPEC §5.5), with the exact
/// cost cuts of this module's header.
/// `seed` draws the step's uniform negatives (`cfg.uniform_negatives`).
pub fn recpo_loss(
    model: &LoadedModel,
    adapter: &dyn TrainableAdapter,
    data: &PreparedDataset,
    groups: &[Group],
    cfg: &RecPoConfig,
    scoring: &ItemScoring,
    seed: u64,
) -> Result<StepLoss, TrainError> {
    let start = Instant::now();
    let vars = adapter.vars();
    let hook: &dyn LinearHook = adapter;
    let examples: Vec<Example> = groups.iter().map(|g| g.example.clone()).collect();
    let positions = catalog_positions(data, &examples)?;
    // Columns of the item loss: the batch's targets, then catalogue items drawn
    // uniformly (as the contrastive step draws them), encoded by the current adapter
    // with the targets. With in-batch negatives alone, an item that is never a batch
    // target never gets an item-side gradient.
    let extra = super::contrastive::uniform_items(data.catalog.len(), cfg.uniform_negatives, seed);
    let mut columns = positions.clone();
    columns.extend(&extra);
    let same = same_columns(&columns, positions.len());
    let t = Instant::now();
    let (items, item_tokens) = encode_targets(model, data, &examples, &extra, hook)?;
    let mut split = LossSplit {
        items_secs: t.elapsed().as_secs_f64(),
        ..Default::default()
    };
    let items_leaf = Var::from_tensor(&items.detach())?;
    let log_q = scoring.log_q_mixed(&columns, positions.len(), extra.len());
    let histories = examples
        .iter()
        .map(|e| data.catalog.positions_of(&e.history))
        .collect();
    let terms = BatchTerms::new(
        model,
        cfg,
        scoring,
        log_q,
        groups,
        items_leaf.as_tensor(),
        &same,
        &positions,
        histories,
    );
    let mut grads = Grads::new(&vars);
    let mut item_grad = None;
    let mut total = LossSums {
        train_tokens: item_tokens,
        ..Default::default()
    };
    for (g, group) in groups.iter().enumerate() {
        let micro = cfg.train_micro_batch;
        let s = group_loss(&terms, g, group, hook, micro, &mut grads, &mut item_grad)?;
        total.token_loss += s.token_loss;
        total.item_loss += s.item_loss;
        total.item_ce_sum += s.item_ce_sum;
        if let Some(t) = s.table_ce_sum {
            *total.table_ce_sum.get_or_insert(0.0) += t;
        }
        total.top_chains += s.top_chains;
        total.ending_loss += s.ending_loss;
        total.ending_ce_sum += s.ending_ce_sum;
        total.ending_tokens += s.ending_tokens;
        total.endings += s.endings;
        split.prompt_secs += s.prompt_secs;
        split.chains_secs += s.chains_secs;
        total.clipped += s.clipped;
        total.train_tokens += s.train_tokens;
    }
    let t = Instant::now();
    grads.through(&[&items], &[item_grad])?;
    split.items_secs += t.elapsed().as_secs_f64();
    Ok(StepLoss {
        loss: cfg.token_loss_weight * total.token_loss + total.item_loss + total.ending_loss,
        token_loss: total.token_loss,
        item_loss: total.item_loss,
        item_ce: total.item_ce_sum / total.top_chains.max(1) as f64,
        item_negatives: distinct_negatives(&columns),
        table_ce: total
            .table_ce_sum
            .map(|t| t / total.top_chains.max(1) as f64),
        ending_loss: total.ending_loss,
        ending_ce: (cfg.ending_loss > 0.0)
            .then(|| total.ending_ce_sum / total.ending_tokens.max(1) as f64),
        endings: total.endings,
        clip_frac: if terms.total_tokens > 0 {
            total.clipped as f64 / terms.total_tokens as f64
        } else {
            0.0
        },
        grads: grads.acc,
        target_vectors: items
            .detach()
            .narrow(0, 0, positions.len())?
            .to_vec2::<f32>()?,
        train_tokens: total.train_tokens,
        secs: start.elapsed().as_secs_f64(),
        split,
    })
}

#[cfg(test)]
mod tests;
