//! One LoRA update `u = scale (x ∘ mask) A^T B^T` as a single node of the training
//! graph, with its own backward (CPU).
//!
//! Written with candle's ops, the update is five nodes (dropout product, two matmuls,
//! the scale, reshapes), and candle's backward gives every node's every input a
//! zero-filled gradient buffer and adds into it: several full `[rows, in]` and
//! `[rows, out]` passes per projection, plus a gradient for the constant dropout mask
//! that nobody reads. Those passes were about half of the backward's time. As one node
//! the backward computes only what the chain rule needs:
//!
//! - `gh = scale g B` `[rows, r]`, `h = (x ∘ mask) A^T` `[rows, r]` (recomputed: cheap)
//! - `dB = scale g^T h`, `dA = gh^T (x ∘ mask)`, `dx = (gh A) ∘ mask`.

use candle_core::backend::BackendStorage;
use candle_core::op::Mul;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor};

struct LoraUpdate {
    scale: f64,
    /// The inverted-dropout mask (0 or 1 / (1 - p)), shaped as `x`; none without dropout.
    mask: Option<Tensor>,
}

impl LoraUpdate {
    /// `x ∘ mask` as a detached tensor (the backward's operand).
    fn dropped(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match &self.mask {
            Some(m) => x.detach().mul(m),
            None => Ok(x.detach()),
        }
    }
}

impl CustomOp3 for LoraUpdate {
    fn name(&self) -> &'static str {
        "lora-update"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        a: &CpuStorage,
        al: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = xl.shape().dims();
        let Some((&in_dim, lead)) = dims.split_last() else {
            candle_core::bail!("lora update: input has no dimensions")
        };
        if !xl.is_contiguous() {
            candle_core::bail!("lora update: input must be contiguous")
        }
        let (r, a_in) = al.shape().dims2()?;
        let (out_dim, b_r) = bl.shape().dims2()?;
        if a_in != in_dim || b_r != r {
            candle_core::bail!(
                "lora update: input width {in_dim}, A is [{r}, {a_in}], B is [{out_dim}, {b_r}]"
            )
        }
        let rows: usize = lead.iter().product();
        let flat = Layout::contiguous_with_offset((rows, in_dim), xl.start_offset());
        let dropped;
        let (xd, xdl) = match &self.mask {
            Some(m) => {
                let (ms, ml) = m.storage_and_layout();
                let Storage::Cpu(ms) = &*ms else {
                    candle_core::bail!("lora update: mask not on the CPU")
                };
                if ml.shape().elem_count() != rows * in_dim || !ml.is_contiguous() {
                    candle_core::bail!("lora update: mask does not match the input")
                }
                let ml = Layout::contiguous_with_offset((rows, in_dim), ml.start_offset());
                dropped = x.binary_impl::<Mul>(ms, &flat, &ml)?;
                (&dropped, Layout::contiguous((rows, in_dim)))
            }
            None => (x, flat),
        };
        // A^T and B^T as strided views: the gemm takes transposed operands as they are.
        let h = xd.matmul(a, (1, rows, r, in_dim), &xdl, &al.transpose(0, 1)?)?;
        let hl = Layout::contiguous((rows, r));
        let h = h.affine(&hl, self.scale, 0.0)?;
        let u = h.matmul(b, (1, rows, out_dim, r), &hl, &bl.transpose(0, 1)?)?;
        let mut shape = lead.to_vec();
        shape.push(out_dim);
        Ok((u, Shape::from(shape)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _u: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let in_dim = a.dim(1)?;
        let out_dim = b.dim(0)?;
        let rows = x.elem_count() / in_dim.max(1);
        let (a, b) = (a.detach(), b.detach());
        let g = grad.reshape((rows, out_dim))?;
        let xd = self.dropped(x)?.reshape((rows, in_dim))?;
        let gh = (g.matmul(&b)? * self.scale)?;
        let h = (xd.matmul(&a.t()?)? * self.scale)?;
        let db = g.t()?.matmul(&h)?;
        let da = gh.t()?.matmul(&xd)?;
        let dx = gh.matmul(&a)?.reshape(x.shape())?;
        let dx = match &self.mask {
            Some(m) => dx.mul(m)?,
            None => dx,
        };
        Ok((Some(dx), Some(da), Some(db)))
    }
}

/// `scale (x ∘ mask) A^T B^T` over the last dimension of `x` (`[..., in]` to
/// `[..., out]`) as one node; `a` is `[r, in]`, `b` `[out, r]`, `mask` shaped as `x`.
/// CPU only (the caller keeps candle's composite elsewhere).
pub fn lora_update(
    x: &Tensor,
    a: &Tensor,
    b: &Tensor,
    scale: f64,
    mask: Option<Tensor>,
) -> candle_core::Result<Tensor> {
    let x = x.contiguous()?;
    let mask = mask.map(|m| m.contiguous()).transpose()?;
    x.apply_op3(a, b, LoraUpdate { scale, mask })
}

#[cfg(test)]
mod tests {
    use super::super::tests::max_diff;
    use super::*;
    use candle_core::{Device, Var};

    /// Values and all three gradients equal candle's composite, with and without a
    /// dropout mask, for `[rows, in]` and `[batch, len, in]` inputs; the mask gets none.
    #[test]
    fn matches_the_composite() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        for shape in [vec![5usize, 12], vec![2, 3, 12]] {
            for with_mask in [false, true] {
                let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, shape.as_slice(), &dev)?)?;
                let a = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 12), &dev)?)?;
                let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, (7, 3), &dev)?)?;
                let mut out_shape = shape.clone();
                *out_shape.last_mut().unwrap() = 7;
                let probe = Tensor::randn(0f32, 1.0, out_shape.as_slice(), &dev)?;
                let mask = with_mask
                    .then(|| {
                        let u = Tensor::rand(0f32, 1.0, shape.as_slice(), &dev)?;
                        u.ge(0.3f32)?.to_dtype(candle_core::DType::F32)? * (1.0 / 0.7)
                    })
                    .transpose()?;
                let scale = 2.5;
                let got = lora_update(
                    x.as_tensor(),
                    a.as_tensor(),
                    b.as_tensor(),
                    scale,
                    mask.clone(),
                )?;
                let xd = match &mask {
                    Some(m) => (x.as_tensor() * m)?,
                    None => x.as_tensor().clone(),
                };
                let want = (xd
                    .broadcast_matmul(&a.as_tensor().t()?)?
                    .broadcast_matmul(&b.as_tensor().t()?)?
                    * scale)?;
                assert_eq!(got.dims(), want.dims());
                assert!(max_diff(&got, &want) < 1e-4, "values {shape:?} {with_mask}");
                let g = (got * &probe)?.sum_all()?.backward()?;
                let w = (want * &probe)?.sum_all()?.backward()?;
                for (v, name) in [(&x, "x"), (&a, "A"), (&b, "B")] {
                    let (gv, wv) = (g.get(v.as_tensor()).unwrap(), w.get(v.as_tensor()).unwrap());
                    let tol = 1e-4 * wv.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
                    assert!(max_diff(gv, wv) < tol, "d{name} {shape:?} {with_mask}");
                }
                if let Some(m) = &mask {
                    assert!(g.get(m).is_none(), "the constant mask got a gradient");
                }
            }
        }
        Ok(())
    }
}
