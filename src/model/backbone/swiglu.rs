//! The SwiGLU gate of the differentiable path, `silu(g + dg) * (u + du)`, as one op with
//! its own backward (CPU, f32).
//!
//! `g` and `u` are the two halves of the fused gate/up projection's output and `dg`, `du`
//! the adapter's updates of each. Written with candle's ops this is two narrows, two
//! adds, a SiLU and a product, and their backward is worse than their forward: each
//! narrow's gradient is a zero tensor concatenated around the slice and added into a
//! zero-filled buffer of the full width, the adds and the product each get zero-filled
//! buffers too, and SiLU's gradient is seven more elementwise tensors, most of them on
//! one thread. Here the forward is one pass over each row, and the backward one pass
//! that writes the three gradients the chain rule needs.

use super::cpu_values::f32_values;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Storage, Tensor, D};
use rayon::prelude::*;

/// Whether [`swiglu_train`] can run on `y` (the fused gate/up output).
pub fn applies(y: &Tensor) -> bool {
    y.device().is_cpu() && y.dtype() == DType::F32
}

/// `silu(y[.., :I] + dg) * (y[.., I:] + du)` for `y` `[.., 2I]`; a missing update counts
/// as zero. Differentiable in all three.
pub fn swiglu_train(
    y: &Tensor,
    dg: Option<&Tensor>,
    du: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let y = y.contiguous()?;
    let width = y.dim(D::Minus1)?;
    if width % 2 != 0 {
        candle_core::bail!("swiglu: the fused gate/up width {width} is odd");
    }
    let half_shape = {
        let mut dims = y.dims().to_vec();
        *dims.last_mut().expect("checked above") = width / 2;
        Shape::from_dims(&dims)
    };
    let delta = |d: Option<&Tensor>| -> candle_core::Result<Tensor> {
        match d {
            Some(d) if d.shape() == &half_shape => d.contiguous(),
            Some(d) => {
                candle_core::bail!("swiglu: update {:?}, expected {half_shape:?}", d.shape())
            }
            // `y` stands in for a missing update; the op does not read it.
            None => Ok(y.clone()),
        }
    };
    let op = SwiGlu {
        has: [dg.is_some(), du.is_some()],
    };
    y.apply_op3(&delta(dg)?, &delta(du)?, op)
}

struct SwiGlu {
    /// Which of the updates `dg`, `du` are real operands.
    has: [bool; 2],
}

fn sigmoid(a: f32) -> f32 {
    1.0 / (1.0 + (-a).exp())
}

impl SwiGlu {
    /// The gate and up pre-activations of one row: halves of `y` plus the updates.
    fn row(&self, y: &[f32], dg: &[f32], du: &[f32], i: usize) -> (f32, f32) {
        let h = y.len() / 2;
        let a = y[i] + if self.has[0] { dg[i] } else { 0.0 };
        let b = y[h + i] + if self.has[1] { du[i] } else { 0.0 };
        (a, b)
    }
}

impl CustomOp3 for SwiGlu {
    fn name(&self) -> &'static str {
        "r2ec-swiglu"
    }

    fn cpu_fwd(
        &self,
        ys: &CpuStorage,
        yl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
        us: &CpuStorage,
        ul: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = f32_values("swiglu", ys, yl)?;
        let (dg, du) = (f32_values("swiglu", gs, gl)?, f32_values("swiglu", us, ul)?);
        let dims = yl.shape().dims();
        let h = dims.last().copied().unwrap_or(0) / 2;
        let mut out = vec![0f32; y.len() / 2];
        if h > 0 {
            // A missing update's operand is `y` itself: row r of it is never read.
            let (gw, uw) = (
                if self.has[0] { h } else { 2 * h },
                if self.has[1] { h } else { 2 * h },
            );
            out.par_chunks_mut(h)
                .zip(y.par_chunks(2 * h))
                .zip(dg.par_chunks(gw).zip(du.par_chunks(uw)))
                .for_each(|((o, y), (dg, du))| {
                    for (i, o) in o.iter_mut().enumerate() {
                        let (a, b) = self.row(y, dg, du, i);
                        *o = a * sigmoid(a) * b;
                    }
                });
        }
        let mut shape = dims.to_vec();
        if let Some(last) = shape.last_mut() {
            *last = h;
        }
        Ok((CpuStorage::F32(out), Shape::from_dims(&shape)))
    }

    fn bwd(
        &self,
        y: &Tensor,
        dg: &Tensor,
        du: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        let h = y.dim(D::Minus1)? / 2;
        let rows = y.elem_count() / (2 * h).max(1);
        let mut gy = vec![0f32; rows * 2 * h];
        let mut ga = vec![0f32; if self.has[0] { rows * h } else { 0 }];
        let mut gb = vec![0f32; if self.has[1] { rows * h } else { 0 }];
        {
            let (ys, yl) = y.storage_and_layout();
            let (gs, gl) = dg.storage_and_layout();
            let (us, ul) = du.storage_and_layout();
            let (os, ol) = g.storage_and_layout();
            let (Storage::Cpu(ys), Storage::Cpu(gs), Storage::Cpu(us), Storage::Cpu(os)) =
                (&*ys, &*gs, &*us, &*os)
            else {
                candle_core::bail!("swiglu backward: operands not on the CPU");
            };
            let (yv, dgv, duv, gv) = (
                f32_values("swiglu", ys, yl)?,
                f32_values("swiglu", gs, gl)?,
                f32_values("swiglu", us, ul)?,
                f32_values("swiglu", os, ol)?,
            );
            if h > 0 {
                let (gw, uw) = (
                    if self.has[0] { h } else { 2 * h },
                    if self.has[1] { h } else { 2 * h },
                );
                // Rows of the optional outputs: empty buffers give no chunks, so pair
                // each row with a slot that may be empty.
                let ga_rows: Vec<&mut [f32]> = if self.has[0] {
                    ga.chunks_mut(h).collect()
                } else {
                    (0..rows).map(|_| &mut [][..]).collect()
                };
                let gb_rows: Vec<&mut [f32]> = if self.has[1] {
                    gb.chunks_mut(h).collect()
                } else {
                    (0..rows).map(|_| &mut [][..]).collect()
                };
                gy.par_chunks_mut(2 * h)
                    .zip(ga_rows.into_par_iter().zip(gb_rows.into_par_iter()))
                    .zip(yv.par_chunks(2 * h).zip(gv.par_chunks(h)))
                    .zip(dgv.par_chunks(gw).zip(duv.par_chunks(uw)))
                    .for_each(|(((gy, (ga, gb)), (y, g)), (dg, du))| {
                        let (gy_a, gy_b) = gy.split_at_mut(h);
                        for i in 0..h {
                            let (a, b) = self.row(y, dg, du, i);
                            let s = sigmoid(a);
                            // d silu(a) / da = s (1 + a (1 - s))
                            let d_a = g[i] * b * s * (1.0 + a * (1.0 - s));
                            let d_b = g[i] * a * s;
                            gy_a[i] = d_a;
                            gy_b[i] = d_b;
                            if let Some(x) = ga.get_mut(i) {
                                *x = d_a;
                            }
                            if let Some(x) = gb.get_mut(i) {
                                *x = d_b;
                            }
                        }
                    });
            }
        }
        let dev = y.device();
        let half = dg.shape().clone();
        let gy = Tensor::from_vec(gy, y.shape(), dev)?;
        let ga = self.has[0]
            .then(|| Tensor::from_vec(ga, &half, dev))
            .transpose()?;
        let half = du.shape().clone();
        let gb = self.has[1]
            .then(|| Tensor::from_vec(gb, &half, dev))
            .transpose()?;
        Ok((Some(gy), ga, gb))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::*;
    use crate::model::backbone::tests::max_diff;

    /// candle's composite: narrows, adds, SiLU, product.
    fn composite(y: &Tensor, dg: Option<&Tensor>, du: Option<&Tensor>) -> Tensor {
        let h = y.dim(D::Minus1).unwrap() / 2;
        let mut g = y.narrow(D::Minus1, 0, h).unwrap();
        let mut u = y.narrow(D::Minus1, h, h).unwrap();
        if let Some(d) = dg {
            g = (g + d).unwrap();
        }
        if let Some(d) = du {
            u = (u + d).unwrap();
        }
        (g.silu().unwrap() * u).unwrap()
    }

    /// Values and all three gradients equal the composite's, with both updates, one, or
    /// none, for 2-D and 3-D inputs.
    #[test]
    fn matches_the_composite_and_its_gradients() {
        let dev = Device::Cpu;
        for dims in [vec![5usize, 12], vec![2, 3, 12]] {
            let mut half = dims.clone();
            *half.last_mut().unwrap() = 6;
            let y0 = Tensor::randn(0f32, 2.0, dims.as_slice(), &dev).unwrap();
            let g0 = Tensor::randn(0f32, 0.5, half.as_slice(), &dev).unwrap();
            let u0 = Tensor::randn(0f32, 0.5, half.as_slice(), &dev).unwrap();
            let probe = Tensor::randn(0f32, 1.0, half.as_slice(), &dev).unwrap();
            for has in [[true, true], [true, false], [false, true], [false, false]] {
                let run = |fused: bool| {
                    let (y, g, u) = (
                        Var::from_tensor(&y0).unwrap(),
                        Var::from_tensor(&g0).unwrap(),
                        Var::from_tensor(&u0).unwrap(),
                    );
                    let dg = has[0].then(|| g.as_tensor());
                    let du = has[1].then(|| u.as_tensor());
                    let out = if fused {
                        swiglu_train(y.as_tensor(), dg, du).unwrap()
                    } else {
                        composite(y.as_tensor(), dg, du)
                    };
                    let grads = (&out * &probe)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    let get = |v: &Var| grads.get(v.as_tensor()).cloned();
                    (out, get(&y).unwrap(), get(&g), get(&u))
                };
                let (f, c) = (run(true), run(false));
                assert!(max_diff(&f.0, &c.0) < 1e-5, "values {dims:?} {has:?}");
                assert!(max_diff(&f.1, &c.1) < 1e-4, "dy {dims:?} {has:?}");
                for (a, b) in [(&f.2, &c.2), (&f.3, &c.3)] {
                    match (a, b) {
                        (Some(a), Some(b)) => assert!(max_diff(a, b) < 1e-4, "delta {has:?}"),
                        (None, None) => {}
                        _ => panic!("a gradient on one side only {has:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn a_mis_shaped_update_is_an_error() {
        let dev = Device::Cpu;
        let y = Tensor::zeros((2, 8), DType::F32, &dev).unwrap();
        let bad = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
        let e = swiglu_train(&y, Some(&bad), None).unwrap_err().to_string();
        assert!(e.contains("swiglu: update"), "{e}");
    }
}
