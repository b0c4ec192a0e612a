//! RMSNorm. Gemma2 scales by `1 + w` (its checkpoints store `w` centred on zero), the
//! others by `w`; the sum is done once at load so both paths share one `alpha`.
//! See Gemma2 in Hugging Face transformers, `Gemma2RMSNorm`.

use candle_core::Tensor;

use crate::model::config::{Family, ModelConfig};
use crate::model::error::ModelError;
use crate::model::weights::Weights;

#[derive(Debug, Clone)]
pub struct RmsNorm {
    alpha: Tensor,
    eps: f32,
}

impl RmsNorm {
    pub fn load(cfg: &ModelConfig, w: &Weights, name: &str) -> Result<Self, ModelError> {
        let weight = w.dense(name, &[cfg.hidden_size])?;
        let alpha = match cfg.family {
            Family::Gemma2 => (weight + 1.0)?,
            _ => weight,
        };
        Ok(Self {
            alpha,
            eps: cfg.rms_norm_eps as f32,
        })
    }

    /// Fused kernel, no backward.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(x, &self.alpha, self.eps)
    }

    /// Explicit formula, differentiable.
    pub fn forward_train(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm_slow(x, &self.alpha, self.eps)
    }
}
