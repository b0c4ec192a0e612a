//! Attention for a few query rows per sequence (decode steps) on the CPU.
//!
//! Through candle's batched matmul a decode step costs more than it computes: for
//! `q · K^T` the f32 gemm repacks the whole key cache of every head on every step, and
//! each call also looks up its thread count (reading `/proc/cpuinfo` on Linux). At 400
//! cached positions that took about a quarter of a batch-1 SmolLM2 decode step. Here
//! each query head is one work item on candle's own spinning thread pool (the one its
//! quantized matmuls use, so no thread has to wake up): scores straight from the
//! cache's rows, softmax, and the weighted sum of value rows, without any copy.

use std::sync::OnceLock;

use candle_core::{CpuStorage, DType, Layout, Storage, Tensor};

use crate::util::simd::{dot, fmadd};

/// Query rows per sequence up to which [`attend`] is used; prefill (many rows) stays
/// on the gemm, which is faster there.
pub const FEW_ROWS: usize = 4;

/// Whether [`attend`] serves this query `[B, H, L, d]`.
pub fn applies(q: &Tensor) -> bool {
    q.device().is_cpu() && q.dtype() == DType::F32 && q.dim(2).is_ok_and(|l| l <= FEW_ROWS)
}

/// A 4-d f32 tensor read in place: element `[a, b, c, i]` is at
/// `off + a*s0 + b*s1 + c*width + i` (the last two axes contiguous, as in a view of the
/// cache's `[B, kv, capacity, d]` buffer).
struct View<'a> {
    data: &'a [f32],
    off: usize,
    s: [usize; 2],
    width: usize,
}

impl<'a> View<'a> {
    fn new(storage: &'a Storage, layout: &Layout, what: &str) -> candle_core::Result<Self> {
        let Storage::Cpu(CpuStorage::F32(data)) = storage else {
            candle_core::bail!("{what}: f32 CPU tensor expected")
        };
        let (st, dims) = (layout.stride(), layout.dims());
        if st.len() != 4 || st[3] != 1 || st[2] != dims[3] {
            candle_core::bail!("{what}: 4-d tensor with contiguous rows expected")
        }
        Ok(Self {
            data,
            off: layout.start_offset(),
            s: [st[0], st[1]],
            width: dims[3],
        })
    }

    /// Rows `c..c + n` of `[a, b]`, one after another.
    fn rows(&self, a: usize, b: usize, c: usize, n: usize) -> &'a [f32] {
        let at = self.off + a * self.s[0] + b * self.s[1] + c * self.width;
        &self.data[at..at + n * self.width]
    }
}

/// Width of the blocks the kernels below work in: two AVX2 registers of f32.
const W: usize = 16;

/// `acc[i] += a[i] * b[i]` over one block (vectorised by the compiler).
#[inline(always)]
fn mul_acc(acc: &mut [f32; W], a: &[f32; W], b: &[f32; W]) {
    for i in 0..W {
        acc[i] = fmadd(a[i], b[i], acc[i]);
    }
}

/// Sum of one block as a tree of halves (a few shuffles instead of 15 dependent adds).
#[inline(always)]
fn hsum(a: &[f32; W]) -> f32 {
    let mut h = [0f32; 8];
    for i in 0..8 {
        h[i] = a[i] + a[i + 8];
    }
    let mut q = [0f32; 4];
    for i in 0..4 {
        q[i] = h[i] + h[i + 4];
    }
    (q[0] + q[2]) + (q[1] + q[3])
}

/// `scores[j] = q · keys[j]` for the `d`-wide rows of `keys`. Four keys at a time, so
/// their partial sums run side by side instead of waiting on each other.
fn scores_into(q: &[f32], keys: &[f32], d: usize, scores: &mut [f32]) {
    let (qb, []) = q.as_chunks::<W>() else {
        for (s, k) in scores.iter_mut().zip(keys.chunks_exact(d)) {
            *s = dot(q, k);
        }
        return;
    };
    let mut quads = keys.chunks_exact(4 * d);
    let mut outs = scores.chunks_exact_mut(4);
    for (k4, s4) in (&mut quads).zip(&mut outs) {
        let mut acc = [[0f32; W]; 4];
        let (kb, _) = k4.as_chunks::<W>();
        let per_key = d / W;
        for (c, a) in qb.iter().enumerate() {
            for (j, acc) in acc.iter_mut().enumerate() {
                mul_acc(acc, a, &kb[j * per_key + c]);
            }
        }
        for (s, a) in s4.iter_mut().zip(&acc) {
            *s = hsum(a);
        }
    }
    for (s, k) in outs
        .into_remainder()
        .iter_mut()
        .zip(quads.remainder().chunks_exact(d))
    {
        *s = dot(q, k);
    }
}

/// `out = sum_j p[j] * values[j]` over the `d`-wide rows of `values`, reading the rows
/// once in order while a block of `out` (64 wide for head sizes that allow it: eight
/// AVX2 registers) stays in registers.
fn weighted_sum(p: &[f32], values: &[f32], d: usize, out: &mut [f32]) {
    if d.is_multiple_of(64) {
        weighted_sum_blocks::<64>(p, values, d, out)
    } else if d.is_multiple_of(W) {
        weighted_sum_blocks::<W>(p, values, d, out)
    } else {
        out.fill(0.0);
        for (&pj, v) in p.iter().zip(values.chunks_exact(d)) {
            for (o, x) in out.iter_mut().zip(v) {
                *o += pj * x;
            }
        }
    }
}

fn weighted_sum_blocks<const B: usize>(p: &[f32], values: &[f32], d: usize, out: &mut [f32]) {
    for (c, o) in out.as_chunks_mut::<B>().0.iter_mut().enumerate() {
        let mut acc = [0f32; B];
        for (&pj, v) in p.iter().zip(values.chunks_exact(d)) {
            if let Ok(v) = <&[f32; B]>::try_from(&v[c * B..(c + 1) * B]) {
                for i in 0..B {
                    acc[i] = fmadd(pj, v[i], acc[i]);
                }
            }
        }
        *o = acc;
    }
}

/// `e^x` to about 2 ulp (Cephes' `expf`: `2^n e^r` with `|r| <= ln2 / 2` and a degree-7
/// polynomial), in integer and float steps the compiler vectorises across a loop;
/// glibc's `expf` is a call per element. Inputs below -87.3 (masked keys are -inf)
/// give exactly 0.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer n held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(-87.3, 88.3);
    let k = xc * std::f32::consts::LOG2_E + ROUND;
    let n = k - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n: n + 127 (in 1..=254 after the clamp) moved into the exponent field.
    let two_n = f32::from_bits(k.to_bits().wrapping_add(127) << 23);
    if x < -87.3 {
        0.0
    } else {
        y * two_n
    }
}

/// Sum and maximum over `W` lanes, so the loops vectorise (a single running sum or
/// max is one long dependency chain).
fn lanes(xs: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let (blocks, tail) = xs.as_chunks::<W>();
    let mut acc = [init; W];
    for b in blocks {
        for i in 0..W {
            acc[i] = f(acc[i], b[i]);
        }
    }
    acc.into_iter().chain(tail.iter().copied()).fold(init, f)
}

/// `scores` turned into `softmax(scores)` in place.
fn softmax(scores: &mut [f32]) {
    let max = lanes(scores, f32::NEG_INFINITY, f32::max);
    scores.iter_mut().for_each(|x| *x = exp(*x - max));
    let inv = 1.0 / lanes(scores, 0.0, |a, b| a + b);
    scores.iter_mut().for_each(|x| *x *= inv);
}

/// `softmax(scale * q K^T (soft-capped) + mask) V` for `q` `[B, H, L, d]` against
/// `k`, `v` `[B, kv, T, d]` (any strides with a contiguous last axis, such as views of
/// the cache) and `mask` `[B, 1, L, T]`; returns `[B, L, H*d]` like the gemm path.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scale: f64,
    softcap: Option<f64>,
) -> candle_core::Result<Tensor> {
    let (b, heads, l, d) = q.dims4()?;
    let (_, kv_heads, t, _) = k.dims4()?;
    if heads % kv_heads != 0 || v.dims4()? != k.dims4()? {
        candle_core::bail!(
            "attention shapes: q {:?}, k {:?}, v {:?}",
            q.dims(),
            k.dims(),
            v.dims()
        )
    }
    let groups = heads / kv_heads;
    // Scaled before the dot products, as the gemm path does.
    let q = (q * scale)?.contiguous()?;
    let (k, v) = (k.contiguous_last()?, v.contiguous_last()?);
    let mask = match mask {
        Some(m) => Some(m.broadcast_as((b, 1, l, t))?.contiguous()?),
        None => None,
    };
    let (qs, ql) = q.storage_and_layout();
    let (ks, kl) = k.storage_and_layout();
    let (vs, vl) = v.storage_and_layout();
    let (qv, kv, vv) = (
        View::new(&qs, ql, "query")?,
        View::new(&ks, kl, "keys")?,
        View::new(&vs, vl, "values")?,
    );
    let mask_guard = mask.as_ref().map(|m| m.storage_and_layout());
    let mask_view = match &mask_guard {
        Some((s, lay)) => Some(View::new(s, lay, "mask")?),
        None => None,
    };
    let cap = softcap.map(|c| c as f32);

    // One item per (sequence, query head): its L output rows.
    let items = b * heads;
    let done: Vec<OnceLock<Vec<f32>>> = (0..items).map(|_| OnceLock::new()).collect();
    let work = |item: usize| {
        let (bi, h) = (item / heads, item % heads);
        let g = h / groups;
        let (keys, values) = (kv.rows(bi, g, 0, t), vv.rows(bi, g, 0, t));
        let mut out = vec![0f32; l * d];
        let mut scores = vec![0f32; t];
        for (li, out_row) in out.chunks_exact_mut(d).enumerate() {
            scores_into(qv.rows(bi, h, li, 1), keys, d, &mut scores);
            if let Some(c) = cap {
                scores.iter_mut().for_each(|x| *x = (*x / c).tanh() * c);
            }
            if let Some(m) = &mask_view {
                let m = m.rows(bi, 0, li, 1);
                scores.iter_mut().zip(m).for_each(|(x, m)| *x += m);
            }
            softmax(&mut scores);
            weighted_sum(&scores, values, d, out_row);
        }
        // Each item is taken once, so its slot is always empty here.
        let _ = done[item].set(out);
    };
    candle_core::utils::barrier_pool().execute_chunked(items, |range| range.for_each(&work));

    let mut out = vec![0f32; b * l * heads * d];
    for (item, slot) in done.into_iter().enumerate() {
        let (bi, h) = (item / heads, item % heads);
        let rows = slot
            .into_inner()
            .ok_or_else(|| candle_core::Error::Msg("attention item not computed".into()))?;
        for (li, row) in rows.chunks_exact(d).enumerate() {
            let at = ((bi * l + li) * heads + h) * d;
            out[at..at + d].copy_from_slice(row);
        }
    }
    Tensor::from_vec(out, (b, l, heads * d), q.device())
}

/// Keeps a tensor whose last two axes are already contiguous as it is (a view of the
/// cache), copies it otherwise.
trait ContiguousLast: Sized {
    fn contiguous_last(&self) -> candle_core::Result<Self>;
}

impl ContiguousLast for Tensor {
    fn contiguous_last(&self) -> candle_core::Result<Self> {
        let (st, dims) = (self.stride(), self.dims());
        if st.len() == 4 && st[3] == 1 && st[2] == dims[3] {
            Ok(self.clone())
        } else {
            self.contiguous()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    /// The gemm path's arithmetic, written out with candle ops.
    fn reference(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        scale: f64,
        softcap: Option<f64>,
    ) -> candle_core::Result<Tensor> {
        let (b, h, l, d) = q.dims4()?;
        let groups = h / k.dim(1)?;
        let k = k.repeat_interleave_heads(groups)?;
        let v = v.repeat_interleave_heads(groups)?;
        let mut s = (q * scale)?.matmul(&k.t()?)?;
        if let Some(c) = softcap {
            s = ((s / c)?.tanh()? * c)?;
        }
        if let Some(m) = mask {
            s = s.broadcast_add(m)?;
        }
        candle_nn::ops::softmax(&s, D::Minus1)?
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, l, h * d))
    }

    trait RepeatHeads: Sized {
        fn repeat_interleave_heads(&self, n: usize) -> candle_core::Result<Self>;
    }

    impl RepeatHeads for Tensor {
        fn repeat_interleave_heads(&self, n: usize) -> candle_core::Result<Self> {
            let (b, kv, t, d) = self.dims4()?;
            self.unsqueeze(2)?
                .broadcast_as((b, kv, n, t, d))?
                .reshape((b, kv * n, t, d))
        }
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> candle_core::Result<f32> {
        (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
    }

    #[test]
    fn matches_the_gemm_path_on_cache_views_with_mask_and_softcap() -> candle_core::Result<()> {
        // 20 takes the plain loops, 48 the 16-wide blocks, 64 the 64-wide value blocks;
        // 37 keys leave one key after the groups of four.
        for d in [20, 48, 64] {
            check_against_gemm(d)?;
        }
        Ok(())
    }

    fn check_against_gemm(d: usize) -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let (b, h, kv, l, t, cap) = (2, 6, 2, 2, 37, 48);
        let q = Tensor::randn(0f32, 1.0, (b, h, l, d), &dev)?;
        // A cache buffer with spare capacity, read through a narrowed view.
        let kbuf = Tensor::randn(0f32, 1.0, (b, kv, cap, d), &dev)?;
        let vbuf = Tensor::randn(0f32, 1.0, (b, kv, cap, d), &dev)?;
        let (k, v) = (kbuf.narrow(2, 0, t)?, vbuf.narrow(2, 0, t)?);
        assert!(!k.is_contiguous());
        // Row 0 masks its first five keys (left padding); row 1 masks nothing.
        let mut m = vec![0f32; b * l * t];
        for li in 0..l {
            for ti in 0..5 {
                m[li * t + ti] = f32::NEG_INFINITY;
            }
        }
        let mask = Tensor::from_vec(m, (b, 1, l, t), &dev)?;
        for softcap in [None, Some(5.0)] {
            let ours = attend(&q, &k, &v, Some(&mask), 0.125, softcap)?;
            let want = reference(&q, &k, &v, Some(&mask), 0.125, softcap)?;
            assert_eq!(ours.dims(), &[b, l, h * d]);
            let diff = max_diff(&ours, &want)?;
            assert!(
                diff < 1e-5,
                "d {d}, softcap {softcap:?}: max difference {diff}"
            );
        }
        let ours = attend(&q, &k, &v, None, 0.3, None)?;
        let want = reference(&q, &k, &v, None, 0.3, None)?;
        assert!(max_diff(&ours, &want)? < 1e-5);
        Ok(())
    }

    #[test]
    fn exp_is_within_a_few_ulp_of_std_and_zero_below_the_floor() {
        let mut worst = 0f32;
        for i in -87_000..=88_000 {
            let x = i as f32 * 1e-3;
            let (ours, want) = (exp(x), x.exp());
            worst = worst.max(((ours - want) / want).abs());
        }
        // 2 ulp of f32 is about 2.4e-7 relative.
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn a_masked_key_gets_no_weight() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let q = Tensor::ones((1, 1, 1, 4), DType::F32, &dev)?;
        let k = Tensor::ones((1, 1, 2, 4), DType::F32, &dev)?;
        let v = Tensor::new(&[[[[1f32, 1., 1., 1.], [9., 9., 9., 9.]]]], &dev)?;
        let mask = Tensor::new(&[[[[0f32, f32::NEG_INFINITY]]]], &dev)?;
        let out = attend(&q, &k, &v, Some(&mask), 1.0, None)?;
        assert_eq!(out.flatten_all()?.to_vec1::<f32>()?, vec![1f32; 4]);
        Ok(())
    }
}
