//! RMSNorm. Gemma2 scales by `1 + w` (its checkpoints store `w` centred on zero), the
//! others by `w`; the sum is done once at load so both paths share one `alpha`.
//! See Gemma2 in Hugging Face transformers, `Gemma2RMSNorm`.
//!
//! The differentiable path on the CPU is one op per row with its own backward (the
//! composite `rms_norm_slow` records six ops, and its sum runs on one thread); the
//! scale is a frozen base weight, so only the input gets a gradient.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_values::f32_values;
use crate::model::config::{Family, ModelConfig};
use crate::model::error::ModelError;
use crate::model::weights::Weights;

#[derive(Debug, Clone)]
pub struct RmsNorm {
    alpha: Tensor,
    eps: f32,
    /// `alpha` on the host, for the fused differentiable op (CPU f32 only).
    host: Option<Arc<Vec<f32>>>,
}

impl RmsNorm {
    pub fn load(cfg: &ModelConfig, w: &Weights, name: &str) -> Result<Self, ModelError> {
        let weight = w.dense(name, &[cfg.hidden_size])?;
        let alpha = match cfg.family {
            Family::Gemma2 => (weight + 1.0)?,
            _ => weight,
        };
        let host = match (alpha.device().is_cpu(), alpha.dtype()) {
            (true, DType::F32) => Some(Arc::new(alpha.to_vec1::<f32>()?)),
            _ => None,
        };
        Ok(Self {
            alpha,
            eps: cfg.rms_norm_eps as f32,
            host,
        })
    }

    /// Fused kernel, no backward.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(x, &self.alpha, self.eps)
    }

    /// Differentiable in `x`: the fused op on the CPU in f32, else the explicit formula.
    pub fn forward_train(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match &self.host {
            Some(alpha) if x.device().is_cpu() && x.dtype() == DType::F32 => {
                x.contiguous()?.apply_op1(RmsTrain {
                    alpha: alpha.clone(),
                    eps: self.eps,
                })
            }
            _ => candle_nn::ops::rms_norm_slow(x, &self.alpha, self.eps),
        }
    }
}

/// `y = x / sqrt(mean(x^2) + eps) * alpha` over the last dimension.
struct RmsTrain {
    alpha: Arc<Vec<f32>>,
    eps: f32,
}

impl RmsTrain {
    /// `1 / sqrt(mean(x^2) + eps)` of one row.
    fn inv_rms(&self, x: &[f32]) -> f32 {
        let ss: f32 = x.iter().map(|v| v * v).sum();
        1.0 / (ss / x.len() as f32 + self.eps).sqrt()
    }

    /// The rows of a contiguous f32 operand, checked against `alpha`'s width.
    fn rows<'a>(&self, s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
        let v = f32_values("rms norm", s, l)?;
        if l.shape().dims().last() != Some(&self.alpha.len()) {
            candle_core::bail!(
                "rms norm: input {:?}, scale {}",
                l.shape(),
                self.alpha.len()
            );
        }
        Ok(v)
    }
}

impl CustomOp1 for RmsTrain {
    fn name(&self) -> &'static str {
        "r2ec-rms-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = self.rows(s, l)?;
        let n = self.alpha.len();
        let mut y = vec![0f32; x.len()];
        x.par_chunks(n).zip(y.par_chunks_mut(n)).for_each(|(x, y)| {
            let r = self.inv_rms(x);
            for ((y, &x), &a) in y.iter_mut().zip(x).zip(self.alpha.iter()) {
                *y = x * r * a;
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let back = RmsTrainBwd {
            op: RmsTrain {
                alpha: self.alpha.clone(),
                eps: self.eps,
            },
        };
        Ok(Some(
            x.contiguous()?.apply_op2_no_bwd(&g.contiguous()?, &back)?,
        ))
    }
}

/// `dL/dx` from `x` and `dL/dy`: with `u = g * alpha` and `r` the row's inverse RMS,
/// `r u - x r^3 sum(u x) / n`.
struct RmsTrainBwd {
    op: RmsTrain,
}

impl CustomOp2 for RmsTrainBwd {
    fn name(&self) -> &'static str {
        "r2ec-rms-norm-bwd"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, g) = (self.op.rows(xs, xl)?, self.op.rows(gs, gl)?);
        if x.len() != g.len() {
            candle_core::bail!("rms norm backward: shapes differ");
        }
        let n = self.op.alpha.len();
        let alpha = self.op.alpha.as_slice();
        let mut dx = vec![0f32; x.len()];
        x.par_chunks(n)
            .zip(g.par_chunks(n))
            .zip(dx.par_chunks_mut(n))
            .for_each(|((x, g), d)| {
                let r = self.op.inv_rms(x);
                let dot: f32 = x
                    .iter()
                    .zip(g)
                    .zip(alpha)
                    .map(|((x, g), a)| g * a * x)
                    .sum();
                let k = r * r * r * dot / n as f32;
                for (((d, &x), &g), &a) in d.iter_mut().zip(x).zip(g).zip(alpha) {
                    *d = r * g * a - x * k;
                }
            });
        Ok((CpuStorage::F32(dx), xl.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::model::backbone::tests::{max_diff, value_and_grad};

    /// Values and the input gradient equal candle's explicit formula.
    #[test]
    fn fused_train_norm_matches_the_formula() {
        let dev = Device::Cpu;
        let alpha = Tensor::randn(1f32, 0.3, 16, &dev).unwrap();
        let norm = RmsNorm {
            alpha: alpha.clone(),
            eps: 1e-5,
            host: Some(Arc::new(alpha.to_vec1::<f32>().unwrap())),
        };
        let base = Tensor::randn(0f32, 2.0, (3, 5, 16), &dev).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (3, 5, 16), &dev).unwrap();
        let run = |fused: bool| {
            value_and_grad(&base, &probe, |x| {
                // A strided input: the op makes it contiguous first.
                let xs = x.transpose(0, 1).unwrap().transpose(0, 1).unwrap();
                if fused {
                    norm.forward_train(&xs).unwrap()
                } else {
                    candle_nn::ops::rms_norm_slow(&xs, &alpha, 1e-5).unwrap()
                }
            })
        };
        let ((y1, g1), (y0, g0)) = (run(true), run(false));
        assert!(max_diff(&y1, &y0) < 1e-5, "values");
        assert!(max_diff(&g1, &g0) < 1e-4, "gradient");
    }
}
