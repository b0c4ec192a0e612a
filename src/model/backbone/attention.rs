//! Multi-head self-attention with grouped-query heads, optional q/k/v biases (Qwen2),
//! tanh soft-capping of the attention logits and a sliding window (Gemma2).
//! Query heads of one group are folded into the sequence axis so keys and values are
//! never copied per head ([B, kv, G*L, d] against [B, kv, T, d]).

use candle_core::{Tensor, D};

use super::cache::KvCache;
use super::few_rows;
use super::hook::{hooked, LinearHook, LoraTarget};
use super::rope::RopeAt;
use super::softmax::softmax_train;
use crate::model::config::ModelConfig;
use crate::model::error::ModelError;
use crate::model::linear::{Linear, LoadOptions};
use crate::model::weights::Weights;

/// One layer's keys (after rope) and values `[B, kv, T, d]` on the differentiable path.
#[derive(Debug, Clone)]
pub struct PrefixKv {
    pub k: Tensor,
    pub v: Tensor,
}

#[derive(Debug)]
pub struct Attention {
    /// q, k and v projections fused row-wise: `[(H + 2 kv) d, hidden]`.
    qkv: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    scale: f64,
    softcap: Option<f64>,
    pub(crate) window: Option<usize>,
}

impl Attention {
    pub fn load(
        cfg: &ModelConfig,
        w: &Weights,
        layer: usize,
        prefix: &str,
        opts: &LoadOptions,
    ) -> Result<Self, ModelError> {
        let (h, d, f, b) = (cfg.hidden_size, cfg.head_dim, opts, cfg.attention_bias);
        let (nq, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        // Qwen2 has biases on q/k/v only; a Llama with attention_bias has one on o too.
        let o_bias = b && cfg.family != crate::model::config::Family::Qwen2;
        Ok(Self {
            qkv: Linear::concat(vec![
                Linear::load(w, &format!("{prefix}.q_proj.weight"), nq * d, h, b, f)?,
                Linear::load(w, &format!("{prefix}.k_proj.weight"), nkv * d, h, b, f)?,
                Linear::load(w, &format!("{prefix}.v_proj.weight"), nkv * d, h, b, f)?,
            ])?,
            o: Linear::load(w, &format!("{prefix}.o_proj.weight"), h, nq * d, o_bias, f)?,
            heads: nq,
            kv_heads: nkv,
            head_dim: d,
            scale: cfg.attention_scale(),
            softcap: cfg.attn_logit_softcapping,
            window: cfg.layer_window(layer),
        })
    }

    /// The block's matrices (for reports of how they are stored).
    pub fn linears(&self) -> [&Linear; 2] {
        [&self.qkv, &self.o]
    }

    /// `[B, L, n*d]` to `[B, n, L, d]`.
    fn split_heads(&self, x: &Tensor, n: usize) -> candle_core::Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        x.reshape((b, l, n, self.head_dim))?.transpose(1, 2)
    }

    /// The fused projection's output split into q, k and v (views, `[B, L, n*d]`).
    fn split_qkv(&self, y: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let (nq, nkv) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        Ok((
            y.narrow(D::Minus1, 0, nq)?,
            y.narrow(D::Minus1, nq, nkv)?,
            y.narrow(D::Minus1, nq + nkv, nkv)?,
        ))
    }

    /// Fast path: fused rope and softmax, keys and values appended to `cache` at `start`;
    /// `hook` (an adapter's delta on the quantized base output) for adapted inference.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &Tensor,
        layer: usize,
        rope: &RopeAt,
        mask: Option<&Tensor>,
        cache: &mut KvCache,
        start: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let (q, k, v) = self.split_qkv(&self.qkv.forward(x)?)?;
        let (q, k, v) = match hook {
            Some(_) => (
                hooked(hook, layer, LoraTarget::Q, x, q)?,
                hooked(hook, layer, LoraTarget::K, x, k)?,
                hooked(hook, layer, LoraTarget::V, x, v)?,
            ),
            None => (q, k, v),
        };
        let q = rope.apply(&self.split_heads(&q, self.heads)?)?;
        let k = rope.apply(&self.split_heads(&k, self.kv_heads)?)?;
        let v = self.split_heads(&v, self.kv_heads)?;
        let (k, v) = cache.append(layer, start, &k, &v)?;
        let out = if few_rows::applies(&q) {
            few_rows::attend(&q, &k, &v, mask, self.scale, self.softcap)?
        } else {
            self.attend(&q, &k, &v, mask, candle_nn::ops::softmax_last_dim)?
        };
        hooked(hook, layer, LoraTarget::O, &out, self.o.forward(&out)?)
    }

    /// Differentiable path: `rope_train`, `softmax_train` (one op with its own backward),
    /// every projection through `hook`.
    /// With `prefix`, the queries also attend to a shared prefix's keys and values (a
    /// prompt computed once for a group of continuations); returns this call's own keys
    /// and values too, so a prompt pass can serve as the prefix of later calls.
    pub fn forward_train(
        &self,
        x: &Tensor,
        layer: usize,
        rope: &RopeAt,
        mask: Option<&Tensor>,
        hook: Option<&dyn LinearHook>,
        prefix: Option<&PrefixKv>,
    ) -> candle_core::Result<(Tensor, PrefixKv)> {
        let (q, k, v) = self.split_qkv(&self.qkv.forward_train(x)?)?;
        let q = hooked(hook, layer, LoraTarget::Q, x, q)?;
        let k = hooked(hook, layer, LoraTarget::K, x, k)?;
        let v = hooked(hook, layer, LoraTarget::V, x, v)?;
        let q = rope.apply_train(&self.split_heads(&q, self.heads)?)?;
        let k = rope.apply_train(&self.split_heads(&k, self.kv_heads)?)?;
        let v = self.split_heads(&v, self.kv_heads)?.contiguous()?;
        let own = PrefixKv { k, v };
        let out = match prefix {
            Some(p) => {
                // Every row sees the same prefix: broadcast (its gradient sums over the
                // rows), then the row's own keys after it.
                let b = q.dim(0)?;
                let widen = |t: &Tensor| {
                    let (_, n, len, d) = t.dims4()?;
                    t.broadcast_as((b, n, len, d))
                };
                let k = Tensor::cat(&[&widen(&p.k)?, &own.k], 2)?.contiguous()?;
                let v = Tensor::cat(&[&widen(&p.v)?, &own.v], 2)?.contiguous()?;
                self.attend(&q, &k, &v, mask, softmax_train)?
            }
            None => self.attend(&q, &own.k, &own.v, mask, softmax_train)?,
        };
        let out = hooked(
            hook,
            layer,
            LoraTarget::O,
            &out,
            self.o.forward_train(&out)?,
        )?;
        Ok((out, own))
    }

    /// `q` `[B, H, L, d]`, `k`/`v` `[B, kv, T, d]`, `mask` `[B, 1, L, T]`; returns `[B, L, H*d]`.
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        softmax: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (b, _, l, d) = q.dims4()?;
        let t = k.dim(2)?;
        let groups = self.heads / self.kv_heads;
        let q = (q.contiguous()?.reshape((b, self.kv_heads, groups * l, d))? * self.scale)?;
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(cap) = self.softcap {
            scores = ((scores / cap)?.tanh()? * cap)?;
        }
        if let Some(mask) = mask {
            scores = scores
                .reshape((b, self.kv_heads, groups, l, t))?
                .broadcast_add(&mask.unsqueeze(2)?)?
                .reshape((b, self.kv_heads, groups * l, t))?;
        }
        let probs = softmax(&scores)?;
        probs
            .matmul(v)?
            .reshape((b, self.heads, l, d))?
            .transpose(1, 2)?
            .reshape((b, l, self.heads * d))
    }
}
