//! The backbone LLM (Llama / SmolLM2, Qwen2, Gemma2) built from a [`Weights`] map, with
//! two forward paths over the same weights:
//! - `forward_hidden`: inference, fused kernels, KV cache, left-padded batches;
//! - `forward_hidden_train`: no cache, differentiable ops only, a [`LinearHook`] on
//!   every projection (LoRA for RecPO training); `prefix` runs a prompt once and many
//!   continuations after it on the same path.
//!
//! Both return the final-norm hidden state at every position (R²ec scores items from
//! it; SPEC §1); `logits` applies the token head. On a GPU, one-token decode steps take
//! their attention masks from a buffer kept on the device (`device_mask.rs`); the CPU
//! builds them on the host, its fast path. Layout and names follow
//! transformers' `modeling_llama.py`, `modeling_qwen2.py` and `modeling_gemma2.py`.

mod attention;
mod cache;
mod cpu_values;
mod device_mask;
mod few_rows;
mod hook;
mod layer;
mod mask;
mod mlp;
mod norm;
mod prefix;
mod rope;
mod rope_train;
mod softmax;
mod split;
mod swiglu;
#[cfg(test)]
mod tests;

use candle_core::{DType, Device, Tensor};

pub use cache::KvCache;
pub use hook::{LinearHook, LoraTarget, Update};
pub use mask::RowSlots;
pub use prefix::TrainPrefix;

use self::layer::{DecoderLayer, StepInputs};
use self::norm::RmsNorm;
use self::rope::Rope;
use super::config::{Family, ModelConfig};
use super::error::ModelError;
use super::linear::Linear;
pub use super::linear::{LoadOptions, WeightFormat};
use super::weights::Weights;

/// An adapter every fast-path forward applies (see [`Backbone::set_adapter`]).
#[derive(Clone)]
pub struct SharedHook(pub std::sync::Arc<dyn LinearHook + Send + Sync>);

impl std::fmt::Debug for SharedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedHook")
    }
}

#[derive(Debug)]
pub struct Backbone {
    cfg: ModelConfig,
    adapter: Option<SharedHook>,
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Linear,
    rope: Rope,
    device: Device,
    /// Decode steps' masks from the device-side buffer (on a GPU) instead of the host.
    device_masks: bool,
}

impl Backbone {
    pub fn new(cfg: &ModelConfig, w: &Weights, opts: &LoadOptions) -> Result<Self, ModelError> {
        let embed_name = "model.embed_tokens.weight";
        let embed_tokens = w.dense(embed_name, &[cfg.vocab_size, cfg.hidden_size])?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::load(cfg, w, i, opts))
            .collect::<Result<Vec<_>, _>>()?;
        let norm = RmsNorm::load(cfg, w, "model.norm.weight")?;
        // Tied models have no `lm_head.weight`: the head is the embedding table, in the
        // stored format so a quantized table gives a quantized head.
        let head_name = if w.contains("lm_head.weight") {
            "lm_head.weight"
        } else {
            embed_name
        };
        let lm_head = Linear::load(w, head_name, cfg.vocab_size, cfg.hidden_size, false, opts)?;
        Ok(Self {
            cfg: cfg.clone(),
            adapter: None,
            embed_tokens,
            layers,
            norm,
            lm_head,
            rope: Rope::new(cfg, &w.device)?,
            device: w.device.clone(),
            device_masks: !w.device.is_cpu(),
        })
    }

    /// Builds decode masks on the device even on the CPU, to test that path there.
    #[cfg(test)]
    pub(crate) fn set_device_masks(&mut self, on: bool) {
        self.device_masks = on;
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The token embedding table `[vocab, hidden]`, dense f32.
    pub fn embed_tokens(&self) -> &Tensor {
        &self.embed_tokens
    }

    /// Embeddings of `ids` `[B, L]`, scaled by `sqrt(hidden)` for Gemma2.
    pub fn embed(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let x = self
            .embed_tokens
            .index_select(&ids.flatten_all()?.to_dtype(DType::U32)?, 0)?;
        let x = x.reshape((b, l, self.cfg.hidden_size))?;
        match self.cfg.family {
            Family::Gemma2 => x * (self.cfg.hidden_size as f64).sqrt(),
            _ => Ok(x),
        }
    }

    /// Fast path. `ids` `[B, L]`; `pad` `[B, L]` with 1 for real tokens and 0 for (left)
    /// padding, `None` when all are real. Continues from what `cache` holds; returns the
    /// final-norm hidden states `[B, L, hidden]`. After an error, `cache.clear()`.
    pub fn forward_hidden(
        &self,
        ids: &Tensor,
        cache: &mut KvCache,
        pad: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        self.forward_hidden_hooked(ids, cache, pad, None)
    }

    /// Applies `adapter` in every [`Backbone::forward_hidden`] from now on: a LoRA adapter
    /// kept beside quantized weights instead of merged into them, where re-quantizing
    /// would round a small trained update away.
    pub fn set_adapter(&mut self, adapter: Option<SharedHook>) {
        self.adapter = adapter;
    }

    pub fn adapter(&self) -> Option<&SharedHook> {
        self.adapter.as_ref()
    }

    /// [`Backbone::forward_hidden`] with an adapter: `hook` adds its delta to every
    /// projection's quantized output, so a trained adapter runs at fast-path speed
    /// without being merged into (and lost in the rounding of) quantized weights.
    /// Without `hook`, the backbone's own adapter (if set) applies.
    pub fn forward_hidden_hooked(
        &self,
        ids: &Tensor,
        cache: &mut KvCache,
        pad: Option<&Tensor>,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let real = real_flags(b, l, pad)?;
        self.forward_hidden_flags(ids, cache, &real, hook)
    }

    /// `hook`, else the backbone's own adapter (if set): what the fast path applies.
    fn hook_or_own<'a>(&'a self, hook: Option<&'a dyn LinearHook>) -> Option<&'a dyn LinearHook> {
        hook.or_else(|| {
            self.adapter
                .as_ref()
                .map(|h| h.0.as_ref() as &dyn LinearHook)
        })
    }

    /// [`Backbone::forward_hidden_hooked`] with the padding as host flags (`real[b][l]`,
    /// true for a real token) rather than a tensor, which would have to be read back
    /// from the device.
    pub fn forward_hidden_flags(
        &self,
        ids: &Tensor,
        cache: &mut KvCache,
        real: &[Vec<bool>],
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let hook = self.hook_or_own(hook);
        let (b, l) = ids.dims2()?;
        if real.len() != b || real.iter().any(|r| r.len() != l) {
            candle_core::bail!("padding flags do not match ids of shape [{b}, {l}]")
        }
        let (start, positions) = cache.extend_rows(real)?;
        // A one-token step of real tokens (every decode step) reads the device buffer; a
        // padded one (a pad query sees only itself) takes the host's masks.
        let step = if self.device_masks && l == 1 && real.iter().all(|r| r[0]) {
            self.decode_step_inputs(cache, &positions)?
        } else {
            self.step_inputs(cache.rows(), start, l, &positions)?
        };
        let mut x = self.embed(ids)?;
        for layer in &self.layers {
            x = layer.forward(&x, &step, cache, start, hook)?;
        }
        self.norm.forward(&x)
    }

    /// Differentiable path over the whole sequence, no cache; `hook` sees every
    /// q/k/v/o/gate/up/down projection.
    pub fn forward_hidden_train(
        &self,
        ids: &Tensor,
        pad: Option<&Tensor>,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        self.forward_upper_train(&self.embed(ids)?, pad, 0, hook)
    }

    fn step_inputs(
        &self,
        rows: &[RowSlots],
        start: usize,
        len: usize,
        positions: &[u32],
    ) -> candle_core::Result<StepInputs> {
        let rope = self.rope.at(positions, rows.len(), len)?;
        let mask_global = mask::attention_mask(rows, start, len, None, &self.device)?;
        let window = (0..self.layers.len()).find_map(|i| self.cfg.layer_window(i));
        let mask_local = match window {
            Some(w) => mask::attention_mask(rows, start, len, Some(w), &self.device)?,
            None => None,
        };
        Ok(StepInputs {
            rope,
            mask_global,
            mask_local,
        })
    }

    /// How the fast path holds the matrices: storage name (see [`Linear::storage`]) and
    /// how many matrices have it, the fused ones counted once, the token head included.
    pub fn weight_storage(&self) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        let all = self
            .layers
            .iter()
            .flat_map(|l| l.linears())
            .chain(std::iter::once(&self.lm_head));
        for lin in all {
            *out.entry(lin.storage()).or_insert(0) += 1;
        }
        out
    }

    /// A one-token step's inputs with the masks from the cache's device-side buffer.
    fn decode_step_inputs(
        &self,
        cache: &mut KvCache,
        positions: &[u32],
    ) -> candle_core::Result<StepInputs> {
        let rope = self.rope.at(positions, cache.batch(), 1)?;
        let window = (0..self.layers.len()).find_map(|i| self.cfg.layer_window(i));
        let (mask_global, mask_local) = cache.decode_masks(window, &self.device)?;
        Ok(StepInputs {
            rope,
            mask_global,
            mask_local,
        })
    }

    /// Token logits of final-norm hidden states (`[B, H]`, `[B, L, H]`, ...), with
    /// Gemma2's final soft-capping. Fast path: apply it to the positions you need only.
    pub fn logits(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        self.softcap(self.lm_head.forward(hidden)?)
    }

    /// Differentiable [`Backbone::logits`] (dense head weight).
    pub fn logits_train(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        self.softcap(self.lm_head.forward_train(hidden)?)
    }

    fn softcap(&self, logits: Tensor) -> candle_core::Result<Tensor> {
        match self.cfg.final_logit_softcapping {
            Some(cap) => (logits / cap)?.tanh()? * cap,
            None => Ok(logits),
        }
    }
}

/// Reads the padding mask to the host as per-row flags (true = real token).
fn real_flags(b: usize, l: usize, pad: Option<&Tensor>) -> candle_core::Result<Vec<Vec<bool>>> {
    let Some(pad) = pad else {
        return Ok(vec![vec![true; l]; b]);
    };
    if pad.dims() != [b, l] {
        candle_core::bail!(
            "padding mask has shape {:?}, ids have [{b}, {l}]",
            pad.dims()
        )
    }
    let flags: Vec<Vec<u32>> = pad.to_dtype(DType::U32)?.to_vec2()?;
    Ok(flags
        .into_iter()
        .map(|row| row.into_iter().map(|v| v != 0).collect())
        .collect())
}
