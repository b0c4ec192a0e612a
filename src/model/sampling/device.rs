//! Choosing next tokens where the logits are, on a GPU: greedy, temperature, top-k and
//! top-p, with the repetition penalty and n-gram bans, written as tensor ops so a decode
//! step copies only the chosen ids (and a validity flag per row) back to the host instead
//! of the `[rows, vocab]` logits. The host sampler ([`super::LogitsSampler`]) stays the
//! CPU's path; this one runs on any candle device, so its tests run on the CPU.
//!
//! The semantics are the host sampler's: the same conventions (temperature <= 0 is
//! greedy, `k = 0` and `p >= 1` keep every token, NaN and -inf are never chosen), and the
//! same draw: one uniform `u` per row, taken from that row's own seeded generator, picks
//! the first token whose cumulative weight exceeds `u * total` (inverse CDF), in token
//! order when no top-k/top-p applies and in descending order after top-k. Ties may be
//! broken differently (CUDA's sort is not stable).
//!
//! How it stays on the device with candle 0.11's kernels:
//! - top-k (k <= [`SORT_K_MAX`]): candle's CUDA argsort keeps a whole row in shared
//!   memory, one thread per column, so it is only used on rows of at most [`SORT_WIDTH`]
//!   columns: the vocabulary is cut into such chunks, each chunk's best k kept, and the
//!   survivors sorted again until one chunk is left (49152 tokens, k = 50: 3 sorts);
//! - larger k, and top-p without top-k: the cut-off weight is found by bisection
//!   (count or mass of the weights above a threshold), with no sort at all;
//! - cumulative sums (`Tensor::cumsum` is a matmul with a triangular matrix) run over
//!   blocks of [`SORT_WIDTH`]: block totals first, then inside the chosen block.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};

use super::repetition::Repetition;
use super::Sampling;

/// Widest row handed to `arg_sort_last_dim` or to one triangular matmul.
pub const SORT_WIDTH: usize = 1024;
/// Largest top-k served by chunked sorting; a chunk round keeps at most a quarter of
/// its input, so the rounds end.
pub const SORT_K_MAX: usize = 256;
/// Bisection rounds for a cut-off weight in [0, 1]: below 2^-40 the weights left out or
/// let in carry no probability that f32 can tell apart.
const BISECTION_STEPS: usize = 40;

/// What the settings ask of the device.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Greedy,
    /// Top-k by chunked sort, then top-p over the sorted survivors.
    Sorted {
        k: usize,
        p: Option<f64>,
        t: f64,
    },
    /// The whole vocabulary, cut by bisection (top-k, then top-p) when asked.
    Full {
        k: Option<usize>,
        p: Option<f64>,
        t: f64,
    },
}

fn mode(sampling: Sampling, vocab: usize) -> Mode {
    let (t, k, p) = sampling.parts();
    if !(t > 0.0 && t.is_finite()) {
        return Mode::Greedy;
    }
    let k = (k > 0 && k < vocab).then_some(k);
    // The host's nucleus always keeps one token: p <= 0 keeps only the best.
    let (k, p) = match p {
        p if p <= 0.0 => (Some(1), None),
        p if p < 1.0 => (k, Some(p)),
        _ => (k, None),
    };
    match k {
        Some(k) if k <= SORT_K_MAX => Mode::Sorted { k, p, t },
        k => Mode::Full { k, p, t },
    }
}

/// A sampler for a batch of `rows` sequences over a vocabulary of `vocab` tokens.
pub struct DeviceSampler {
    mode: Mode,
    repetition: Repetition,
    rows: usize,
    vocab: usize,
    device: Device,
    /// `[rows, vocab]`, 1.0 where the row's sequence holds the token (penalty only).
    seen: Option<Tensor>,
    /// `[rows, 1]` ones, the values written into `seen`.
    ones: Tensor,
    /// `[1, 1]` constants, broadcast where needed (no host copy per op).
    neg_inf: Tensor,
    zero: Tensor,
    f32_max: Tensor,
    f32_min: Tensor,
    last_id: Tensor,
    /// Upper-triangular ones `[n, n]` and `1..=n` as `[1, n]`, by `n`.
    triu: HashMap<usize, Tensor>,
    count_up: HashMap<usize, Tensor>,
}

impl DeviceSampler {
    /// `prompts[r]` is row r's prompt (real tokens): with a penalty, its tokens count as
    /// seen from the start, as in transformers.
    pub fn new(
        sampling: Sampling,
        repetition: Repetition,
        prompts: &[&[u32]],
        vocab: usize,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let rows = prompts.len();
        let scalar = |v: f32| Tensor::full(v, (1, 1), device);
        let mut s = Self {
            mode: mode(sampling, vocab),
            repetition,
            rows,
            vocab,
            device: device.clone(),
            seen: None,
            ones: Tensor::ones((rows, 1), DType::F32, device)?,
            neg_inf: scalar(f32::NEG_INFINITY)?,
            zero: scalar(0.0)?,
            f32_max: scalar(f32::MAX)?,
            f32_min: scalar(f32::MIN)?,
            last_id: scalar(vocab.saturating_sub(1) as f32)?,
            triu: HashMap::new(),
            count_up: HashMap::new(),
        };
        if repetition.has_penalty() {
            let seen = Tensor::zeros((rows, vocab), DType::F32, device)?;
            // One upload for all prompts, as flat positions `row * vocab + token`.
            let flat: Vec<u32> = prompts
                .iter()
                .enumerate()
                .flat_map(|(r, p)| {
                    p.iter().map(move |&t| {
                        (r * vocab + (t as usize).min(vocab.saturating_sub(1))) as u32
                    })
                })
                .collect();
            if !flat.is_empty() {
                let n = flat.len();
                let idx = Tensor::from_vec(flat, n, device)?;
                let ones = Tensor::ones(n, DType::F32, device)?;
                // The flat view shares `seen`'s storage, so this writes `seen`.
                seen.reshape(rows * vocab)?.scatter_set(&idx, &ones, 0)?;
            }
            s.seen = Some(seen);
        }
        Ok(s)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The next token of every row of `logits` (`[rows, vocab]`, any float dtype, on this
    /// sampler's device). `uniforms[r]` in [0, 1) drives row r's draw (unused when
    /// greedy); `banned[r]` lists tokens row r may not take (n-gram bans, empty for none).
    /// `None` for a row none of whose logits can be chosen. One copy to the host.
    ///
    /// With a penalty, every returned token is then counted as seen in its row: the
    /// caller feeds it, or the row stops sampling for good.
    pub fn sample(
        &mut self,
        logits: &Tensor,
        uniforms: &[f64],
        banned: &[&[u32]],
    ) -> candle_core::Result<Vec<Option<u32>>> {
        let (rows, vocab) = logits.dims2()?;
        if rows != self.rows || vocab != self.vocab {
            candle_core::bail!(
                "device sampler for [{}, {}] given logits {:?}",
                self.rows,
                self.vocab,
                logits.dims()
            )
        }
        let x = self.prepare(logits, banned)?;
        let (token, valid) = match self.mode {
            Mode::Greedy => {
                let best = x.max_keepdim(D::Minus1)?;
                let token = x.argmax_keepdim(D::Minus1)?.to_dtype(DType::F32)?;
                (
                    token,
                    best.broadcast_gt(&self.neg_inf)?.to_dtype(DType::F32)?,
                )
            }
            Mode::Sorted { k, p, t } => {
                let (vals, ids) = self.top_k_sorted(&x, k)?;
                let w = self.weights(&vals, t)?;
                let w = match p {
                    Some(p) => self.nucleus_sorted(&w, p)?,
                    None => w,
                };
                let (j, valid) = self.pick(&w, uniforms)?;
                let token = ids
                    .gather(&j.to_dtype(DType::U32)?, 1)?
                    .to_dtype(DType::F32)?;
                (token, valid)
            }
            Mode::Full { k, p, t } => {
                let mut w = self.weights(&x, t)?;
                if let Some(k) = k {
                    w = self.cut(&w, |kept| kept.to_dtype(DType::F32), k as f64)?;
                }
                if let Some(p) = p {
                    let target = w.sum_keepdim(1)?.affine(p, 0.0)?;
                    w = self.cut_mass(&w, &target)?;
                }
                self.pick(&w, uniforms)?
            }
        };
        // One transfer: token ids (exact in f32 below 2^24) beside their validity.
        let both = Tensor::cat(&[&token, &valid], 1)?.to_vec2::<f32>()?;
        if let Some(seen) = &self.seen {
            // Rows without a token carry an arbitrary id: keep it in range.
            let idx = token
                .broadcast_maximum(&self.zero)?
                .broadcast_minimum(&self.last_id)?
                .to_dtype(DType::U32)?;
            seen.scatter_set(&idx, &self.ones, 1)?;
        }
        Ok(both
            .into_iter()
            .map(|r| (r[1] > 0.5).then_some(r[0] as u32))
            .collect())
    }

    /// f32 logits with NaN at -inf, the penalty, +inf at f32::MAX (so shifting by the
    /// maximum stays finite) and the bans at -inf.
    fn prepare(&self, logits: &Tensor, banned: &[&[u32]]) -> candle_core::Result<Tensor> {
        let shape = (self.rows, self.vocab);
        let x = logits.to_dtype(DType::F32)?.contiguous()?;
        let mut x = x
            .eq(&x)?
            .where_cond(&x, &self.neg_inf.broadcast_as(shape)?)?;
        if let Some(seen) = &self.seen {
            let p = self.repetition.penalty as f64;
            // Per token: p where the logit is negative, 1/p where not; 1 where unseen.
            let factor = x
                .broadcast_lt(&self.zero)?
                .to_dtype(DType::F32)?
                .affine(p - 1.0 / p, 1.0 / p)?;
            let factor = (seen * factor.affine(1.0, -1.0)?)?.affine(1.0, 1.0)?;
            x = (x * factor)?;
        }
        let x = x.broadcast_minimum(&self.f32_max)?;
        if banned.iter().all(|b| b.is_empty()) {
            return Ok(x);
        }
        // Adding -inf bans a token; the padding adds 0 to token 0.
        let width = banned.iter().map(|b| b.len()).max().unwrap_or(0);
        let mut idx = Vec::with_capacity(self.rows * width);
        let mut add = Vec::with_capacity(self.rows * width);
        for b in banned {
            for i in 0..width {
                match b.get(i) {
                    Some(&t) if (t as usize) < self.vocab => {
                        idx.push(t);
                        add.push(f32::NEG_INFINITY);
                    }
                    _ => {
                        idx.push(0);
                        add.push(0.0);
                    }
                }
            }
        }
        let idx = Tensor::from_vec(idx, (self.rows, width), &self.device)?;
        let add = Tensor::from_vec(add, (self.rows, width), &self.device)?;
        x.scatter_add(&idx, &add, 1)
    }

    /// `exp((x - max) / t)` per row, in [0, 1]; a row of -inf gives zeros.
    fn weights(&self, x: &Tensor, t: f64) -> candle_core::Result<Tensor> {
        let max = x.max_keepdim(D::Minus1)?.broadcast_maximum(&self.f32_min)?;
        x.broadcast_sub(&max)?.affine(1.0 / t, 0.0)?.exp()
    }

    /// The best `k` of every row, in descending order: values and token ids `[rows, k]`.
    fn top_k_sorted(&mut self, x: &Tensor, k: usize) -> candle_core::Result<(Tensor, Tensor)> {
        let rows = self.rows;
        let mut vals = x.clone();
        let mut ids: Option<Tensor> = None;
        loop {
            let n = vals.dim(1)?;
            if n <= SORT_WIDTH {
                let order = vals
                    .arg_sort_last_dim(false)?
                    .narrow(1, 0, k.min(n))?
                    .contiguous()?;
                let v = vals.gather(&order, 1)?;
                let i = match ids {
                    None => order,
                    Some(ids) => ids.gather(&order, 1)?,
                };
                return Ok((v, i));
            }
            let chunks = n.div_ceil(SORT_WIDTH);
            let pad = chunks * SORT_WIDTH - n;
            let padded = |t: &Tensor, fill: &Tensor| -> candle_core::Result<Tensor> {
                if pad == 0 {
                    return Ok(t.clone());
                }
                let fill = fill.broadcast_as((rows, pad))?.to_dtype(t.dtype())?;
                Tensor::cat(&[t, &fill.contiguous()?], 1)
            };
            let blocks = padded(&vals, &self.neg_inf)?.reshape((rows * chunks, SORT_WIDTH))?;
            let order = blocks
                .arg_sort_last_dim(false)?
                .narrow(1, 0, k)?
                .contiguous()?;
            let v = blocks.gather(&order, 1)?.reshape((rows, chunks * k))?;
            // Positions in `vals`: the chunk's offset plus the position inside it.
            let offsets = self
                .count_up(chunks)?
                .affine(SORT_WIDTH as f64, -(SORT_WIDTH as f64))?
                .broadcast_as((rows, chunks))?
                .reshape((rows * chunks, 1))?;
            let pos = order
                .to_dtype(DType::F32)?
                .broadcast_add(&offsets)?
                .reshape((rows, chunks * k))?
                .to_dtype(DType::U32)?;
            ids = Some(match ids {
                None => pos,
                Some(prev) => {
                    let prev = padded(&prev, &self.zero)?;
                    prev.gather(&pos, 1)?
                }
            });
            vals = v;
        }
    }

    /// Top-p over weights sorted in descending order: a token stays while the mass before
    /// it is below `p` of the row's total (the first always stays).
    fn nucleus_sorted(&mut self, w: &Tensor, p: f64) -> candle_core::Result<Tensor> {
        let total = w.sum_keepdim(1)?;
        let before = (self.cumsum(w)? - w)?;
        let keep = before
            .broadcast_lt(&total.affine(p, 0.0)?)?
            .to_dtype(DType::F32)?;
        w * keep
    }

    /// Weights at or above the largest threshold whose kept count reaches `k` (top-k by
    /// bisection); `kept_value` turns the kept flags into what is counted.
    fn cut(
        &self,
        w: &Tensor,
        kept_value: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
        k: f64,
    ) -> candle_core::Result<Tensor> {
        let target = Tensor::full(k as f32, (self.rows, 1), &self.device)?;
        self.bisect(w, &kept_value, &target)
    }

    /// Top-p by bisection: the weights at or above the largest threshold whose kept mass
    /// reaches `target` (`[rows, 1]`).
    fn cut_mass(&self, w: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
        let mass =
            |kept: &Tensor| -> candle_core::Result<Tensor> { w * kept.to_dtype(DType::F32)? };
        self.bisect(w, &mass, target)
    }

    /// `w` with the weights below the cut-off zeroed, the cut-off being the largest
    /// threshold in [0, 2) for which `measure(w >= threshold)` summed over the row
    /// reaches `target` (threshold 0 always does: every weight is >= 0).
    fn bisect(
        &self,
        w: &Tensor,
        measure: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
        target: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let mut lo = Tensor::zeros((self.rows, 1), DType::F32, &self.device)?;
        let mut hi = Tensor::full(2f32, (self.rows, 1), &self.device)?;
        for _ in 0..BISECTION_STEPS {
            let mid = ((&lo + &hi)? * 0.5)?;
            let reached = measure(&w.broadcast_ge(&mid)?)?
                .sum_keepdim(1)?
                .ge(target)?;
            lo = reached.where_cond(&mid, &lo)?;
            hi = reached.where_cond(&hi, &mid)?;
        }
        w * w.broadcast_ge(&lo)?.to_dtype(DType::F32)?
    }

    /// Inverse-CDF draw from non-negative weights `[rows, n]`: the index of the first
    /// weight whose cumulative sum exceeds `u * total`, as f32 `[rows, 1]`, and whether the
    /// row had any weight. Rounding can leave the target past the last cumulative sum; the
    /// index is then the last positive weight, as on the host.
    fn pick(&mut self, w: &Tensor, uniforms: &[f64]) -> candle_core::Result<(Tensor, Tensor)> {
        if uniforms.len() != self.rows {
            candle_core::bail!("{} uniforms for {} rows", uniforms.len(), self.rows)
        }
        // The largest f32 below 1, so `u * total` stays below the total.
        let u: Vec<f32> = uniforms
            .iter()
            .map(|&u| (u as f32).clamp(0.0, 1.0 - f32::EPSILON / 2.0))
            .collect();
        let u = Tensor::from_vec(u, (self.rows, 1), &self.device)?;
        let total = w.sum_keepdim(1)?;
        let valid = total.broadcast_gt(&self.zero)?.to_dtype(DType::F32)?;
        let target = (u * &total)?;
        let n = w.dim(1)?;
        if n <= SORT_WIDTH {
            let j = self.first_above(w, &target, None)?;
            return Ok((j, valid));
        }
        // Blocks of SORT_WIDTH: the block first, then the position inside it.
        let blocks = n.div_ceil(SORT_WIDTH);
        let pad = blocks * SORT_WIDTH - n;
        let w = if pad > 0 {
            let zeros = self.zero.broadcast_as((self.rows, pad))?.contiguous()?;
            Tensor::cat(&[w, &zeros], 1)?
        } else {
            w.contiguous()?
        };
        let w3 = w.reshape((self.rows, blocks, SORT_WIDTH))?;
        let sums = w3.sum(2)?;
        let b = self.first_above(&sums, &target, None)?;
        let b_idx = b.to_dtype(DType::U32)?;
        let before = (self.cumsum(&sums)? - &sums)?.gather(&b_idx, 1)?;
        let block = w3
            .gather(
                &b_idx
                    .reshape((self.rows, 1, 1))?
                    .broadcast_as((self.rows, 1, SORT_WIDTH))?
                    .contiguous()?,
                1,
            )?
            .reshape((self.rows, SORT_WIDTH))?;
        let j = self.first_above(&block, &target, Some(&before))?;
        let index = (b.affine(SORT_WIDTH as f64, 0.0)? + j)?;
        Ok((index, valid))
    }

    /// Index of the first weight of each row whose cumulative sum (plus `offset`) exceeds
    /// `target`, capped at the row's last positive weight; f32 `[rows, 1]`.
    fn first_above(
        &mut self,
        w: &Tensor,
        target: &Tensor,
        offset: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let n = w.dim(1)?;
        let mut cum = self.cumsum(w)?;
        if let Some(o) = offset {
            cum = cum.broadcast_add(o)?;
        }
        let below = cum
            .broadcast_le(target)?
            .to_dtype(DType::F32)?
            .sum_keepdim(1)?;
        let last_positive = w
            .broadcast_gt(&self.zero)?
            .to_dtype(DType::F32)?
            .broadcast_mul(&self.count_up(n)?)?
            .max_keepdim(1)?
            .affine(1.0, -1.0)?;
        below.minimum(&last_positive)?.relu()
    }

    /// Cumulative sums along each row (`n` <= [`SORT_WIDTH`]), by one matmul.
    fn cumsum(&mut self, w: &Tensor) -> candle_core::Result<Tensor> {
        let n = w.dim(1)?;
        if !self.triu.contains_key(&n) {
            let t = Tensor::triu2(n, DType::F32, &self.device)?;
            self.triu.insert(n, t);
        }
        w.contiguous()?.matmul(&self.triu[&n])
    }

    /// `[1, n]` holding 1, 2, ..., n.
    fn count_up(&mut self, n: usize) -> candle_core::Result<Tensor> {
        if !self.count_up.contains_key(&n) {
            let t = Tensor::arange(1u32, n as u32 + 1, &self.device)?
                .to_dtype(DType::F32)?
                .reshape((1, n))?;
            self.count_up.insert(n, t);
        }
        Ok(self.count_up[&n].clone())
    }
}

#[cfg(test)]
mod tests;
