//! Rotary position embeddings in Hugging Face's half-split layout (`rotate_half`), with
//! per-row positions so left-padded rows count from their first real token.
//! See RoFormer (arXiv 2104.09864) and transformers' `apply_rotary_pos_emb`.

use candle_core::{DType, Device, Tensor, D};

use super::rope_train;
use crate::model::config::ModelConfig;

#[derive(Debug, Clone)]
pub struct Rope {
    /// `[max_positions, head_dim / 2]`
    cos: Tensor,
    sin: Tensor,
    max_positions: usize,
}

/// Cos and sin for one forward call: `[L, d/2]` when every row has the same positions,
/// else `[B, L, d/2]`.
#[derive(Debug, Clone)]
pub struct RopeAt {
    pub cos: Tensor,
    pub sin: Tensor,
}

impl Rope {
    pub fn new(cfg: &ModelConfig, device: &Device) -> candle_core::Result<Self> {
        let half = cfg.head_dim / 2;
        let max_positions = cfg.max_position_embeddings.max(1);
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1f32 / cfg.rope_theta.powf((2 * i) as f64 / cfg.head_dim as f64) as f32)
            .collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), device)?;
        let t = Tensor::arange(0u32, max_positions as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((max_positions, 1))?;
        let freqs = t.matmul(&inv_freq)?;
        Ok(Self {
            cos: freqs.cos()?,
            sin: freqs.sin()?,
            max_positions,
        })
    }

    /// `positions` is row-major `[B, L]`.
    pub fn at(&self, positions: &[u32], batch: usize, len: usize) -> candle_core::Result<RopeAt> {
        if let Some(&p) = positions
            .iter()
            .find(|&&p| p as usize >= self.max_positions)
        {
            candle_core::bail!(
                "position {p} is beyond max_position_embeddings {}",
                self.max_positions
            )
        }
        let first = &positions[..len];
        let contiguous_run = first.windows(2).all(|w| w[1] == w[0] + 1);
        let same_rows = positions.chunks(len).all(|row| row == first);
        if contiguous_run && same_rows && !first.is_empty() {
            let start = first[0] as usize;
            return Ok(RopeAt {
                cos: self.cos.narrow(0, start, len)?,
                sin: self.sin.narrow(0, start, len)?,
            });
        }
        let idx = Tensor::from_slice(positions, positions.len(), self.cos.device())?;
        let half = self.cos.dim(1)?;
        Ok(RopeAt {
            cos: self
                .cos
                .index_select(&idx, 0)?
                .reshape((batch, len, half))?,
            sin: self
                .sin
                .index_select(&idx, 0)?
                .reshape((batch, len, half))?,
        })
    }
}

impl RopeAt {
    /// Fused kernel; `x` is `[B, H, L, d]`.
    pub fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::rotary_emb::rope(&x.contiguous()?, &self.cos, &self.sin)
    }

    /// Differentiable: one op with its own backward on the CPU in f32 (`rope_train.rs`),
    /// else the composite `apply_slow`.
    pub fn apply_train(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if rope_train::applies(x, &self.cos) {
            rope_train::rope_train(x, &self.cos, &self.sin)
        } else {
            self.apply_slow(x)
        }
    }

    /// Differentiable: `x * cos + rotate_half(x) * sin`, written with narrow and cat.
    pub fn apply_slow(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let d = x.dim(D::Minus1)?;
        let half = d / 2;
        // cos/sin become `[1 or B, 1, L, d/2]` to broadcast over heads.
        let (cos, sin) = match self.cos.rank() {
            2 => (
                self.cos.unsqueeze(0)?.unsqueeze(0)?,
                self.sin.unsqueeze(0)?.unsqueeze(0)?,
            ),
            _ => (self.cos.unsqueeze(1)?, self.sin.unsqueeze(1)?),
        };
        let x1 = x.narrow(D::Minus1, 0, half)?;
        let x2 = x.narrow(D::Minus1, half, half)?;
        let lo = (x1.broadcast_mul(&cos)? - x2.broadcast_mul(&sin)?)?;
        let hi = (x2.broadcast_mul(&cos)? + x1.broadcast_mul(&sin)?)?;
        Tensor::cat(&[lo, hi], D::Minus1)
    }
}
