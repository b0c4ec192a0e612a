//! A matmul with a frozen weight for the differentiable path: `y = x W^T` whose backward
//! returns only `dL/dx = dL/dy W`.
//!
//! candle's own matmul backward always computes the right-hand side's gradient, even
//! when the weight is no variable: for a 135M backbone that is a full weight-sized
//! gradient per projection per step, computed and kept in the `GradStore` for nothing.
//! Wrapping the product in a `CustomOp1` of the input alone keeps the weight out of the
//! graph: LoRA training (PEFT's frozen base, arXiv 2106.09685) pays only for the input
//! gradient. The forward calls the backend's own gemm on CPU, CUDA and Metal alike.

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CudaStorage, CustomOp1, Layout, MetalStorage, Shape, Storage, Tensor,
};

/// `x W^T` for a frozen `W` `[out, in]` (dense, contiguous); `x` is `[rows, in]`. With
/// `weight_t` (`W^T` stored `[in, out]`, contiguous) the forward multiplies by it
/// instead: candle's CPU gemm packs a transposed right-hand side on every call, and the
/// plain layout is up to 1.5x faster for few rows. The backward's `dL/dy W` wants `W` as
/// stored.
struct FrozenMatmul {
    weight: Tensor,
    weight_t: Option<Tensor>,
}

impl FrozenMatmul {
    /// The gemm on whichever backend `S` is; `weight` is the same backend's storage.
    fn fwd<S: BackendStorage>(
        &self,
        x: &S,
        x_layout: &Layout,
        weight: &S,
        w_layout: &Layout,
    ) -> candle_core::Result<(S, Shape)> {
        let (rows, in_dim) = x_layout.shape().dims2()?;
        let (out_dim, w_in) = w_layout.shape().dims2()?;
        if in_dim != w_in {
            candle_core::bail!("frozen matmul: input has {in_dim} columns, weight has {w_in}")
        }
        // W^T as a strided view of W: candle's gemm takes transposed operands as they are.
        let wt = w_layout.transpose(0, 1)?;
        let y = x.matmul(weight, (1, rows, out_dim, in_dim), x_layout, &wt)?;
        Ok((y, Shape::from((rows, out_dim))))
    }

    /// The forward on backend `S`: through `weight_t` when there is one.
    fn fwd_any<S: BackendStorage>(
        &self,
        x: &S,
        layout: &Layout,
        pick: impl Fn(&Storage) -> Option<&S>,
    ) -> candle_core::Result<(S, Shape)> {
        let on_device = || {
            candle_core::Error::Msg("frozen matmul: weight and input on different devices".into())
        };
        if let Some(t) = &self.weight_t {
            let (rows, in_dim) = layout.shape().dims2()?;
            let (t_in, out_dim) = t.dims2()?;
            if in_dim != t_in {
                candle_core::bail!("frozen matmul: input has {in_dim} columns, weight has {t_in}")
            }
            let (w, wl) = t.storage_and_layout();
            let w = pick(&w).ok_or_else(on_device)?;
            let y = x.matmul(w, (1, rows, out_dim, in_dim), layout, wl)?;
            return Ok((y, Shape::from((rows, out_dim))));
        }
        let (w, wl) = self.weight.storage_and_layout();
        let w = pick(&w).ok_or_else(on_device)?;
        self.fwd(x, layout, w, wl)
    }
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.fwd_any(x, layout, |s| match s {
            Storage::Cpu(w) => Some(w),
            _ => None,
        })
    }

    fn cuda_fwd(
        &self,
        x: &CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        self.fwd_any(x, layout, |s| match s {
            Storage::Cuda(w) => Some(w),
            _ => None,
        })
    }

    fn metal_fwd(
        &self,
        x: &MetalStorage,
        layout: &Layout,
    ) -> candle_core::Result<(MetalStorage, Shape)> {
        self.fwd_any(x, layout, |s| match s {
            Storage::Metal(w) => Some(w),
            _ => None,
        })
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _y: &Tensor,
        grad_y: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        // The weight has no op and is no variable, so this product is not tracked either.
        Ok(Some(grad_y.matmul(&self.weight)?))
    }
}

/// `x W^T` over the last dimension of `x` (`[..., in]` to `[..., out]`), differentiable in
/// `x` only. `weight` must be dense `[out, in]` of `x`'s dtype; `weight_t`, if given, the
/// same matrix stored transposed (`[in, out]`, contiguous) for the forward.
pub fn frozen_matmul_t(
    x: &Tensor,
    weight: &Tensor,
    weight_t: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    let Some((&in_dim, lead)) = dims.split_last() else {
        candle_core::bail!("linear input must have at least one dimension")
    };
    if weight.dtype() != x.dtype() {
        candle_core::bail!(
            "frozen matmul: weight is {:?}, input is {:?}",
            weight.dtype(),
            x.dtype()
        )
    }
    let rows: usize = lead.iter().product();
    let op = FrozenMatmul {
        weight: weight.contiguous()?,
        weight_t: weight_t.map(Tensor::contiguous).transpose()?,
    };
    // The op reads its input through the backend gemm, which wants plain row-major rows.
    let y = x.reshape((rows, in_dim))?.contiguous()?.apply_op1(op)?;
    let mut out = lead.to_vec();
    out.push(weight.dim(0)?);
    y.reshape(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    /// Same values and the same input gradient as candle's matmul, and no gradient for
    /// the weight, where candle's own matmul computes one.
    #[test]
    fn gradient_is_the_input_gradient_only() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 16), &dev)?)?;
        let w = Tensor::randn(0f32, 1.0, (8, 16), &dev)?;
        let probe = Tensor::randn(0f32, 1.0, (2, 3, 8), &dev)?;

        let stored_t = w.t()?.contiguous()?;
        let y = frozen_matmul_t(x.as_tensor(), &w, None)?;
        // The forward through the transposed copy: the same values and gradient.
        let y_t = frozen_matmul_t(x.as_tensor(), &w, Some(&stored_t))?;
        let diff = (&y - &y_t)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "forward through W^T differs by {diff}");
        let g_t = (&y_t * &probe)?.sum_all()?.backward()?;
        let wt = w.t()?;
        let y_ref = x
            .as_tensor()
            .reshape((6, 16))?
            .matmul(&wt)?
            .reshape((2, 3, 8))?;
        let diff = (&y - &y_ref)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "forward differs by {diff}");

        let grads = (y * &probe)?.sum_all()?.backward()?;
        let grads_ref = (y_ref * &probe)?.sum_all()?.backward()?;
        let gx = grads.get(x.as_tensor()).expect("input gradient");
        let gx_ref = grads_ref
            .get(x.as_tensor())
            .expect("reference input gradient");
        let diff = (gx - gx_ref)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "input gradient differs by {diff}");
        let gx_t = g_t.get(x.as_tensor()).expect("input gradient through W^T");
        let diff = (gx_t - gx_ref)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "input gradient through W^T differs by {diff}");
        assert!(
            g_t.get(&stored_t).is_none(),
            "the transposed copy got a gradient"
        );

        assert!(grads.get(&w).is_none(), "frozen weight got a gradient");
        assert!(
            grads_ref.get(&wt).is_some(),
            "candle's matmul no longer computes the weight's gradient: the op may be moot"
        );
        Ok(())
    }

    #[test]
    fn rejects_mismatched_inputs() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::zeros((4, 8), DType::F32, &dev)?;
        let x = Tensor::zeros((2, 6), DType::F32, &dev)?;
        let err = frozen_matmul_t(&x, &w, None).unwrap_err().to_string();
        assert!(err.contains("6 columns"), "{err}");
        let wt = w.t()?.contiguous()?;
        let err = frozen_matmul_t(&x, &w, Some(&wt)).unwrap_err().to_string();
        assert!(err.contains("6 columns"), "{err}");
        let x = Tensor::zeros((2, 8), DType::F64, &dev)?;
        assert!(frozen_matmul_t(&x, &w, None).is_err());
        Ok(())
    }
}
