//! Reasoning health of a set of chains: how long they are, how many reach `<answer>` by
//! themselves (not cut by the budget), and how much they repeat themselves (the share
//! of a chain's 4-grams of tokens that already occurred in it: 1 - distinct / total).
//! A chain that loops on one line scores near 1; varied text near 0. A chain that
//! writes `<answer>` with nothing before it ends by itself without reasoning at all,
//! so those are counted apart.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::model::chat_template::ANSWER_TAG;
use crate::model::generate::StopReason;

/// The n of the repetition measure.
pub const REPEAT_N: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ReasoningHealth {
    /// Chains measured.
    pub chains: usize,
    /// Mean sampled tokens per chain.
    pub mean_len: f64,
    /// Share of chains that ended by themselves: wrote `<answer>` or ended their turn.
    pub answered: f64,
    /// Share of chains that wrote `<answer>` (SPEC's stop); the rest of `answered` ended
    /// their turn, and `<answer>` was placed after them to read h_T.
    #[serde(default)]
    pub wrote_answer: f64,
    /// Share of chains that wrote `<answer>` with nothing but blanks before it: part of
    /// `wrote_answer`, chains that skipped the reasoning.
    #[serde(default)]
    pub wrote_at_once: f64,
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

/// Whether a chain with text `text` that stopped for `stop` wrote `<answer>` with
/// nothing but blanks before it.
pub fn answered_at_once(text: &str, stop: Option<StopReason>) -> bool {
    stop == Some(StopReason::StopString)
        && text
            .trim_end()
            .strip_suffix(ANSWER_TAG)
            .is_some_and(|before| before.trim().is_empty())
}

/// One chain as measured: sampled tokens, how it stopped if known, its repeated 4-gram
/// share and whether it answered at once (`answered_at_once`).
pub type Measured = (usize, Option<StopReason>, f64, bool);

impl ReasoningHealth {
    /// Over chains given as (sampled tokens, how the chain stopped, its text).
    pub fn of<'a>(chains: impl IntoIterator<Item = (&'a [u32], StopReason, &'a str)>) -> Self {
        Self::of_measured(chains.into_iter().map(|(tokens, stop, text)| {
            (
                tokens.len(),
                Some(stop),
                repeated_ngram_share(tokens, REPEAT_N),
                answered_at_once(text, Some(stop)),
            )
        }))
    }

    /// Over chains already measured one by one: what an evaluation keeps per example.
    pub fn of_measured(chains: impl IntoIterator<Item = Measured>) -> Self {
        let (mut n, mut len, mut answered, mut wrote, mut at_once, mut repeat) =
            (0usize, 0usize, 0usize, 0usize, 0usize, 0.0f64);
        for (tokens, stop, share, once) in chains {
            n += 1;
            len += tokens;
            answered += usize::from(stop.is_some_and(|s| s.answered()));
            wrote += usize::from(stop == Some(StopReason::StopString));
            at_once += usize::from(once);
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
            wrote_answer: wrote as f64 / n_f,
            wrote_at_once: at_once as f64 / n_f,
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
        let h = ReasoningHealth::of([
            (looping.as_slice(), StopReason::MaxTokens, "a b a b"),
            (varied.as_slice(), StopReason::EndOfTurn, "fine"),
            (
                varied.as_slice(),
                StopReason::StopString,
                "I like it.<answer>",
            ),
            (varied.as_slice(), StopReason::Cancelled, ""),
        ]);
        assert_eq!((h.chains, h.mean_len, h.answered), (4, 100.0, 0.5));
        assert_eq!((h.wrote_answer, h.wrote_at_once), (0.25, 0.0));
        assert!((h.repeat4 - (1.0 - 5.0 / 97.0) / 4.0).abs() < 1e-12);
        assert_eq!(
            ReasoningHealth::of(std::iter::empty()),
            ReasoningHealth::default()
        );
    }

    #[test]
    fn answering_at_once_is_writing_the_tag_with_nothing_before_it() {
        use StopReason::{EndOfTurn, MaxTokens, StopString};
        let s = Some(StopString);
        assert!(answered_at_once("<answer>", s));
        assert!(answered_at_once(" \n<answer>\n", s));
        assert!(!answered_at_once("He likes action.\n<answer>", s));
        assert!(
            !answered_at_once("", Some(EndOfTurn)),
            "ended its turn: no tag"
        );
        assert!(!answered_at_once("<answer>", Some(MaxTokens)));
        assert!(!answered_at_once("<answer>", None));
        let tag: Vec<u32> = vec![1, 2, 3];
        let h = ReasoningHealth::of([
            (tag.as_slice(), StopString, "<answer>"),
            (tag.as_slice(), StopString, "Yes<answer>"),
            (tag.as_slice(), MaxTokens, "<answer> and on"),
            (tag.as_slice(), EndOfTurn, ""),
        ]);
        assert_eq!((h.wrote_answer, h.wrote_at_once), (0.5, 0.25));
    }
}
