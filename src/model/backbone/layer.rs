//! One decoder layer. Llama and Qwen2 are pre-norm (`x + attn(norm(x))`, then
//! `x + mlp(norm(x))`); Gemma2 also normalises each block's output before the
//! residual add (`post_attention_layernorm`, `post_feedforward_layernorm`).

use candle_core::Tensor;

use super::attention::{Attention, PrefixKv};
use super::cache::KvCache;
use super::hook::LinearHook;
use super::mlp::Mlp;
use super::norm::RmsNorm;
use super::rope::RopeAt;
use crate::model::config::{Family, ModelConfig};
use crate::model::error::ModelError;
use crate::model::linear::LoadOptions;
use crate::model::weights::Weights;

/// What every layer of one forward call shares: rotary tables and the masks of global
/// and sliding-window layers.
pub struct StepInputs {
    pub rope: RopeAt,
    pub mask_global: Option<Tensor>,
    pub mask_local: Option<Tensor>,
}

#[derive(Debug)]
pub struct DecoderLayer {
    index: usize,
    input_norm: RmsNorm,
    attn: Attention,
    post_attn_norm: Option<RmsNorm>,
    pre_mlp_norm: RmsNorm,
    mlp: Mlp,
    post_mlp_norm: Option<RmsNorm>,
}

impl DecoderLayer {
    pub fn load(
        cfg: &ModelConfig,
        w: &Weights,
        index: usize,
        opts: &LoadOptions,
    ) -> Result<Self, ModelError> {
        let p = format!("model.layers.{index}");
        let norm = |name: &str| RmsNorm::load(cfg, w, &format!("{p}.{name}.weight"));
        let gemma = cfg.family == Family::Gemma2;
        Ok(Self {
            index,
            input_norm: norm("input_layernorm")?,
            attn: Attention::load(cfg, w, index, &format!("{p}.self_attn"), opts)?,
            post_attn_norm: if gemma {
                Some(norm("post_attention_layernorm")?)
            } else {
                None
            },
            pre_mlp_norm: if gemma {
                norm("pre_feedforward_layernorm")?
            } else {
                norm("post_attention_layernorm")?
            },
            mlp: Mlp::load(cfg, w, &format!("{p}.mlp"), opts)?,
            post_mlp_norm: if gemma {
                Some(norm("post_feedforward_layernorm")?)
            } else {
                None
            },
        })
    }

    /// The layer's matrices: fused q/k/v, o, fused gate/up, down.
    pub fn linears(&self) -> [&crate::model::linear::Linear; 4] {
        let [qkv, o] = self.attn.linears();
        let [gate_up, down] = self.mlp.linears();
        [qkv, o, gate_up, down]
    }

    fn mask<'a>(&self, step: &'a StepInputs) -> Option<&'a Tensor> {
        match self.attn.window {
            Some(_) => step.mask_local.as_ref(),
            None => step.mask_global.as_ref(),
        }
    }

    pub fn forward(
        &self,
        x: &Tensor,
        step: &StepInputs,
        cache: &mut KvCache,
        start: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let h = self.input_norm.forward(x)?;
        let mut a = self.attn.forward(
            &h,
            self.index,
            &step.rope,
            self.mask(step),
            cache,
            start,
            hook,
        )?;
        if let Some(n) = &self.post_attn_norm {
            a = n.forward(&a)?;
        }
        let x = (x + a)?;
        let mut m = self
            .mlp
            .forward(&self.pre_mlp_norm.forward(&x)?, self.index, hook)?;
        if let Some(n) = &self.post_mlp_norm {
            m = n.forward(&m)?;
        }
        x + m
    }

    /// Differentiable path; with `prefix`, attention also sees a shared prefix's keys and
    /// values. Returns the output and this layer's own keys and values.
    pub fn forward_train(
        &self,
        x: &Tensor,
        step: &StepInputs,
        hook: Option<&dyn LinearHook>,
        prefix: Option<&PrefixKv>,
    ) -> candle_core::Result<(Tensor, PrefixKv)> {
        let h = self.input_norm.forward_train(x)?;
        let (mut a, kv) =
            self.attn
                .forward_train(&h, self.index, &step.rope, self.mask(step), hook, prefix)?;
        if let Some(n) = &self.post_attn_norm {
            a = n.forward_train(&a)?;
        }
        let x = (x + a)?;
        let mut m =
            self.mlp
                .forward_train(&self.pre_mlp_norm.forward_train(&x)?, self.index, hook)?;
        if let Some(n) = &self.post_mlp_norm {
            m = n.forward_train(&m)?;
        }
        Ok(((x + m)?, kv))
    }
}
