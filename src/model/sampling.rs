//! Choosing the next token from logits: greedy, or seeded sampling with temperature,
//! top-k and top-p (nucleus). Follows candle-transformers' `generation/mod.rs`
//! (<https://github.com/huggingface/candle/blob/main/candle-transformers/src/generation/mod.rs>)
//! with deterministic tie rules, so a seed gives the same chain on every run.
//!
//! Conventions (as in Hugging Face `generate`): temperature <= 0 is greedy, `k = 0`
//! keeps every token, `p >= 1` keeps every token. Greedy picks the lowest index among
//! equal logits; NaN logits are never chosen.
//!
//! This is the host's sampler (the CPU's path, over logits copied to a slice).
//! [`device::DeviceSampler`] makes the same choices with tensor ops where the logits are
//! (a GPU), drawing from the same per-row generators; [`repetition`] holds the
//! repetition penalty and n-gram bans both apply before sampling.

pub mod device;
pub mod repetition;

use std::cmp::Ordering;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    ArgMax,
    All { temperature: f64 },
    TopK { k: usize, temperature: f64 },
    TopP { p: f64, temperature: f64 },
    TopKThenTopP { k: usize, p: f64, temperature: f64 },
}

impl Sampling {
    /// Evaluation decoding (SPEC §4): greedy.
    pub fn greedy() -> Self {
        Self::ArgMax
    }

    /// The reference's rollout setting (SPEC §5): temperature 2.0, top-k 50.
    pub fn rollout() -> Self {
        Self::TopK {
            k: 50,
            temperature: 2.0,
        }
    }

    /// Whether this picks the best token without drawing (temperature <= 0 is greedy).
    pub fn is_greedy(&self) -> bool {
        let t = self.parts().0;
        !(t > 0.0 && t.is_finite())
    }

    /// (temperature, k or 0, p or 1); temperature 0 for greedy.
    pub(crate) fn parts(&self) -> (f64, usize, f64) {
        match *self {
            Self::ArgMax => (0.0, 0, 1.0),
            Self::All { temperature } => (temperature, 0, 1.0),
            Self::TopK { k, temperature } => (temperature, k, 1.0),
            Self::TopP { p, temperature } => (temperature, 0, p),
            Self::TopKThenTopP { k, p, temperature } => (temperature, k, p),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    #[error("no logits to sample from")]
    Empty,
    #[error("every one of the {0} logits is NaN or -inf")]
    NoFiniteLogit(usize),
}

/// A seeded sampler; the same seed, settings and logits give the same tokens.
#[derive(Debug, Clone)]
pub struct LogitsSampler {
    rng: StdRng,
    sampling: Sampling,
}

impl LogitsSampler {
    pub fn new(seed: u64, sampling: Sampling) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            sampling,
        }
    }

    pub fn sampling(&self) -> Sampling {
        self.sampling
    }

    /// The next uniform draw in [0, 1) of this sampler's generator: what the device
    /// sampler picks a row's token with, so a row's draws come from its own seed there too.
    pub fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// The next token id.
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32, SamplingError> {
        if logits.is_empty() {
            return Err(SamplingError::Empty);
        }
        let (temperature, k, p) = self.sampling.parts();
        if !(temperature > 0.0 && temperature.is_finite()) {
            return argmax(logits);
        }
        // (token, logit) of every token that can be drawn.
        let mut cand: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite() || **l == f32::INFINITY)
            .map(|(i, &l)| (i as u32, f64::from(l)))
            .collect();
        if cand.is_empty() {
            return Err(SamplingError::NoFiniteLogit(logits.len()));
        }
        if k > 0 && k < cand.len() {
            cand.select_nth_unstable_by(k - 1, best_first);
            cand.truncate(k);
        }
        // Softmax at the temperature; the weights stay unnormalised, the draw scales.
        let max = cand.iter().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max);
        let mut weighted: Vec<(u32, f64)> = if max == f64::INFINITY {
            cand.iter()
                .map(|&(i, l)| (i, if l == f64::INFINITY { 1.0 } else { 0.0 }))
                .collect()
        } else {
            cand.iter()
                .map(|&(i, l)| (i, ((l - max) / temperature).exp()))
                .collect()
        };
        if p < 1.0 {
            weighted = nucleus(weighted, p);
        }
        let total: f64 = weighted.iter().map(|w| w.1).sum();
        let mut u = self.rng.random::<f64>() * total;
        for &(i, w) in &weighted {
            if u < w {
                return Ok(i);
            }
            u -= w;
        }
        // Rounding can leave u just above the last weight: take the last positive one.
        Ok(weighted
            .iter()
            .rev()
            .find(|w| w.1 > 0.0)
            .map_or(weighted[0].0, |w| w.0))
    }
}

/// The lowest index of the largest logit; NaN is never chosen.
pub fn argmax(logits: &[f32]) -> Result<u32, SamplingError> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if !l.is_nan() && best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    match best {
        Some((i, l)) if l > f32::NEG_INFINITY => Ok(i as u32),
        _ => Err(SamplingError::NoFiniteLogit(logits.len())),
    }
}

/// Higher value first, then lower token id.
fn best_first(a: &(u32, f64), b: &(u32, f64)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The smallest set of most probable tokens whose probability reaches `p` (at least
/// one token). Only tokens above a probability threshold are sorted when they alone
/// reach `p`, which is exact (the set is a prefix of the sorted order) and avoids
/// sorting a whole vocabulary for every token.
fn nucleus(mut weighted: Vec<(u32, f64)>, p: f64) -> Vec<(u32, f64)> {
    let total: f64 = weighted.iter().map(|w| w.1).sum();
    let target = p.max(0.0) * total;
    let mut threshold = 1e-4 * total;
    let mut head: Vec<(u32, f64)> = loop {
        let head: Vec<(u32, f64)> = weighted
            .iter()
            .copied()
            .filter(|w| w.1 >= threshold)
            .collect();
        if head.iter().map(|w| w.1).sum::<f64>() >= target || threshold < 1e-12 * total {
            break if head.is_empty() {
                std::mem::take(&mut weighted)
            } else {
                head
            };
        }
        threshold /= 64.0;
    };
    head.sort_unstable_by(best_first);
    let mut cum = 0.0;
    let mut keep = head.len();
    for (n, w) in head.iter().enumerate() {
        cum += w.1;
        if cum >= target {
            keep = n + 1;
            break;
        }
    }
    head.truncate(keep);
    head
}

#[cfg(test)]
mod tests;
