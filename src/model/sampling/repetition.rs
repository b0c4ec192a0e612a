//! Repetition control as Hugging Face `generate` applies it, for demos (training and
//! evaluation keep SPEC decoding: both off):
//! - the repetition penalty of CTRL (arXiv 1909.05858), transformers'
//!   `RepetitionPenaltyLogitsProcessor`: the logit of every token already in the sequence
//!   (prompt and generated text alike) is divided by the penalty when positive and
//!   multiplied by it when negative, once per distinct token;
//! - transformers' `NoRepeatNGramLogitsProcessor`: a token that would complete an n-gram
//!   already present anywhere in the sequence is banned (-inf).
//!
//! Both act on the raw logits, before temperature, top-k and top-p, as transformers runs
//! its logits processors before its warpers, and under greedy decoding too. The host
//! sampler applies them with [`RepetitionState::apply`]; the device sampler keeps the
//! penalty's token set on the device and takes the bans from [`RepetitionState::banned`].

use std::collections::{HashMap, HashSet};

/// The two settings; `Repetition::default()` is off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Repetition {
    /// 1.0 is off; above 1 discourages repeats, below 1 encourages them.
    pub penalty: f32,
    /// 0 is off; n bans every token that would repeat an n-gram of the sequence.
    pub no_repeat_ngram: usize,
}

impl Default for Repetition {
    fn default() -> Self {
        Self::OFF
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("repetition penalty must be a finite number > 0 (1 is off), got {0}")]
pub struct BadPenalty(pub f32);

impl Repetition {
    pub const OFF: Self = Self {
        penalty: 1.0,
        no_repeat_ngram: 0,
    };

    pub fn is_off(&self) -> bool {
        !self.has_penalty() && self.no_repeat_ngram == 0
    }

    pub fn has_penalty(&self) -> bool {
        self.penalty != 1.0
    }

    /// transformers refuses a penalty that is not strictly positive; so does this.
    pub fn validate(&self) -> Result<(), BadPenalty> {
        if self.penalty.is_finite() && self.penalty > 0.0 {
            Ok(())
        } else {
            Err(BadPenalty(self.penalty))
        }
    }

    /// A penalised logit (transformers: `where(score < 0, score * p, score / p)`).
    pub fn penalise(&self, logit: f32) -> f32 {
        if logit < 0.0 {
            logit * self.penalty
        } else {
            logit / self.penalty
        }
    }
}

/// One sequence (one batch row) as the two processors see it: its distinct tokens, and
/// for every (n-1)-gram the tokens that have followed it.
#[derive(Debug, Clone)]
pub struct RepetitionState {
    settings: Repetition,
    seq: Vec<u32>,
    seen: HashSet<u32>,
    /// (n-1)-gram -> tokens that completed it to an n-gram of the sequence.
    followers: HashMap<Vec<u32>, Vec<u32>>,
}

impl RepetitionState {
    /// The state after reading `prompt` (its real tokens, no padding).
    pub fn new(settings: Repetition, prompt: &[u32]) -> Self {
        let mut s = Self {
            settings,
            seq: Vec::with_capacity(prompt.len() + 256),
            seen: HashSet::new(),
            followers: HashMap::new(),
        };
        for &t in prompt {
            s.push(t);
        }
        s
    }

    pub fn settings(&self) -> Repetition {
        self.settings
    }

    /// The sequence grows by `token`.
    pub fn push(&mut self, token: u32) {
        self.seq.push(token);
        if self.settings.has_penalty() {
            self.seen.insert(token);
        }
        let n = self.settings.no_repeat_ngram;
        if n > 0 && self.seq.len() >= n {
            let gram = &self.seq[self.seq.len() - n..];
            let list = self.followers.entry(gram[..n - 1].to_vec()).or_default();
            if !list.contains(&token) {
                list.push(token);
            }
        }
    }

    /// Tokens the next position may not take: those that would close an n-gram already in
    /// the sequence (transformers' `_get_generated_ngrams`; nothing while the sequence is
    /// shorter than n - 1).
    pub fn banned(&self) -> &[u32] {
        let n = self.settings.no_repeat_ngram;
        if n == 0 || self.seq.len() + 1 < n {
            return &[];
        }
        let key = &self.seq[self.seq.len() + 1 - n..];
        self.followers.get(key).map_or(&[], Vec::as_slice)
    }

    /// Distinct tokens of the sequence (what the penalty applies to); empty without one.
    pub fn seen(&self) -> impl Iterator<Item = u32> + '_ {
        self.seen.iter().copied()
    }

    /// Both processors on one row of raw logits; ids beyond the row are ignored.
    pub fn apply(&self, logits: &mut [f32]) {
        if self.settings.has_penalty() {
            for t in self.seen() {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = self.settings.penalise(*l);
                }
            }
        }
        for &t in self.banned() {
            if let Some(l) = logits.get_mut(t as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(penalty: f32, n: usize, seq: &[u32]) -> RepetitionState {
        RepetitionState::new(
            Repetition {
                penalty,
                no_repeat_ngram: n,
            },
            seq,
        )
    }

    #[test]
    fn penalty_divides_positive_and_multiplies_negative_logits_once_per_token() {
        // Token 1 appears twice and is penalised once; 3 is negative; 0 and 4 unseen.
        let s = state(2.0, 0, &[1, 3, 1]);
        let mut l = vec![1.0f32, 4.0, -2.0, -3.0, 5.0];
        s.apply(&mut l);
        assert_eq!(l, vec![1.0, 2.0, -2.0, -6.0, 5.0]);
        // Below 1 it favours repeats, the other way round.
        let s = state(0.5, 0, &[1, 3]);
        let mut l = vec![1.0f32, 4.0, -2.0, -3.0];
        s.apply(&mut l);
        assert_eq!(l, vec![1.0, 8.0, -2.0, -1.5]);
    }

    #[test]
    fn off_changes_nothing() {
        let s = state(1.0, 0, &[0, 1, 2, 0, 1]);
        let mut l = vec![0.5f32, -0.5, 2.0];
        s.apply(&mut l);
        assert_eq!(l, vec![0.5, -0.5, 2.0]);
        assert!(s.banned().is_empty());
        assert!(Repetition::default().is_off());
    }

    /// The bans of transformers' NoRepeatNGramLogitsProcessor over the whole sequence,
    /// computed the slow way: every n-gram whose first n-1 tokens equal the last n-1.
    fn reference_bans(seq: &[u32], n: usize) -> Vec<u32> {
        if seq.len() + 1 < n {
            return Vec::new();
        }
        let tail = &seq[seq.len() + 1 - n..];
        let mut out: Vec<u32> = seq
            .windows(n)
            .filter(|w| &w[..n - 1] == tail)
            .map(|w| w[n - 1])
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn ngram_bans_match_the_slow_definition_as_the_sequence_grows() {
        let seq = [5u32, 6, 7, 5, 6, 8, 5, 6, 7, 7, 7, 5, 6];
        for n in 1..=4 {
            let mut s = state(1.0, n, &seq[..2]);
            for i in 2..=seq.len() {
                let mut got = s.banned().to_vec();
                got.sort_unstable();
                assert_eq!(got, reference_bans(&seq[..i], n), "n={n}, after {i} tokens");
                if i < seq.len() {
                    s.push(seq[i]);
                }
            }
        }
        // After `5 6` the bigram model bans what followed 6, the trigram what followed `5 6`.
        assert_eq!(state(1.0, 3, &seq).banned(), &[7, 8]);
        // n = 1 bans every token seen so far.
        let mut got = state(1.0, 1, &[3, 1, 3]).banned().to_vec();
        got.sort_unstable();
        assert_eq!(got, vec![1, 3]);
    }

    #[test]
    fn bans_are_applied_after_the_penalty() {
        let s = state(2.0, 2, &[4, 2, 4]);
        let mut l = vec![1.0f32; 6];
        s.apply(&mut l);
        assert_eq!(l[2], f32::NEG_INFINITY, "`4 2` already occurred");
        assert_eq!(l[4], 0.5);
        assert_eq!(l[0], 1.0);
    }

    #[test]
    fn a_penalty_that_is_not_positive_is_refused() {
        for p in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
            let r = Repetition {
                penalty: p,
                no_repeat_ngram: 0,
            };
            assert!(r.validate().is_err(), "{p}");
        }
        assert!(Repetition::OFF.validate().is_ok());
    }
}
