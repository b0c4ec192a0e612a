//! Softmax over the last dimension for the differentiable path, as one op with its own
//! backward. candle's fused `softmax_last_dim` has no backward, and its composite
//! `ops::softmax` records five ops (max, subtract, exp, sum, divide) over the whole
//! `[B, heads, L, T]` score tensor and walks all five back: the attention scores are
//! the largest tensors of a training pass. Here the forward is one pass over each row
//! and the backward is `p * (g - sum(g * p))`, from the saved output alone, also one
//! pass over each row (candle's `sum_keepdim` runs on one thread).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use super::cpu_values::f32_values;

struct SoftmaxLast;

impl CustomOp1 for SoftmaxLast {
    fn name(&self) -> &'static str {
        "r2ec-softmax-last"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let src = f32_values("softmax_train", storage, layout)?;
        let dims = layout.shape().dims();
        let width = dims.last().copied().unwrap_or(1).max(1);
        let mut dst = vec![0f32; src.len()];
        src.par_chunks(width)
            .zip(dst.par_chunks_mut(width))
            .for_each(|(s, d)| softmax_row(s, d));
        Ok((CpuStorage::F32(dst), Shape::from_dims(dims)))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        // The op runs only on the CPU in f32 (`softmax_train`), so its output is too.
        let g = grad_res.contiguous()?;
        Ok(Some(res.contiguous()?.apply_op2_no_bwd(&g, &SoftmaxBwd)?))
    }
}

/// The softmax's input gradient from its output `p` and the output's gradient `g`.
struct SoftmaxBwd;

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "r2ec-softmax-last-bwd"
    }

    fn cpu_fwd(
        &self,
        p: &CpuStorage,
        p_layout: &Layout,
        g: &CpuStorage,
        g_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let p = f32_values("softmax_train backward", p, p_layout)?;
        let g = f32_values("softmax_train backward", g, g_layout)?;
        if p_layout.shape() != g_layout.shape() {
            candle_core::bail!("softmax_train backward: shapes differ");
        }
        let dims = p_layout.shape().dims();
        let width = dims.last().copied().unwrap_or(1).max(1);
        let mut dst = vec![0f32; p.len()];
        p.par_chunks(width)
            .zip(g.par_chunks(width))
            .zip(dst.par_chunks_mut(width))
            .for_each(|((p, g), d)| {
                let dot: f32 = p.iter().zip(g).map(|(a, b)| a * b).sum();
                for ((d, &p), &g) in d.iter_mut().zip(p).zip(g) {
                    *d = p * (g - dot);
                }
            });
        Ok((CpuStorage::F32(dst), Shape::from_dims(dims)))
    }
}

/// `d = softmax(s)`, max-shifted; a row of all `-inf` gives NaN, as the composite does.
fn softmax_row(s: &[f32], d: &mut [f32]) {
    let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for (x, y) in s.iter().zip(d.iter_mut()) {
        *y = (x - max).exp();
        sum += *y;
    }
    let inv = 1.0 / sum;
    for y in d.iter_mut() {
        *y *= inv;
    }
}

/// Softmax over the last dimension, differentiable. On the CPU in f32 it is the fused op
/// above; elsewhere candle's composite (same values, same gradient).
pub fn softmax_train(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(SoftmaxLast)
    } else {
        candle_nn::ops::softmax(x, D::Minus1)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var, D};

    use super::softmax_train;
    use crate::model::backbone::tests::max_diff;

    /// Values and the gradient of a weighted sum equal candle's composite softmax, on
    /// scores with masked (`-inf`) entries and a non-contiguous input.
    #[test]
    fn matches_the_composite_softmax_and_its_gradient() {
        let dev = Device::Cpu;
        let base = Tensor::randn(0f32, 3.0, (2, 3, 5, 7), &dev).unwrap();
        // A causal-style mask: -inf above the diagonal of the last two dims.
        let mask: Vec<f32> = (0..5)
            .flat_map(|i| (0..7).map(move |j| if j > i + 2 { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (1, 1, 5, 7), &dev).unwrap();
        let weights = Tensor::randn(0f32, 1.0, (2, 3, 5, 7), &dev).unwrap();
        let run = |fused: bool| {
            let x = Var::from_tensor(&base).unwrap();
            let s = x.as_tensor().broadcast_add(&mask).unwrap();
            // Transposed and back: the op sees a strided input first.
            let s = s.transpose(2, 3).unwrap().transpose(2, 3).unwrap();
            let p = if fused {
                softmax_train(&s).unwrap()
            } else {
                candle_nn::ops::softmax(&s, D::Minus1).unwrap()
            };
            let loss = (&p * &weights).unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap();
            (p, g.get(x.as_tensor()).unwrap().clone())
        };
        let (p1, g1) = run(true);
        let (p0, g0) = run(false);
        assert!(max_diff(&p1, &p0) < 1e-6, "values");
        assert!(max_diff(&g1, &g0) < 1e-5, "gradient");
        let rows = p1.sum_keepdim(D::Minus1).unwrap();
        assert!(max_diff(&rows, &rows.ones_like().unwrap()) < 1e-6);
        // Masked entries get exactly zero probability and zero gradient.
        let p = p1.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let g = g1.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (i, (pv, gv)) in p.iter().zip(&g).enumerate() {
            let (r, c) = ((i / 7) % 5, i % 7);
            if c > r + 2 {
                assert_eq!((*pv, *gv), (0.0, 0.0), "entry {i}");
            }
        }
    }
}
