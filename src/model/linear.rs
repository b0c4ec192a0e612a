//! A linear layer over a dense or quantized weight, with two forwards: the fast one
//! (candle's quantized matmul when the weight stays quantized) and a differentiable one
//! over a dense f32 copy that is only materialised when training first asks for it.
//!
//! On a GPU, `Auto` keeps every matrix dense ([`GPU_AUTO`]): cuBLAS gemms, never a
//! quantized matrix expanded again on every call.

use std::sync::{Arc, OnceLock};

use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{DType, Device, Module, Tensor};

use super::error::ModelError;
use super::weights::{WeightTensor, Weights};

mod frozen;
pub use frozen::frozen_matmul_t;

/// How the backbone stores its matrices for the fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// On the CPU: quantized stays quantized, except types whose CPU dot product has no
    /// SIMD kernel in candle (Q4_1, Q5_0, Q5_1, Q8_1): those are requantized to Q8_0,
    /// which has one; dense stays dense f32. On a GPU: [`GPU_AUTO`].
    #[default]
    Auto,
    /// Everything dense f32.
    F32,
    /// Everything dense bf16; activations stay f32 and are rounded to bf16 for each
    /// product (cuBLAS accumulates in f32), whose output is f32 again.
    Bf16,
    /// Every matrix quantized to Q8_0 (those whose rows are not a multiple of 32 stay f32).
    Q8_0,
    /// Exactly as stored, whatever the kernel's speed: the arithmetic of llama.cpp-style
    /// engines reading the same file (activations quantized inside the matmul).
    Stored,
}

/// What `Auto` means on a GPU: dense f32. SmolLM2-135M's dense f32 matrices take
/// 0.54 GB, nothing for a GPU, and its decode steps are bound by kernel launches rather
/// than by weight bytes, so bf16's halving buys little (and costs two casts per product);
/// while bf16's rounding (8 bits of mantissa against the 15 or more of a dequantized
/// Q4_1/Q8_0 weight) leaves little margin on the GPU check's parity bound: on the CPU,
/// bf16 against f32 gave a logits cosine of 0.99996 (bound 0.9999), 0.9964 at the worst
/// position (README, On a GPU). The GPU check measures bf16 there too; `--weights bf16`
/// remains for larger models.
pub const GPU_AUTO: WeightFormat = WeightFormat::F32;

impl WeightFormat {
    /// The format matrices get on `device`: `Auto` on a GPU is [`GPU_AUTO`].
    pub fn on(self, device: &Device) -> Self {
        match self {
            Self::Auto if !device.is_cpu() => GPU_AUTO,
            f => f,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::Q8_0 => "q8_0",
            Self::Stored => "stored",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub format: WeightFormat,
    /// Quantized layers multiply inputs of many rows (prompt prefill) with their dense
    /// f32 copy, made on first use: candle's f32 gemm is 2-3x faster there than its
    /// quantized matmul, while single-row decode stays quantized (3-4x faster than f32).
    /// Costs the memory of the dense copies; off keeps only the quantized weights.
    pub dense_prefill: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            format: WeightFormat::Auto,
            dense_prefill: true,
        }
    }
}

/// Inputs with at least this many rows count as prefill for `dense_prefill`.
pub(crate) const PREFILL_ROWS: usize = 16;

#[derive(Debug)]
enum Kind {
    Dense(Tensor),
    Quantized(Arc<QTensor>, QMatMul),
    /// Row blocks that could not be merged into one matrix (quantized in different
    /// types, as in K-quant files); outputs are concatenated.
    Parts(Vec<Linear>),
}

/// `y = x W^T (+ b)` with `W` of shape `[out, in]` as in Hugging Face checkpoints.
#[derive(Debug)]
pub struct Linear {
    kind: Kind,
    bias: Option<Tensor>,
    dense: OnceLock<Tensor>,
    /// `dense` transposed, `[in, out]` contiguous, for products on the CPU (see
    /// [`Linear::dense_weight_t`]).
    dense_t: OnceLock<Tensor>,
    dense_prefill: bool,
    /// Zero columns at the end of the quantized weight (see [`VNNI_WIDTH`]).
    in_pad: usize,
    device: Device,
}

/// Types whose quantized dot product runs with AVX2 in candle 0.11.
fn has_simd_kernel(t: GgmlDType) -> bool {
    use GgmlDType as G;
    matches!(
        t,
        G::Q4_0 | G::Q8_0 | G::Q2K | G::Q3K | G::Q4K | G::Q5K | G::Q6K | G::Q8K
    )
}

fn quantize(w: &Tensor, t: GgmlDType) -> candle_core::Result<Kind> {
    let q = Arc::new(QTensor::quantize(w, t)?);
    Ok(Kind::Quantized(q.clone(), QMatMul::from_arc(q)?))
}

/// Input width the repacked VNNI kernels need: candle 0.11 multiplies Q8_0 weights with
/// AVX512-VNNI / AVX-VNNI (one `vpdpbusd` per 4 x 16 products) only when the input
/// width is a multiple of 256; other widths take the AVX2 dot product, 3-5x slower per
/// row. SmolLM2's 576 misses it, so its weights are stored zero-padded to 768 and the
/// input padded to match (zeros add nothing to the dot products).
const VNNI_WIDTH: usize = 256;

/// Whether candle's repacked Q8_0 kernels run on this CPU (its own test, mirrored).
fn vnni_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static VNNI: OnceLock<bool> = OnceLock::new();
        *VNNI.get_or_init(|| {
            (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni"))
                || (is_x86_feature_detected!("avxvnni") && is_x86_feature_detected!("avx2"))
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Zero columns to add to an input of width `in_dim` before the Q8_0 kernel: only on a
/// CPU with the VNNI kernels, where they pay for the extra bytes many times over.
fn q8_pad(in_dim: usize, device: &Device) -> usize {
    if device.is_cpu() && vnni_kernels() && !in_dim.is_multiple_of(VNNI_WIDTH) {
        in_dim.div_ceil(VNNI_WIDTH) * VNNI_WIDTH - in_dim
    } else {
        0
    }
}

/// Q8_0 of `w` `[out, in]` with `pad` zero columns appended.
fn quantize_q8_padded(w: &Tensor, pad: usize) -> candle_core::Result<Kind> {
    let w = if pad > 0 {
        w.pad_with_zeros(1, 0, pad)?
    } else {
        w.clone()
    };
    quantize(&w, GgmlDType::Q8_0)
}

impl Linear {
    /// Builds from the weight `name` (shape `[out, in]`) and, when `bias` is set, from
    /// `<prefix>.bias` where `name` is `<prefix>.weight`.
    pub fn load(
        w: &Weights,
        name: &str,
        out_dim: usize,
        in_dim: usize,
        bias: bool,
        opts: &LoadOptions,
    ) -> Result<Self, ModelError> {
        let weight = w.get_shaped(name, &[out_dim, in_dim])?;
        let bias = if bias {
            let bias_name = format!("{}.bias", name.trim_end_matches(".weight"));
            Some(w.dense(&bias_name, &[out_dim])?)
        } else {
            None
        };
        Self::from_weight(weight, bias, opts, &w.device)
    }

    pub fn from_weight(
        weight: &WeightTensor,
        bias: Option<Tensor>,
        opts: &LoadOptions,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let format = opts.format.on(device);
        let in_dim = weight.dims().last().copied().unwrap_or(0);
        let q8_fits = in_dim % GgmlDType::Q8_0.block_size() == 0;
        let pad = q8_pad(in_dim, device);
        let mut in_pad = 0;
        let kind = match (weight, format) {
            (WeightTensor::Quantized(q), WeightFormat::Stored) => {
                Kind::Quantized(q.clone(), QMatMul::from_arc(q.clone())?)
            }
            // Auto with the VNNI kernels: every quantized type becomes padded Q8_0, the
            // fastest there (measured in the README's speed section).
            (WeightTensor::Quantized(q), WeightFormat::Auto)
                if pad > 0
                    && q8_fits
                    && !matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16) =>
            {
                in_pad = pad;
                quantize_q8_padded(&q.dequantize(device)?, pad)?
            }
            (WeightTensor::Quantized(q), WeightFormat::Auto) if has_simd_kernel(q.dtype()) => {
                Kind::Quantized(q.clone(), QMatMul::from_arc(q.clone())?)
            }
            (WeightTensor::Quantized(q), WeightFormat::Auto)
                if q8_fits
                    && !matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16) =>
            {
                quantize(&q.dequantize(device)?, GgmlDType::Q8_0)?
            }
            (WeightTensor::Quantized(q), WeightFormat::Q8_0) if q.dtype() == GgmlDType::Q8_0 => {
                Kind::Quantized(q.clone(), QMatMul::from_arc(q.clone())?)
            }
            (w, WeightFormat::Q8_0) if q8_fits => {
                in_pad = pad;
                quantize_q8_padded(&w.to_f32(device)?, pad)?
            }
            (w, WeightFormat::Bf16) => {
                Kind::Dense(w.to_f32(device)?.to_dtype(DType::BF16)?.contiguous()?)
            }
            (w, _) => Kind::Dense(w.to_f32(device)?.contiguous()?),
        };
        Ok(Self {
            kind,
            bias,
            dense: OnceLock::new(),
            dense_t: OnceLock::new(),
            dense_prefill: opts.dense_prefill,
            in_pad,
            device: device.clone(),
        })
    }

    /// One layer whose output rows are those of `parts`, in order (q/k/v, gate/up):
    /// one matmul per step instead of several over the same input. Quantized blocks
    /// never straddle rows, so row concatenation of quantized weights is exact.
    pub fn concat(parts: Vec<Linear>) -> Result<Self, ModelError> {
        let Some(first) = parts.first() else {
            return Err(candle_core::Error::Msg("no layers to concatenate".into()).into());
        };
        let (device, dense_prefill) = (first.device.clone(), first.dense_prefill);
        let in_pad = first.in_pad;
        let kind = match &first.kind {
            Kind::Quantized(q0, _)
                if parts.iter().all(|p| {
                    p.in_pad == in_pad
                        && matches!(&p.kind, Kind::Quantized(q, _) if q.dtype() == q0.dtype())
                }) =>
            {
                let in_dim = q0.shape().dims().last().copied().unwrap_or(0);
                let (mut rows, mut bytes) = (0, Vec::new());
                for p in &parts {
                    if let Kind::Quantized(q, _) = &p.kind {
                        rows += q.shape().dims().first().copied().unwrap_or(0);
                        bytes.extend_from_slice(&q.data()?);
                    }
                }
                let storage = QStorage::from_data(bytes.into(), &device, q0.dtype())?;
                let q = Arc::new(QTensor::new(storage, (rows, in_dim))?);
                Kind::Quantized(q.clone(), QMatMul::from_arc(q)?)
            }
            Kind::Dense(w0)
                if parts
                    .iter()
                    .all(|p| matches!(&p.kind, Kind::Dense(w) if w.dtype() == w0.dtype())) =>
            {
                // Stored as they are (f32 or bf16), so a fused bf16 layer stays bf16.
                let dense: Vec<Tensor> = parts
                    .iter()
                    .filter_map(|p| match &p.kind {
                        Kind::Dense(w) => Some(w.clone()),
                        _ => None,
                    })
                    .collect();
                Kind::Dense(Tensor::cat(&dense, 0)?)
            }
            _ => {
                // The bias serves `forward_train`; `forward` adds each part's own.
                return Ok(Self {
                    bias: concat_bias(&parts)?,
                    kind: Kind::Parts(parts),
                    dense: OnceLock::new(),
                    dense_t: OnceLock::new(),
                    dense_prefill,
                    in_pad: 0,
                    device,
                });
            }
        };
        let bias = concat_bias(&parts)?;
        let in_pad = if matches!(kind, Kind::Quantized(..)) {
            in_pad
        } else {
            0
        };
        Ok(Self {
            kind,
            bias,
            dense: OnceLock::new(),
            dense_t: OnceLock::new(),
            dense_prefill,
            in_pad,
            device,
        })
    }

    fn out_zeros(&self) -> candle_core::Result<Tensor> {
        let rows = match &self.kind {
            Kind::Dense(w) => w.dim(0)?,
            Kind::Quantized(q, _) => q.shape().dims().first().copied().unwrap_or(0),
            Kind::Parts(ps) => ps
                .iter()
                .map(|p| p.out_zeros().and_then(|z| z.dim(0)))
                .sum::<candle_core::Result<usize>>()?,
        };
        Tensor::zeros(rows, DType::F32, &self.device)
    }

    pub fn is_quantized(&self) -> bool {
        match &self.kind {
            Kind::Dense(_) => false,
            Kind::Quantized(..) => true,
            Kind::Parts(ps) => ps.iter().all(Linear::is_quantized),
        }
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// How the fast path holds this layer's matrix: `f32`, `bf16`, a GGML type name
    /// (`q8_0`, `q4k`, ...), `+pad` where zero columns were added for the CPU's VNNI
    /// kernels, `parts` for row blocks kept apart.
    pub fn storage(&self) -> String {
        match &self.kind {
            Kind::Dense(w) => format!("{:?}", w.dtype()).to_lowercase(),
            Kind::Quantized(q, _) => {
                let t = format!("{:?}", q.dtype()).to_lowercase();
                if self.in_pad > 0 {
                    format!("{t}+pad")
                } else {
                    t
                }
            }
            Kind::Parts(_) => "parts".to_string(),
        }
    }

    /// The dense f32 weight stored transposed, `[in, out]` contiguous, built once (from
    /// the quantized weight directly when no `[out, in]` copy is kept: inference needs
    /// only this one). On the CPU, candle's gemm packs a transposed right-hand side again
    /// on every product: `x W^T` through this copy took 261 µs against 410 for 32 rows (a
    /// batched decode step), 530 against 632 for 64 and 2.90 against 3.02 ms for 400 (one
    /// thread). The backward's `dL/dy W` is faster with `W` as stored, so training keeps
    /// both.
    pub fn dense_weight_t(&self) -> candle_core::Result<&Tensor> {
        kept(&self.dense_t, || {
            let w = match (self.dense.get(), &self.kind) {
                (Some(w), _) => w.clone(),
                (None, Kind::Dense(w)) if w.dtype() == DType::F32 => w.clone(),
                _ => self.dense_f32()?,
            };
            w.t()?.contiguous()
        })
    }

    /// [`Linear::dense_weight_t`] on the CPU; other devices multiply by `W^T` as a view.
    fn cpu_weight_t(&self) -> candle_core::Result<Option<&Tensor>> {
        if self.device.is_cpu() {
            self.dense_weight_t().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The weight as dense f32 `[out, in]`; for a quantized layer it is dequantized once
    /// and kept.
    pub fn dense_weight(&self) -> candle_core::Result<&Tensor> {
        match &self.kind {
            Kind::Dense(w) if w.dtype() == DType::F32 => Ok(w),
            _ => kept(&self.dense, || self.dense_f32()),
        }
    }

    /// The weight as dense f32 `[out, in]`, computed afresh.
    fn dense_f32(&self) -> candle_core::Result<Tensor> {
        match &self.kind {
            Kind::Dense(w) => w.to_dtype(DType::F32),
            Kind::Quantized(q, _) => {
                let w = q.dequantize(&self.device)?.to_dtype(DType::F32)?;
                if self.in_pad > 0 {
                    let cols = w.dim(1)? - self.in_pad;
                    w.narrow(1, 0, cols)?.contiguous()
                } else {
                    Ok(w)
                }
            }
            Kind::Parts(ps) => {
                let ws = ps
                    .iter()
                    .map(Linear::dense_f32)
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::cat(&ws, 0)
            }
        }
    }

    /// Fast path: `x` is `[..., in]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let rows = x.elem_count() / x.dim(candle_core::D::Minus1)?.max(1);
        let y = match &self.kind {
            Kind::Dense(w) if w.dtype() != x.dtype() => {
                matmul_t(&x.to_dtype(w.dtype())?, w)?.to_dtype(x.dtype())?
            }
            Kind::Dense(w) => matmul_t(x, w)?,
            Kind::Quantized(..) if self.dense_prefill && rows >= PREFILL_ROWS => {
                match self.cpu_weight_t()? {
                    Some(wt) => matmul_stored_t(x, wt)?,
                    None => matmul_t(x, self.dense_weight()?)?,
                }
            }
            // candle's quantized matmul rejects strided inputs (e.g. the last position
            // of a batch, narrowed out of `[B, L, H]`).
            Kind::Quantized(_, m) if self.in_pad > 0 => {
                m.forward(&x.pad_with_zeros(candle_core::D::Minus1, 0, self.in_pad)?)?
            }
            Kind::Quantized(_, m) => m.forward(&x.contiguous()?)?,
            // Each part adds its own bias.
            Kind::Parts(ps) => {
                let ys = ps
                    .iter()
                    .map(|p| p.forward(x))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                return Tensor::cat(&ys, candle_core::D::Minus1);
            }
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    /// Differentiable path over the dense f32 weight, which stays frozen: gradients flow
    /// to `x` only (see [`frozen_matmul_t`]).
    pub fn forward_train(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = frozen_matmul_t(x, self.dense_weight()?, self.cpu_weight_t()?)?;
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// The biases of `parts` end to end (zeros for parts without one), if any has one.
fn concat_bias(parts: &[Linear]) -> candle_core::Result<Option<Tensor>> {
    if parts.iter().all(|p| p.bias.is_none()) {
        return Ok(None);
    }
    let biases = parts
        .iter()
        .map(|p| match &p.bias {
            Some(b) => Ok(b.clone()),
            None => p.out_zeros(),
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&biases, 0).map(Some)
}

/// The tensor in `cell`, made by `make` the first time. Another thread may win the race
/// to set it; either copy is the same tensor.
fn kept(
    cell: &OnceLock<Tensor>,
    make: impl FnOnce() -> candle_core::Result<Tensor>,
) -> candle_core::Result<&Tensor> {
    if let Some(t) = cell.get() {
        return Ok(t);
    }
    let _ = cell.set(make()?);
    cell.get()
        .ok_or_else(|| candle_core::Error::Msg("weight copy not set".into()))
}

/// `x W^T` with `W^T` stored as `wt` `[in, out]`, the leading dims of `x` folded into one
/// gemm.
fn matmul_stored_t(x: &Tensor, wt: &Tensor) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    let Some((&in_dim, lead)) = dims.split_last() else {
        candle_core::bail!("linear input must have at least one dimension")
    };
    let rows: usize = lead.iter().product();
    let y = x.reshape((rows, in_dim))?.matmul(wt)?;
    let mut out = lead.to_vec();
    out.push(wt.dim(1)?);
    y.reshape(out)
}

/// `x W^T` with the leading dims of `x` folded into one gemm.
fn matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    let Some((&in_dim, lead)) = dims.split_last() else {
        candle_core::bail!("linear input must have at least one dimension")
    };
    let rows: usize = lead.iter().product();
    let y = x.reshape((rows, in_dim))?.matmul(&w.t()?)?;
    let mut out = lead.to_vec();
    out.push(w.dim(0)?);
    y.reshape(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(w: WeightTensor, bias: Option<Tensor>, format: WeightFormat) -> Linear {
        let opts = LoadOptions {
            format,
            dense_prefill: false,
        };
        Linear::from_weight(&w, bias, &opts, &Device::Cpu).expect("layer")
    }

    /// Auto re-stores a Q4_1 matrix as Q8_0, zero-padded to the VNNI kernels' width on
    /// CPUs that have them; outputs stay those of the stored weight (up to Q8_0's
    /// rounding of activations), for decode rows and prefill rows, fused or not, and the
    /// dense copy keeps the real width.
    #[test]
    fn auto_q8_padding_keeps_outputs() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let (out_dim, in_dim) = (48, 96);
        let w = Tensor::randn(0f32, 1.0, (out_dim, in_dim), &dev)?;
        let q = Arc::new(QTensor::quantize(&w, GgmlDType::Q4_1)?);
        let exact = q.dequantize(&dev)?;
        let auto = layer(WeightTensor::Quantized(q.clone()), None, WeightFormat::Auto);
        assert_eq!(auto.in_pad, q8_pad(in_dim, &dev));
        if vnni_kernels() {
            assert_eq!(auto.in_pad, 256 - in_dim);
        }
        assert_eq!(auto.dense_weight()?.dims(), &[out_dim, in_dim]);
        let fused = Linear::concat(vec![
            layer(WeightTensor::Quantized(q.clone()), None, WeightFormat::Auto),
            layer(WeightTensor::Quantized(q.clone()), None, WeightFormat::Auto),
        ])
        .expect("concat");
        assert_eq!(fused.in_pad, auto.in_pad);
        for rows in [1, 3, 20] {
            let x = Tensor::randn(0f32, 1.0, (rows, in_dim), &dev)?;
            let want = x.matmul(&exact.t()?)?;
            let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
            for (got, what) in [
                (auto.forward(&x)?, "auto"),
                (fused.forward(&x)?.narrow(1, 0, out_dim)?, "fused"),
            ] {
                let diff = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(
                    diff < 0.02 * scale,
                    "{what}, {rows} rows: off by {diff} of {scale}"
                );
            }
        }
        Ok(())
    }

    /// bf16 keeps matrices (fused too) in bf16 with f32 inputs and outputs, within bf16's
    /// rounding of the f32 product; training still gets an f32 weight; `Auto` means dense
    /// f32 on a GPU and stays itself on the CPU.
    #[test]
    fn bf16_matrices_take_and_give_f32() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (24, 64), &dev)?;
        let x = Tensor::randn(0f32, 1.0, (5, 64), &dev)?;
        let want = x.matmul(&w.t()?)?;
        let one = || layer(WeightTensor::Dense(w.clone()), None, WeightFormat::Bf16);
        let fused = Linear::concat(vec![one(), one()]).expect("concat");
        for (l, what) in [(one(), "single"), (fused, "fused")] {
            assert_eq!(l.storage(), "bf16", "{what}");
            let y = l.forward(&x)?.narrow(1, 0, 24)?;
            assert_eq!(y.dtype(), DType::F32);
            let diff = (&y - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 0.02 * scale, "{what}: off by {diff} of {scale}");
            assert_eq!(l.dense_weight()?.dtype(), DType::F32);
        }
        let q = WeightTensor::Quantized(Arc::new(QTensor::quantize(&w, GgmlDType::Q8_0)?));
        // Padded for the VNNI kernels where this CPU has them.
        assert!(layer(q, None, WeightFormat::Auto)
            .storage()
            .starts_with("q8_0"));
        assert_eq!(WeightFormat::Auto.on(&dev), WeightFormat::Auto);
        assert_eq!(
            layer(WeightTensor::Dense(w), None, WeightFormat::F32).storage(),
            "f32"
        );
        Ok(())
    }

    /// A concatenated layer gives exactly its parts' outputs side by side, whether the
    /// parts share one quantized type (merged), differ (kept as parts) or are dense.
    #[test]
    fn concat_matches_parts() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (3, 64), &dev)?;
        let wa = Tensor::randn(0f32, 1.0, (8, 64), &dev)?;
        let wb = Tensor::randn(0f32, 1.0, (16, 64), &dev)?;
        let bias = Tensor::randn(0f32, 1.0, 16, &dev)?;
        let q = |w: &Tensor, t| -> candle_core::Result<WeightTensor> {
            Ok(WeightTensor::Quantized(Arc::new(QTensor::quantize(w, t)?)))
        };
        let cases = [
            (q(&wa, GgmlDType::Q8_0)?, q(&wb, GgmlDType::Q8_0)?, true),
            (q(&wa, GgmlDType::Q8_0)?, q(&wb, GgmlDType::Q4_0)?, false),
            (
                WeightTensor::Dense(wa.clone()),
                WeightTensor::Dense(wb.clone()),
                false,
            ),
        ];
        for (a, b, merged) in cases {
            let parts = || {
                vec![
                    layer(a.clone(), None, WeightFormat::Stored),
                    layer(b.clone(), Some(bias.clone()), WeightFormat::Stored),
                ]
            };
            let p = parts();
            let want = Tensor::cat(&[p[0].forward(&x)?, p[1].forward(&x)?], 1)?;
            let want_train = Tensor::cat(&[p[0].forward_train(&x)?, p[1].forward_train(&x)?], 1)?;
            let fused = Linear::concat(parts()).expect("concat");
            assert_eq!(matches!(fused.kind, Kind::Quantized(..)), merged);
            let diff = (fused.forward(&x)? - want)?
                .abs()?
                .max_all()?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-5, "forward differs by {diff}");
            let diff = (fused.forward_train(&x)? - want_train)?
                .abs()?
                .max_all()?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-5, "forward_train differs by {diff}");
        }
        Ok(())
    }
}
