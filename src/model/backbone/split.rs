//! The forward passes cut at one decoder layer: the layers below it, and the layers from
//! it up to the final norm. An adapter on the top layers only (PEFT's
//! `layers_to_transform`) leaves every layer below its first one as the base model's,
//! so their output for a fixed prompt never changes during training: computed once, it
//! serves every later pass (each table rebuild, each probe, the second pass of a
//! micro-batched step). Both halves run exactly the ops of the whole pass in the same
//! order, so `upper(lower(x))` is the whole pass bit for bit.

use candle_core::Tensor;

use super::hook::LinearHook;
use super::mask::RowSlots;
use super::{real_flags, Backbone, KvCache};
use crate::model::lower::{Kept, LowerStates};

impl Backbone {
    /// Embedding and decoder layers `..upto` of the fast path on left-padded `ids`
    /// `[B, L]` (`real[b][l]`: a real token); no final norm. `upto` is clamped to the
    /// layer count.
    pub fn forward_lower_flags(
        &self,
        ids: &Tensor,
        real: &[Vec<bool>],
        upto: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let x = self.embed(ids)?;
        let upto = upto.min(self.layers.len());
        self.fast_layers(x, real, 0..upto, self.hook_or_own(hook))
    }

    /// Decoder layers `from..` and the final norm of the fast path, on `x` `[B, L, H]`
    /// (what [`Backbone::forward_lower_flags`] gave for `upto = from`).
    pub fn forward_upper_flags(
        &self,
        x: &Tensor,
        real: &[Vec<bool>],
        from: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let n = self.layers.len();
        let x = self.fast_layers(x.clone(), real, from.min(n)..n, self.hook_or_own(hook))?;
        self.norm.forward(&x)
    }

    /// Whether layers `..layer` are the base model's under `hook` (else the backbone's
    /// own adapter): their output can then be kept and reused.
    pub fn lower_is_base(&self, hook: Option<&dyn LinearHook>, layer: usize) -> bool {
        let adapted = self
            .hook_or_own(hook)
            .map_or(usize::MAX, |h| h.first_adapted_layer());
        layer > 0 && layer < self.layers.len() && layer <= adapted
    }

    /// A prefill of the left-padded batch `ids` (of `prompts`) into the empty `cache`,
    /// as [`Backbone::forward_hidden_flags`] computes it. The layers below `lower`'s
    /// come from it when this batch was prefilled before (their keys and values are
    /// copied into `cache`, so generation continues as after a whole pass) and are kept
    /// there otherwise. Falls back to the whole pass when `hook` adapts a layer below.
    pub fn prefill_reusing(
        &self,
        ids: &Tensor,
        prompts: &[Vec<u32>],
        cache: &mut KvCache,
        real: &[Vec<bool>],
        hook: Option<&dyn LinearHook>,
        lower: &LowerStates,
    ) -> candle_core::Result<Tensor> {
        let first = lower.layer();
        if !cache.is_empty() || !self.lower_is_base(hook, first) {
            return self.forward_hidden_flags(ids, cache, real, hook);
        }
        let hook = self.hook_or_own(hook);
        let (_, l) = ids.dims2()?;
        let (start, positions) = cache.extend_rows(real)?;
        let step = self.step_inputs(cache.rows(), start, l, &positions)?;
        let key = (Kept::StatesAndCache, prompts.to_vec());
        let mut x = match lower.get(&key)? {
            Some(kept) => {
                cache.restore_lower(&kept[1..])?;
                kept[0].clone()
            }
            None => {
                let mut x = self.embed(ids)?;
                for layer in &self.layers[..first] {
                    x = layer.forward(&x, &step, cache, start, hook)?;
                }
                let mut kept = vec![x.clone()];
                kept.extend(cache.copy_lower(first)?);
                lower.keep(key, kept)?;
                x
            }
        };
        for layer in &self.layers[first..] {
            x = layer.forward(&x, &step, cache, start, hook)?;
        }
        self.norm.forward(&x)
    }

    /// Layers `range` of the fast path with a fresh cache of their own (the positions
    /// and masks are those of a whole pass over the same rows).
    fn fast_layers(
        &self,
        mut x: Tensor,
        real: &[Vec<bool>],
        range: std::ops::Range<usize>,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        if real.len() != b || real.iter().any(|r| r.len() != l) {
            candle_core::bail!("padding flags do not match hidden states of shape [{b}, {l}, _]")
        }
        let mut cache = KvCache::new(&self.cfg, b);
        let (start, positions) = cache.extend_rows(real)?;
        let step = self.step_inputs(cache.rows(), start, l, &positions)?;
        for layer in &self.layers[range] {
            x = layer.forward(&x, &step, &mut cache, start, hook)?;
        }
        Ok(x)
    }

    /// Embedding and decoder layers `..upto` of the differentiable path on `ids` `[B, L]`
    /// (`pad` as in [`Backbone::forward_hidden_train`]); no final norm.
    pub fn forward_lower_train(
        &self,
        ids: &Tensor,
        pad: Option<&Tensor>,
        upto: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let x = self.embed(ids)?;
        self.train_layers(x, pad, 0..upto.min(self.layers.len()), hook)
    }

    /// Decoder layers `from..` and the final norm of the differentiable path on `x`
    /// `[B, L, H]` (what [`Backbone::forward_lower_train`] gave for `upto = from`).
    pub fn forward_upper_train(
        &self,
        x: &Tensor,
        pad: Option<&Tensor>,
        from: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let n = self.layers.len();
        let x = self.train_layers(x.clone(), pad, from.min(n)..n, hook)?;
        self.norm.forward_train(&x)
    }

    /// Layers `range` of the differentiable path.
    pub(super) fn train_layers(
        &self,
        mut x: Tensor,
        pad: Option<&Tensor>,
        range: std::ops::Range<usize>,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let real = real_flags(b, l, pad)?;
        let mut rows = vec![RowSlots::default(); b];
        let positions: Vec<u32> = rows
            .iter_mut()
            .zip(&real)
            .flat_map(|(row, r)| row.extend(r))
            .collect();
        let step = self.step_inputs(&rows, 0, l, &positions)?;
        for layer in &self.layers[range] {
            x = layer.forward_train(&x, &step, hook, None)?.0;
        }
        Ok(x)
    }
}
