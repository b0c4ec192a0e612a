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

/// `x W^T` for a frozen `W` `[out, in]` (dense, contiguous); `x` is `[rows, in]`.
struct FrozenMatmul {
    weight: Tensor,
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
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (w, wl) = self.weight.storage_and_layout();
        match &*w {
            Storage::Cpu(w) => self.fwd(x, layout, w, wl),
            _ => candle_core::bail!("frozen matmul: weight and input on different devices"),
        }
    }

    fn cuda_fwd(
        &self,
        x: &CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let (w, wl) = self.weight.storage_and_layout();
        match &*w {
            Storage::Cuda(w) => self.fwd(x, layout, w, wl),
            _ => candle_core::bail!("frozen matmul: weight and input on different devices"),
        }
    }

    fn metal_fwd(
        &self,
        x: &MetalStorage,
        layout: &Layout,
    ) -> candle_core::Result<(MetalStorage, Shape)> {
        let (w, wl) = self.weight.storage_and_layout();
        match &*w {
            Storage::Metal(w) => self.fwd(x, layout, w, wl),
            _ => candle_core::bail!("frozen matmul: weight and input on different devices"),
        }
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
/// `x` only. `weight` must be dense `[out, in]` of `x`'s dtype.
pub fn frozen_matmul_t(x: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
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

        let y = frozen_matmul_t(x.as_tensor(), &w)?;
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
        let err = frozen_matmul_t(&x, &w).unwrap_err().to_string();
        assert!(err.contains("6 columns"), "{err}");
        let x = Tensor::zeros((2, 8), DType::F64, &dev)?;
        assert!(frozen_matmul_t(&x, &w).is_err());
        Ok(())
    }
}
