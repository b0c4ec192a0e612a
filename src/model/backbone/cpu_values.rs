//! The contiguous f32 values behind a CPU operand of the fused training ops (norm,
//! softmax, rope, SwiGLU). Each op runs one pass over plain slices; anything else
//! (another dtype, a strided view, a GPU tensor) is refused with an error naming the op,
//! since the autograd caller makes contiguous f32 copies before it calls them.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Storage, Tensor};

/// The values of `s` under the contiguous layout `l`.
pub(super) fn f32_values<'a>(
    op: &str,
    s: &'a CpuStorage,
    l: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: f32 only, got {:?}", s.dtype());
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: operands must be contiguous");
    };
    Ok(&v[a..b])
}

/// The values of a CPU tensor, passed to `f` while its storage is borrowed.
pub(super) fn with_f32_values<R>(
    op: &str,
    t: &Tensor,
    f: impl FnOnce(&[f32]) -> R,
) -> candle_core::Result<R> {
    let (s, l) = t.storage_and_layout();
    let Storage::Cpu(s) = &*s else {
        candle_core::bail!("{op}: operands must be on the CPU");
    };
    Ok(f(f32_values(op, s, l)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn gives_contiguous_values_and_names_the_op_otherwise() {
        let t = Tensor::arange(0f32, 6.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 3))
            .unwrap();
        let row = t.narrow(0, 1, 1).unwrap();
        let got = with_f32_values("op", &row, |v| v.to_vec()).unwrap();
        assert_eq!(got, [3.0, 4.0, 5.0]);
        let strided = t.t().unwrap();
        let err = with_f32_values("my-op", &strided, |_| ()).unwrap_err();
        assert!(err
            .to_string()
            .contains("my-op: operands must be contiguous"));
        let ints = t.to_dtype(DType::U32).unwrap();
        let err = with_f32_values("my-op", &ints, |_| ()).unwrap_err();
        assert!(err.to_string().contains("my-op: f32 only"), "{err}");
    }
}
