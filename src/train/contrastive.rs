//! The "w/o reasoning" ablation's loss (SPEC §4): h_T straight after the prompt and
//! `<answer>`, plain cross-entropy of each user's target among the batch's targets.
//!
//! Micro-batched the GradCache way (Gao et al., arXiv 2101.06983), so a batch of 64
//! users fits where one differentiable pass of 64 prompts would not: (1) every user and
//! item vector is computed without keeping its graph, `train_micro_batch` prompts at a
//! time; (2) the loss and its gradient with respect to those vectors; (3) each
//! micro-batch is run again with its graph and walked back once with its vectors'
//! gradient. Each micro-batch's dropout stream is reseeded from (step seed, index) in
//! both passes, so the second pass draws the masks of the first and the gradient is
//! exactly that of the whole batch at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use candle_core::{Tensor, Var};

use super::adapter::TrainableAdapter;
use super::config::RecPoConfig;
use super::error::TrainError;
use super::evaluate::item_prompts;
use super::loss::{in_batch_item_logprobs, table_logprobs, ItemScoring};
use super::step::{
    accumulate, catalog_positions, distinct_negatives, same_columns, LossSplit, StepLoss,
};
use crate::data::prepared::PreparedDataset;
use crate::data::Example;
use crate::model::backbone::LinearHook;
use crate::model::error::ModelError;
use crate::model::loaded::{left_pad, left_pad_flags, LoadedModel};
use crate::rec::items::ITEM_BATCH;

/// Final-norm hidden state at the last token of each of `seqs` `[N, H]`, with graph.
fn last_hidden(
    model: &LoadedModel,
    seqs: &[Vec<u32>],
    hook: &dyn LinearHook,
) -> Result<Tensor, TrainError> {
    let (ids, pad) = left_pad(seqs, model.device())?;
    let hidden = model
        .backbone
        .forward_hidden_train(&ids, Some(&pad), Some(hook))?;
    last_rows(&hidden)
}

/// The last position of each row of `hidden` `[N, L, H]`.
fn last_rows(hidden: &Tensor) -> Result<Tensor, TrainError> {
    let l = hidden.dim(1)?;
    Ok(hidden.narrow(1, l - 1, 1)?.squeeze(1)?.contiguous()?)
}

/// `n` catalogue positions (of `m`) drawn uniformly with replacement, seeded by the
/// step: the mixed negatives of Yang et al. (WWW 2020), which in-batch sampling,
/// drawn by popularity, never supplies for rarely seen items.
pub(super) fn uniform_items(m: usize, n: usize, seed: u64) -> Vec<usize> {
    use rand::{Rng, SeedableRng};
    if m == 0 {
        return Vec::new();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x756E_6966_6F72_6D00);
    (0..n).map(|_| rng.random_range(0..m)).collect()
}

/// Token ids of the item prompts of the items `ids`.
fn item_prompt_ids(
    model: &LoadedModel,
    data: &PreparedDataset,
    ids: &[&str],
) -> Result<Vec<Vec<u32>>, TrainError> {
    item_prompts(model, data, ids)?
        .iter()
        .map(|text| Ok(model.tokenizer.encode(text).map_err(ModelError::from)?))
        .collect()
}

/// Token ids of the item prompts of the items at catalogue positions `positions`.
pub(super) fn position_prompts(
    model: &LoadedModel,
    data: &PreparedDataset,
    positions: &[usize],
) -> Result<Vec<Vec<u32>>, TrainError> {
    let items = data.catalog.items();
    let ids: Vec<&str> = positions
        .iter()
        .map(|&p| items[p].item_id.as_str())
        .collect();
    item_prompt_ids(model, data, &ids)
}

/// Token ids of the item prompts of the examples' targets.
pub fn target_prompts(
    model: &LoadedModel,
    data: &PreparedDataset,
    examples: &[Example],
) -> Result<Vec<Vec<u32>>, TrainError> {
    let ids: Vec<&str> = examples.iter().map(|e| e.target.item_id.as_str()).collect();
    item_prompt_ids(model, data, &ids)
}

/// Sequences encoded `micro` at a time, micro-batch `k` with the dropout stream
/// reseeded from `seed` and `offset + k`. With an adapter on the top layers only, pass 1
/// computes each micro-batch's hidden states below the first adapted layer (the base
/// model's, with no graph) on the fast path, over the same f32 weights at twice the
/// differentiable path's speed, and keeps them; pass 2 starts from them, so both passes
/// see the same values and most of pass 2's forward is saved.
struct Passes<'a> {
    model: &'a LoadedModel,
    adapter: &'a dyn TrainableAdapter,
    seed: u64,
    micro: usize,
    /// Pass 1's states entering the first adapted layer, by micro-batch number.
    lower: RefCell<HashMap<usize, Tensor>>,
}

impl<'a> Passes<'a> {
    fn new(
        model: &'a LoadedModel,
        adapter: &'a dyn TrainableAdapter,
        seed: u64,
        micro: usize,
    ) -> Self {
        Self {
            model,
            adapter,
            seed,
            micro,
            lower: RefCell::new(HashMap::new()),
        }
    }

    fn reseed(&self, k: usize) {
        self.adapter
            .reseed(self.seed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }

    /// The first adapted layer when there are base layers below it to keep.
    fn split(&self) -> Option<usize> {
        let first = self.adapter.first_adapted_layer();
        let hook: &dyn LinearHook = self.adapter;
        self.model
            .backbone
            .lower_is_base(Some(hook), first)
            .then_some(first)
    }

    /// Micro-batch `k`'s last hidden states with graph; pass 1 (`keep`) stores its
    /// lower states, pass 2 takes them back.
    fn micro_vectors(
        &self,
        chunk: &[Vec<u32>],
        k: usize,
        keep: bool,
    ) -> Result<Tensor, TrainError> {
        let Some(first) = self.split() else {
            return last_hidden(self.model, chunk, self.adapter);
        };
        let (ids, pad) = left_pad(chunk, self.model.device())?;
        let backbone = &self.model.backbone;
        let kept = if keep {
            None
        } else {
            self.lower.borrow_mut().remove(&k)
        };
        let x = match kept {
            Some(x) => x,
            None => backbone
                .forward_lower_flags(&ids, &left_pad_flags(chunk), first, Some(self.adapter))?
                .detach(),
        };
        if keep {
            self.lower.borrow_mut().insert(k, x.clone());
        }
        let hidden = backbone.forward_upper_train(&x, Some(&pad), first, Some(self.adapter))?;
        last_rows(&hidden)
    }

    /// Pass 1: the vectors of all `seqs` `[N, H]`, no graph kept.
    fn vectors(&self, seqs: &[Vec<u32>], offset: usize) -> Result<Tensor, TrainError> {
        let mut parts = Vec::new();
        for (k, chunk) in seqs.chunks(self.micro).enumerate() {
            self.reseed(offset + k);
            parts.push(self.micro_vectors(chunk, offset + k, true)?.detach());
        }
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// Pass 2: each micro-batch again with its graph, walked back with `grad` (the
    /// loss's gradient on pass 1's vectors); the adapter's gradients added into `acc`.
    fn backward(
        &self,
        seqs: &[Vec<u32>],
        offset: usize,
        grad: &Tensor,
        acc: &mut [Option<Tensor>],
    ) -> Result<(), TrainError> {
        let vars = self.adapter.vars();
        for (k, chunk) in seqs.chunks(self.micro).enumerate() {
            self.reseed(offset + k);
            let v = self.micro_vectors(chunk, offset + k, false)?;
            let g = grad.narrow(0, k * self.micro, chunk.len())?;
            let surrogate = (v * g)?.sum_all()?;
            accumulate(acc, &vars, &surrogate.backward()?)?;
        }
        Ok(())
    }
}

/// Item prompts per micro-batch. Item prompts are short, and one at a time each pass's
/// fixed cost outweighs its work, so up to [`ITEM_BATCH`] share a pass; but a pass
/// keeps the graph of every layer it spans, and 16 item prompts with the whole model's
/// graph held three times a user prompt's activations (the peak of the exact w/o
/// reasoning step). So a micro-batch's padded tokens stay within the users' micro-batch
/// (`user_micro` of the longest prompt), scaled by `layers / graph_layers`: with an
/// adapter on the top 8 of 30 layers the graph is small and the items keep their 16.
fn item_micro(
    prompts: &[Vec<u32>],
    items: &[Vec<u32>],
    user_micro: usize,
    graph_layers: usize,
    layers: usize,
) -> usize {
    let longest_prompt = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let longest_item = items.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let budget = longest_prompt * user_micro * layers / graph_layers.max(1);
    (budget / longest_item).clamp(user_micro.max(1), ITEM_BATCH.max(user_micro))
}

/// One contrastive step's users: their examples and their prompts' token ids (each
/// followed by `<answer>`), in the same order.
#[derive(Clone, Copy)]
pub struct UserBatch<'a> {
    pub examples: &'a [Example],
    pub prompts: &'a [Vec<u32>],
}

/// The loss and its gradient, and the user vectors (for logging their
/// full-catalogue reward).
pub fn contrastive_loss(
    model: &LoadedModel,
    adapter: &dyn TrainableAdapter,
    data: &PreparedDataset,
    batch: UserBatch<'_>,
    cfg: &RecPoConfig,
    scoring: &ItemScoring,
    seed: u64,
) -> Result<(StepLoss, Vec<Vec<f32>>), TrainError> {
    let UserBatch { examples, prompts } = batch;
    let start = Instant::now();
    // Columns: the batch's targets, then `uniform_negatives` catalogue items drawn
    // uniformly (seeded by the step), all encoded by the current adapter.
    let mut columns = catalog_positions(data, examples)?;
    let extra = uniform_items(data.catalog.len(), cfg.uniform_negatives, seed);
    columns.extend(&extra);
    let mut items = target_prompts(model, data, examples)?;
    items.extend(position_prompts(model, data, &extra)?);
    let passes = Passes::new(model, adapter, seed, cfg.train_micro_batch.max(1));
    let layers = model.config().num_hidden_layers;
    let graph_layers = layers - passes.split().unwrap_or(0);
    let micro = item_micro(prompts, &items, passes.micro, graph_layers, layers);
    let item_passes = Passes::new(model, adapter, seed, micro);
    // Item micro-batches are numbered after the users', so no two share a stream.
    let item_offset = prompts.len().div_ceil(passes.micro);
    let t = Instant::now();
    let users = Var::from_tensor(&passes.vectors(prompts, 0)?)?;
    let mut prompt_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let item_vecs = Var::from_tensor(&item_passes.vectors(&items, item_offset)?)?;
    let mut items_secs = t.elapsed().as_secs_f64();
    let own: Vec<usize> = (0..examples.len()).collect();
    let logp = in_batch_item_logprobs(
        users.as_tensor(),
        item_vecs.as_tensor(),
        &own,
        &same_columns(&columns, examples.len()),
        scoring,
        scoring
            .log_q_mixed(&columns, examples.len(), extra.len())
            .as_deref(),
    )?;
    let in_batch = logp.mean_all()?.neg()?;
    let item_ce = f64::from(in_batch.to_scalar::<f32>()?);
    // The full-table term, on the user side only (see `table_logprobs`).
    let (loss, table_ce) = match &scoring.table {
        Some((rows, weight)) => {
            // The rows evaluation masks (`eval::run`): the example's history.
            let masked: Vec<Vec<usize>> = examples
                .iter()
                .map(|e| data.catalog.positions_of(&e.history))
                .collect();
            let targets = &columns[..examples.len()];
            let lp = table_logprobs(users.as_tensor(), rows, targets, &masked, scoring)?;
            let ce = lp.mean_all()?.neg()?;
            let value = f64::from(ce.to_scalar::<f32>()?);
            ((in_batch + (ce * *weight)?)?, Some(value))
        }
        None => (in_batch, None),
    };
    let grads = loss.backward()?;
    let vars = adapter.vars();
    let mut acc: Vec<Option<Tensor>> = vec![None; vars.len()];
    let t = Instant::now();
    if let Some(g) = grads.get(users.as_tensor()) {
        passes.backward(prompts, 0, g, &mut acc)?;
    }
    prompt_secs += t.elapsed().as_secs_f64();
    let t = Instant::now();
    if let Some(g) = grads.get(item_vecs.as_tensor()) {
        item_passes.backward(&items, item_offset, g, &mut acc)?;
    }
    items_secs += t.elapsed().as_secs_f64();
    let value = f64::from(loss.to_scalar::<f32>()?);
    let tokens: usize = prompts.iter().chain(&items).map(Vec::len).sum();
    let step = StepLoss {
        loss: value,
        token_loss: 0.0,
        item_loss: value,
        item_ce,
        table_ce,
        item_negatives: distinct_negatives(&columns),
        ending_loss: 0.0,
        ending_ce: None,
        endings: 0,
        clip_frac: 0.0,
        grads: acc,
        target_vectors: item_vecs
            .as_tensor()
            .narrow(0, 0, examples.len())?
            .to_vec2::<f32>()?,
        // Both passes go through the differentiable path.
        train_tokens: 2 * tokens,
        secs: start.elapsed().as_secs_f64(),
        split: LossSplit {
            prompt_secs,
            chains_secs: 0.0,
            items_secs,
        },
    };
    Ok((step, users.as_tensor().to_vec2::<f32>()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::rollout::{policy_encoder, user_prompt_ids};
    use crate::train::testing::{max_abs, paired_dataset, tiny_model, TinyLora};

    /// The whole batch through one differentiable pass: the loss before micro-batching.
    fn one_pass(
        model: &LoadedModel,
        adapter: &TinyLora,
        data: &PreparedDataset,
        examples: &[Example],
        prompts: &[Vec<u32>],
        scoring: &ItemScoring,
        extra: &[usize],
    ) -> (f64, Vec<Option<Tensor>>) {
        let mut seqs = target_prompts(model, data, examples).unwrap();
        seqs.extend(position_prompts(model, data, extra).unwrap());
        let items = last_hidden(model, &seqs, adapter).unwrap();
        let users = last_hidden(model, prompts, adapter).unwrap();
        let own: Vec<usize> = (0..examples.len()).collect();
        let positions = catalog_positions(data, examples).unwrap();
        let columns = [positions.as_slice(), extra].concat();
        let q = scoring.log_q_mixed(&columns, examples.len(), extra.len());
        let same = same_columns(&columns, examples.len());
        let logp =
            in_batch_item_logprobs(&users, &items, &own, &same, scoring, q.as_deref()).unwrap();
        let mut loss = logp.mean_all().unwrap().neg().unwrap();
        if let Some((rows, w)) = &scoring.table {
            let masked: Vec<Vec<usize>> = examples
                .iter()
                .map(|e| data.catalog.positions_of(&e.history))
                .collect();
            let lp = table_logprobs(&users, rows, &positions, &masked, scoring).unwrap();
            let ce = lp.mean_all().unwrap().neg().unwrap();
            loss = (loss + (ce * *w).unwrap()).unwrap();
        }
        let vars = adapter.vars();
        let mut acc = vec![None; vars.len()];
        accumulate(&mut acc, &vars, &loss.backward().unwrap()).unwrap();
        (f64::from(loss.to_scalar::<f32>().unwrap()), acc)
    }

    #[test]
    fn item_micro_batches_keep_within_the_users_tokens() {
        let prompts = vec![vec![0u32; 420]; 4];
        let items = vec![vec![0u32; 80]; 64];
        // Whole-model graph: 420 tokens hold 5 items of 80.
        assert_eq!(item_micro(&prompts, &items, 1, 30, 30), 5);
        // Top 8 of 30 layers: the budget grows to 1575 tokens, capped at ITEM_BATCH.
        assert_eq!(item_micro(&prompts, &items, 1, 8, 30), ITEM_BATCH);
        // Never fewer than the users' micro-batch, even for long items.
        assert_eq!(
            item_micro(&prompts, &vec![vec![0u32; 900]; 3], 2, 30, 30),
            2
        );
        // Two users a micro-batch double the budget.
        assert_eq!(item_micro(&prompts, &items, 2, 30, 30), 10);
    }

    #[test]
    fn micro_batches_give_the_whole_batch_gradient() {
        let model = tiny_model(6);
        let layers = model.config().num_hidden_layers;
        // On every layer, and on the top one only (pass 2 then starts from pass 1's
        // lower states).
        let all = TinyLora::new(model.config(), 2, 2.0, 3);
        let top = TinyLora::new(model.config(), 2, 2.0, 3).top_layers(1, layers);
        assert_eq!(top.first_adapted_layer(), layers - 1);
        for adapter in [all, top] {
            micro_batches_match(&model, &adapter);
        }
    }

    fn micro_batches_match(model: &LoadedModel, adapter: &TinyLora) {
        for v in adapter.vars().iter().skip(1).step_by(2) {
            v.set(&(v.ones_like().unwrap() * 0.05).unwrap()).unwrap();
        }
        let data = paired_dataset(10, 16, 7);
        let examples = &data.train[..6];
        let mut cfg = RecPoConfig {
            no_reasoning: true,
            ..Default::default()
        };
        let encoder = policy_encoder(model, None, &data, &cfg);
        let prompts: Vec<Vec<u32>> = examples
            .iter()
            .map(|e| user_prompt_ids(&encoder, e, 0, true).unwrap())
            .collect();
        let plain = ItemScoring::plain(cfg.tau as f64);
        // Centred, logQ-corrected, with the full-table term: the same equality.
        let table = crate::train::evaluate::rebuild_table(
            model,
            Some(adapter),
            None,
            &data,
            8,
            &mut |_, _| {},
        )
        .unwrap();
        let centre = crate::rec::Centre::of_rows(table.rows(), table.dim());
        let table = table.with_centre(Some(centre.clone())).unwrap();
        let dev = model.device();
        let full = ItemScoring::plain(0.05)
            .with_centre(Some(&centre.mean), dev)
            .unwrap()
            .with_counts(&(0..data.catalog.len() as u32).collect::<Vec<_>>())
            .with_table(&table, 0.5, dev)
            .unwrap();
        // The full variant also draws 4 uniform negatives (seeded by the step seed, 5).
        for (scoring, uniform) in [(plain, 0), (full, 4)] {
            cfg.uniform_negatives = uniform;
            let extra = uniform_items(data.catalog.len(), uniform, 5);
            assert_eq!(extra.len(), uniform);
            let (want_loss, want) =
                one_pass(model, adapter, &data, examples, &prompts, &scoring, &extra);
            for micro in [1, 4, 6] {
                cfg.train_micro_batch = micro;
                let batch = UserBatch {
                    examples,
                    prompts: &prompts,
                };
                let (got, users) =
                    contrastive_loss(model, adapter, &data, batch, &cfg, &scoring, 5).unwrap();
                assert_eq!(users.len(), 6);
                // Relative: the two paths sum in different orders (the fast path's
                // lower layers, the stored W^T), a few f32 ulps of a loss near 16.
                let tol = 1e-5 * want_loss.abs().max(1.0);
                assert!(
                    (got.loss - want_loss).abs() < tol,
                    "micro {micro}: loss {} against {want_loss}",
                    got.loss
                );
                for (i, (g, w)) in got.grads.iter().zip(&want).enumerate() {
                    let (g, w) = (g.as_ref().unwrap(), w.as_ref().unwrap());
                    let scale = max_abs(w);
                    let diff = max_abs(&(g - w).unwrap());
                    assert!(
                        diff <= 1e-3 * scale.max(1e-6),
                        "micro {micro}, var {i}: {diff}"
                    );
                }
            }
        }
    }
}
