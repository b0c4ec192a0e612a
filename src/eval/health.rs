//! Reasoning health of a set of chains: how long they are, how many reach `<answer>` by
//! themselves (not cut by the budget), and how much they repeat themselves (the share
//! of a chain's 4-grams of tokens that already occurred in it: 1 - distinct / total).
//! A chain that loops on one line scores near 1; varied text near 0.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// The n of the repetition measure.
pub const REPEAT_N: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ReasoningHealth {
    /// Chains measured.
    pub chains: usize,
    /// Mean sampled tokens per chain.
    pub mean_len: f64,
    /// Share of chains that wrote `<answer>` (or ended their turn) themselves.
    pub answered: f64,
    /// Mean over chains of the repeated 4-gram share.
    pub repeat4: f64,
}

/// 1 - distinct n-grams / n-grams of `tokens`; 0 when it has fewer than `n` tokens.
pub fn repeated_ngram_share(tokens: &[u32], n: usize) -> f64 {
    if n == 0 || tokens.len() < n {
        return 0.0;
    }
    let total = tokens.len() - n + 1;
    let distinct: HashSet<&[u32]> = tokens.windows(n).collect();
    1.0 - distinct.len() as f64 / total as f64
}

impl ReasoningHealth {
    /// Over chains given as (sampled tokens, whether the chain answered by itself).
    pub fn of<'a>(chains: impl IntoIterator<Item = (&'a [u32], bool)>) -> Self {
        Self::of_measured(
            chains
                .into_iter()
                .map(|(tokens, done)| (tokens.len(), done, repeated_ngram_share(tokens, REPEAT_N))),
        )
    }

    /// Over chains already measured one by one, as (sampled tokens, answered by itself,
    /// repeated 4-gram share): what an evaluation keeps per example.
    pub fn of_measured(chains: impl IntoIterator<Item = (usize, bool, f64)>) -> Self {
        let (mut n, mut len, mut answered, mut repeat) = (0usize, 0usize, 0usize, 0.0f64);
        for (tokens, done, share) in chains {
            n += 1;
            len += tokens;
            answered += usize::from(done);
            repeat += share;
        }
        if n == 0 {
            return Self::default();
        }
        let n_f = n as f64;
        Self {
            chains: n,
            mean_len: len as f64 / n_f,
            answered: answered as f64 / n_f,
            repeat4: repeat / n_f,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_repeats_and_varied_text_does_not() {
        let looping: Vec<u32> = [1, 2, 3, 4, 5].repeat(20);
        let varied: Vec<u32> = (0..100).collect();
        // 97 4-grams, 5 distinct.
        assert!((repeated_ngram_share(&looping, 4) - (1.0 - 5.0 / 97.0)).abs() < 1e-12);
        assert_eq!(repeated_ngram_share(&varied, 4), 0.0);
        assert_eq!(repeated_ngram_share(&[1, 2, 3], 4), 0.0);
        let h = ReasoningHealth::of([(looping.as_slice(), false), (varied.as_slice(), true)]);
        assert_eq!((h.chains, h.mean_len, h.answered), (2, 100.0, 0.5));
        assert!((h.repeat4 - (1.0 - 5.0 / 97.0) / 2.0).abs() < 1e-12);
        assert_eq!(
            ReasoningHealth::of(std::iter::empty()),
            ReasoningHealth::default()
        );
    }
}
