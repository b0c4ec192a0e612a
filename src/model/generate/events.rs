//! What generation reports: streamed text pieces while it runs, and one `Chain` per
//! sample when it ends, with timings for the status bar and benchmarks.

/// Why a chain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The stop string (`<answer>`) was generated.
    StopString,
    /// The model ended its turn without the stop string; `<answer>` was appended.
    EndOfTurn,
    /// The token budget ran out; `<answer>` was appended.
    MaxTokens,
    /// The caller cancelled; the chain is incomplete and has no user vector.
    Cancelled,
}

impl StopReason {
    /// Whether the chain ended by itself (wrote `<answer>` or ended its turn), rather
    /// than being cut by the budget or cancelled.
    pub fn answered(self) -> bool {
        matches!(self, Self::StopString | Self::EndOfTurn)
    }
}

/// Time spent, for one batch.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Prompt tokens over all rows (padding excluded).
    pub prompt_tokens: usize,
    pub prefill_secs: f64,
    /// Tokens generated over all rows (forced `<answer>` tokens excluded).
    pub generated_tokens: usize,
    pub decode_secs: f64,
    /// From the call to the first sampled token.
    pub first_token_secs: f64,
}

impl Timings {
    pub fn prefill_tokens_per_sec(&self) -> f64 {
        if self.prefill_secs > 0.0 {
            self.prompt_tokens as f64 / self.prefill_secs
        } else {
            0.0
        }
    }
    pub fn decode_tokens_per_sec(&self) -> f64 {
        if self.decode_secs > 0.0 {
            self.generated_tokens as f64 / self.decode_secs
        } else {
            0.0
        }
    }
}

/// One generated reasoning chain.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Index of the request (prompt) it answers.
    pub request: usize,
    /// Which of the request's samples it is (0..G).
    pub sample: usize,
    /// The generated text, ending with the stop string when there was one.
    pub text: String,
    /// Generated token ids, including forced `<answer>` tokens at the end.
    pub token_ids: Vec<u32>,
    /// How many of `token_ids` the model sampled (the rest were forced).
    pub sampled_tokens: usize,
    pub stop: StopReason,
    /// h_T: final-norm hidden state after reading the last token (empty when cancelled).
    pub user_vector: Vec<f32>,
    /// Hidden state after each generated token, when asked for.
    pub step_hidden: Vec<Vec<f32>>,
}

impl Chain {
    /// The ids the model sampled itself, without the forced `<answer>` tokens: what
    /// length and repetition are measured on.
    pub fn sampled_ids(&self) -> &[u32] {
        &self.token_ids[..self.sampled_tokens.min(self.token_ids.len())]
    }

    /// Tokens sampled before `<answer>` when the chain wrote it, `tag_tokens` being what
    /// the tag alone tokenizes to; all it sampled otherwise.
    pub fn reasoning_tokens(&self, tag_tokens: usize) -> usize {
        let sampled = self.sampled_ids().len();
        if self.stop == StopReason::StopString {
            sampled.saturating_sub(tag_tokens)
        } else {
            sampled
        }
    }
}

/// Streamed while generation runs.
#[derive(Debug, Clone)]
pub enum GenEvent {
    /// New printable text of one sample.
    Text {
        request: usize,
        sample: usize,
        piece: String,
    },
    /// The prompt has been read; sampling starts.
    PrefillDone { secs: f64, prompt_tokens: usize },
    /// The final-norm hidden state after one more token of a sample, sent only with
    /// `keep_step_hidden`: what h_T would be if the chain ended here (live rankings).
    StepHidden {
        request: usize,
        sample: usize,
        /// 0 for the hidden state after the first generated token.
        step: usize,
        hidden: Vec<f32>,
    },
    /// One sample finished (its `Chain` comes back from the call).
    Finished {
        request: usize,
        sample: usize,
        stop: StopReason,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(sampled: usize, forced: usize, stop: StopReason) -> Chain {
        Chain {
            request: 0,
            sample: 0,
            text: String::new(),
            token_ids: (0..(sampled + forced) as u32).collect(),
            sampled_tokens: sampled,
            stop,
            user_vector: Vec::new(),
            step_hidden: Vec::new(),
        }
    }

    #[test]
    fn reasoning_tokens_leave_out_a_written_tag_only() {
        // Wrote 10 tokens, the last 3 of them `<answer>`.
        assert_eq!(chain(10, 0, StopReason::StopString).reasoning_tokens(3), 7);
        // Only the tag: no reasoning.
        assert_eq!(chain(3, 0, StopReason::StopString).reasoning_tokens(3), 0);
        // Cut by the budget with `<answer>` forced after it: all it sampled.
        assert_eq!(chain(64, 3, StopReason::MaxTokens).reasoning_tokens(3), 64);
        assert_eq!(chain(5, 3, StopReason::EndOfTurn).reasoning_tokens(3), 5);
    }
}
