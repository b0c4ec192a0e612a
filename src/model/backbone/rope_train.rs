//! Rotary embeddings on the differentiable path as one op with its own backward (CPU,
//! f32).
//!
//! candle's fused `rope` has no backward, and the composite (`RopeAt::apply_slow`:
//! two narrows, four broadcast products, a difference, a sum and a concatenation) keeps
//! all of them in the graph, for the queries and the keys of every layer; walking them
//! back costs zero-filled buffers and additions of the whole `[B, H, L, d]` tensor for
//! each. The rotation is orthogonal, so the backward is the same op with the angle
//! negated: `dx1 = g1 cos + g2 sin`, `dx2 = g2 cos - g1 sin`.

use super::cpu_values::{f32_values, with_f32_values};
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Whether [`rope_train`] can run on `x` with these tables.
pub fn applies(x: &Tensor, cos: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && cos.dtype() == DType::F32
}

/// `x * cos + rotate_half(x) * sin` for `x` `[B, H, L, d]` and `cos`/`sin` `[L, d/2]`
/// (every row at the same positions) or `[B, L, d/2]`. Differentiable in `x`.
pub fn rope_train(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let (b, _, l, d) = x.dims4()?;
    if d % 2 != 0 {
        candle_core::bail!("rope: head width {d} is odd");
    }
    let want: &[usize] = match cos.rank() {
        2 => &[l, d / 2],
        _ => &[b, l, d / 2],
    };
    if cos.dims() != want || sin.dims() != want {
        candle_core::bail!(
            "rope: tables {:?} and {:?} for an input {:?}",
            cos.dims(),
            sin.dims(),
            x.dims()
        );
    }
    x.contiguous()?.apply_op1(RopeTrain {
        cos: cos.contiguous()?,
        sin: sin.contiguous()?,
        inverse: false,
    })
}

struct RopeTrain {
    cos: Tensor,
    sin: Tensor,
    /// Rotate by the negated angle (the backward).
    inverse: bool,
}

impl CustomOp1 for RopeTrain {
    fn name(&self) -> &'static str {
        "r2ec-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_values("rope", s, l)?;
        let (_, heads, len, d) = l.shape().dims4()?;
        let half = d / 2;
        let per_batch = self.cos.rank() == 3;
        let sign = if self.inverse { -1.0f32 } else { 1.0 };
        let mut y = vec![0f32; x.len()];
        with_f32_values("rope", &self.cos, |cos| {
            with_f32_values("rope", &self.sin, |sin| {
                y.par_chunks_mut(d)
                    .zip(x.par_chunks(d))
                    .enumerate()
                    .for_each(|(row, (y, x))| {
                        // row = ((b * heads) + h) * len + position
                        let pos = row % len;
                        let t = if per_batch {
                            (row / (heads * len) * len + pos) * half
                        } else {
                            pos * half
                        };
                        let (c, s) = (&cos[t..t + half], &sin[t..t + half]);
                        let (x1, x2) = x.split_at(half);
                        let (y1, y2) = y.split_at_mut(half);
                        for i in 0..half {
                            let si = sign * s[i];
                            y1[i] = x1[i] * c[i] - x2[i] * si;
                            y2[i] = x2[i] * c[i] + x1[i] * si;
                        }
                    })
            })
        })??;
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let back = RopeTrain {
            cos: self.cos.clone(),
            sin: self.sin.clone(),
            inverse: !self.inverse,
        };
        Ok(Some(g.contiguous()?.apply_op1_no_bwd(&back)?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, D};

    use super::*;
    use crate::model::backbone::tests::{max_diff, value_and_grad};

    /// The composite of `RopeAt::apply_slow`, with tables broadcast as it does.
    fn composite(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
        let (cos, sin) = match cos.rank() {
            2 => (
                cos.unsqueeze(0).unwrap().unsqueeze(0).unwrap(),
                sin.unsqueeze(0).unwrap().unsqueeze(0).unwrap(),
            ),
            _ => (cos.unsqueeze(1).unwrap(), sin.unsqueeze(1).unwrap()),
        };
        let half = x.dim(D::Minus1).unwrap() / 2;
        let x1 = x.narrow(D::Minus1, 0, half).unwrap();
        let x2 = x.narrow(D::Minus1, half, half).unwrap();
        let lo = (x1.broadcast_mul(&cos).unwrap() - x2.broadcast_mul(&sin).unwrap()).unwrap();
        let hi = (x2.broadcast_mul(&cos).unwrap() + x1.broadcast_mul(&sin).unwrap()).unwrap();
        Tensor::cat(&[lo, hi], D::Minus1).unwrap()
    }

    /// Values and the input gradient equal the composite's, for shared and per-row
    /// positions, from a strided input (as attention's transposed heads are).
    #[test]
    fn matches_the_composite_and_its_gradient() {
        let dev = Device::Cpu;
        let (b, h, l, d) = (2, 3, 5, 8);
        let x0 = Tensor::randn(0f32, 1.0, (b, l, h, d), &dev).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (b, h, l, d), &dev).unwrap();
        let angles = Tensor::randn(0f32, 2.0, (b, l, d / 2), &dev).unwrap();
        let (cos3, sin3) = (angles.cos().unwrap(), angles.sin().unwrap());
        let (cos2, sin2) = (cos3.get(1).unwrap(), sin3.get(1).unwrap());
        for (cos, sin) in [(&cos2, &sin2), (&cos3, &sin3)] {
            let run = |fused: bool| {
                value_and_grad(&x0, &probe, |v| {
                    let x = v.transpose(1, 2).unwrap();
                    if fused {
                        rope_train(&x, cos, sin).unwrap()
                    } else {
                        composite(&x, cos, sin)
                    }
                })
            };
            let ((y1, g1), (y0, g0)) = (run(true), run(false));
            assert!(max_diff(&y1, &y0) < 1e-5, "values, tables {:?}", cos.dims());
            assert!(
                max_diff(&g1, &g0) < 1e-5,
                "gradient, tables {:?}",
                cos.dims()
            );
        }
    }

    #[test]
    fn mismatched_tables_are_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((1, 2, 4, 8), DType::F32, &dev).unwrap();
        let t = Tensor::zeros((3, 4), DType::F32, &dev).unwrap();
        let e = rope_train(&x, &t, &t).unwrap_err().to_string();
        assert!(e.contains("rope: tables [3, 4]"), "{e}");
    }
}
