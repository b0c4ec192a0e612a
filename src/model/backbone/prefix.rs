//! A shared prefix on the differentiable path: a prompt's forward pass is computed once,
//! its keys and values kept with their graph, and any number of continuations (the G
//! chains RecPO sampled for one user) run after it. A continuation's hidden states are
//! those of `forward_hidden_train` over prompt + continuation, and one backward through
//! the sum of the continuations' losses adds every chain's gradient into the prompt's,
//! so the prompt is computed (and differentiated) once per group instead of once per
//! chain.

use candle_core::{Tensor, Var};

use super::attention::PrefixKv;
use super::hook::LinearHook;
use super::mask::RowSlots;
use super::{Backbone, KvCache};

/// A prompt's keys and values `[1, kv, P, d]` of every layer from `from` up, with their
/// graph.
pub struct TrainPrefix {
    kv: Vec<PrefixKv>,
    len: usize,
    /// The first layer held (0 unless the layers below ran on the fast path).
    from: usize,
}

impl TrainPrefix {
    /// Tokens in the prefix.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The same prefix with its keys and values as fresh leaves, where they carry a
    /// gradient path (layers below every adapted one do not, and stay as they are, so
    /// nothing is walked back there): continuations run after it in several backward
    /// passes collect their gradients on the leaves, and the prompt's own graph is then
    /// walked once with their sum. Returns each (graph tensor, leaf) pair.
    pub fn detached(&self) -> candle_core::Result<(TrainPrefix, Vec<(Tensor, Var)>)> {
        let mut pairs = Vec::new();
        let mut leaf = |t: &Tensor| -> candle_core::Result<Tensor> {
            if !t.track_op() {
                return Ok(t.clone());
            }
            let v = Var::from_tensor(&t.detach())?;
            let out = v.as_tensor().clone();
            pairs.push((t.clone(), v));
            Ok(out)
        };
        let mut kv = Vec::with_capacity(self.kv.len());
        for layer in &self.kv {
            kv.push(PrefixKv {
                k: leaf(&layer.k)?,
                v: leaf(&layer.v)?,
            });
        }
        Ok((
            TrainPrefix {
                kv,
                len: self.len,
                from: self.from,
            },
            pairs,
        ))
    }
}

impl Backbone {
    /// Differentiable pass over one prompt `ids` `[1, P]` (no padding): the final-norm
    /// hidden states `[1, P, H]` and the prefix later continuations attend to.
    pub fn forward_prefix_train(
        &self,
        ids: &Tensor,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<(Tensor, TrainPrefix)> {
        self.forward_prefix_train_from(&self.embed(ids)?, 0, hook)
    }

    /// [`Backbone::forward_prefix_train`] from layer `from` up, on `x` `[1, P, H]`, the
    /// hidden states entering that layer (from [`Backbone::forward_lower_prefix`]).
    pub fn forward_prefix_train_from(
        &self,
        x: &Tensor,
        from: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<(Tensor, TrainPrefix)> {
        let (b, l, _) = x.dims3()?;
        if b != 1 {
            candle_core::bail!("a shared prefix is one prompt, got a batch of {b}");
        }
        let from = from.min(self.layers.len());
        let mut row = RowSlots::default();
        let positions = row.extend(&vec![true; l]);
        let step = self.step_inputs(std::slice::from_ref(&row), 0, l, &positions)?;
        let mut x = x.clone();
        let mut kv = Vec::with_capacity(self.layers.len() - from);
        for layer in &self.layers[from..] {
            let (y, own) = layer.forward_train(&x, &step, hook, None)?;
            x = y;
            kv.push(own);
        }
        Ok((
            self.norm.forward_train(&x)?,
            TrainPrefix { kv, len: l, from },
        ))
    }

    /// Differentiable pass over continuations `ids` `[B, L]` of `prefix`, right-padded
    /// (`pad` `[B, L]`, 1 = real token; `None` when all are real): the final-norm hidden
    /// states `[B, L, H]`, position `j` of row `i` being token `P + j` of that sequence.
    pub fn forward_continuation_train(
        &self,
        ids: &Tensor,
        pad: Option<&Tensor>,
        prefix: &TrainPrefix,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        if prefix.from != 0 {
            candle_core::bail!(
                "the prefix starts at layer {}: pass the continuations' hidden states there",
                prefix.from
            );
        }
        self.forward_continuation_train_from(&self.embed(ids)?, pad, prefix, hook)
    }

    /// [`Backbone::forward_continuation_train`] on `x` `[B, L, H]`, the continuations'
    /// hidden states entering the prefix's first layer.
    pub fn forward_continuation_train_from(
        &self,
        x: &Tensor,
        pad: Option<&Tensor>,
        prefix: &TrainPrefix,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let real = super::real_flags(b, l, pad)?;
        if real.iter().any(|r| r.windows(2).any(|w| !w[0] && w[1])) {
            candle_core::bail!("continuations must be right-padded");
        }
        let mut rows = vec![RowSlots::default(); b];
        let mut positions = Vec::with_capacity(b * l);
        for (row, r) in rows.iter_mut().zip(&real) {
            row.extend(&vec![true; prefix.len]);
            positions.extend(row.extend(r));
        }
        let step = self.step_inputs(&rows, prefix.len, l, &positions)?;
        let mut x = x.clone();
        for (layer, kv) in self.layers[prefix.from..].iter().zip(&prefix.kv) {
            x = layer.forward_train(&x, &step, hook, Some(kv))?.0;
        }
        self.norm.forward_train(&x)
    }

    /// Layers `..upto` of the fast path (no graph) over one prompt `ids` `[1, P]` and
    /// its continuations `cont` `[N, L]`, each attending to the prompt as a whole pass
    /// over prompt + continuation would: the hidden states entering layer `upto`,
    /// `[1, P, H]` and `[N, L, H]`. Continuations may be right-padded; a padded position
    /// only changes the states after it. `None` when either has fewer rows than the
    /// quantized layers' dense threshold (their fast path would then run on quantized
    /// weights, not on the f32 weights of the differentiable path).
    pub fn forward_lower_prefix(
        &self,
        ids: &Tensor,
        cont: &Tensor,
        upto: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Option<(Tensor, Tensor)>> {
        let (one, p) = ids.dims2()?;
        let (n, l) = cont.dims2()?;
        let rows = crate::model::linear::PREFILL_ROWS;
        if one != 1 || p < rows || n * l < rows {
            return Ok(None);
        }
        let upto = upto.min(self.layers.len());
        let hook = self.hook_or_own(hook);
        let mut cache = KvCache::new(&self.cfg, 1);
        let (start, positions) = cache.extend_rows(&[vec![true; p]])?;
        let step = self.step_inputs(cache.rows(), start, p, &positions)?;
        let mut x = self.embed(ids)?;
        for layer in &self.layers[..upto] {
            x = layer.forward(&x, &step, &mut cache, start, hook)?;
        }
        let mut cache = cache.repeat_rows(n)?;
        let (start, positions) = cache.extend_rows(&vec![vec![true; l]; n])?;
        let step = self.step_inputs(cache.rows(), start, l, &positions)?;
        let mut y = self.embed(cont)?;
        for layer in &self.layers[..upto] {
            y = layer.forward(&y, &step, &mut cache, start, hook)?;
        }
        Ok(Some((x.detach(), y.detach())))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use crate::model::backbone::{Backbone, LoadOptions, WeightFormat};
    use crate::model::config::Family;
    use crate::model::random::{random_weights, tiny_config};

    use crate::model::backbone::tests::max_diff;

    fn tiny_backbone(family: Family, seed: u64) -> Backbone {
        let cfg = tiny_config(family);
        let w = random_weights(&cfg, seed, &Device::Cpu).unwrap();
        let opts = LoadOptions {
            format: WeightFormat::F32,
            ..Default::default()
        };
        Backbone::new(&cfg, &w, &opts).unwrap()
    }

    /// Row `i` of `h` (continuations after `prompt`) against the whole differentiable
    /// pass over `prompt + conts[i]`.
    fn matches_full_sequences(
        bb: &Backbone,
        prompt: &[u32],
        conts: &[Vec<u32>],
        h: &Tensor,
        family: Family,
    ) {
        for (i, c) in conts.iter().enumerate() {
            let seq = [prompt, c.as_slice()].concat();
            let t = Tensor::new(seq.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let full = bb.forward_hidden_train(&t, None, None).unwrap();
            let want = full.narrow(1, prompt.len(), c.len()).unwrap();
            let got = h.narrow(0, i, 1).unwrap().narrow(1, 0, c.len()).unwrap();
            assert!(max_diff(&got, &want) < 1e-4, "{family:?} continuation {i}");
        }
    }

    /// Prompt once, then two continuations of different lengths: the hidden states
    /// equal a full pass over each prompt + continuation, for every family.
    #[test]
    fn continuations_of_a_prefix_match_full_sequences() {
        for family in [Family::Llama, Family::Qwen2, Family::Gemma2] {
            let dev = Device::Cpu;
            let bb = tiny_backbone(family, 5);
            let prompt: Vec<u32> = vec![3, 9, 4, 1, 7, 2];
            let conts: [Vec<u32>; 2] = [vec![5, 8, 6, 11], vec![12, 2]];
            let ids = Tensor::new(prompt.as_slice(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let (ph, prefix) = bb.forward_prefix_train(&ids, None).unwrap();
            let full_prompt = bb.forward_hidden_train(&ids, None, None).unwrap();
            assert!(max_diff(&ph, &full_prompt) < 1e-5, "{family:?} prompt");
            let padded: Vec<u32> = [conts[0].clone(), vec![12, 2, 0, 0]].concat();
            let cont = Tensor::from_vec(padded, (2, 4), &dev).unwrap();
            let pad = Tensor::new(&[[1u8, 1, 1, 1], [1, 1, 0, 0]], &dev).unwrap();
            let h = bb
                .forward_continuation_train(&cont, Some(&pad), &prefix, None)
                .unwrap();
            matches_full_sequences(&bb, &prompt, &conts, &h, family);
            let left = Tensor::new(&[[0u8, 1, 1, 1], [1, 1, 1, 1]], &dev).unwrap();
            assert!(bb
                .forward_continuation_train(&cont, Some(&left), &prefix, None)
                .is_err());
        }
    }

    /// The layers below a cut on the fast path, then the prefix and its continuations
    /// on the differentiable path from the cut: the same hidden states as the whole
    /// differentiable pass over each prompt + continuation, for every family; inputs too
    /// short for the dense threshold are declined.
    #[test]
    fn fast_lower_layers_then_the_prefix_match_full_sequences() {
        for family in [Family::Llama, Family::Qwen2, Family::Gemma2] {
            let dev = Device::Cpu;
            let bb = tiny_backbone(family, 6);
            let cut = 1;
            let prompt: Vec<u32> = (0..18).map(|i| (i * 7 + 3) % 13).collect();
            let conts: [Vec<u32>; 3] = [
                (0..9).map(|i| (i * 5 + 1) % 13).collect(),
                vec![12, 2, 4],
                (0..6).map(|i| (i + 2) % 13).collect(),
            ];
            let ids = Tensor::new(prompt.as_slice(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let width = 9;
            let mut flat = Vec::new();
            let mut pad = Vec::new();
            for c in &conts {
                flat.extend(
                    c.iter()
                        .copied()
                        .chain(std::iter::repeat_n(0, width - c.len())),
                );
                pad.extend((0..width).map(|j| u8::from(j < c.len())));
            }
            let cont = Tensor::from_vec(flat, (3, width), &dev).unwrap();
            let pad = Tensor::from_vec(pad, (3, width), &dev).unwrap();
            let (xp, xc) = bb
                .forward_lower_prefix(&ids, &cont, cut, None)
                .unwrap()
                .unwrap();
            let (ph, prefix) = bb.forward_prefix_train_from(&xp, cut, None).unwrap();
            let full_prompt = bb.forward_hidden_train(&ids, None, None).unwrap();
            assert!(max_diff(&ph, &full_prompt) < 1e-4, "{family:?} prompt");
            let h = bb
                .forward_continuation_train_from(&xc, Some(&pad), &prefix, None)
                .unwrap();
            matches_full_sequences(&bb, &prompt, &conts, &h, family);
            // A prefix cut above layer 0 does not take token ids.
            assert!(bb
                .forward_continuation_train(&cont, Some(&pad), &prefix, None)
                .is_err());
            let short = Tensor::new(&[[1u32, 2, 3]], &dev).unwrap();
            assert!(bb
                .forward_lower_prefix(&short, &cont, cut, None)
                .unwrap()
                .is_none());
        }
    }
}
