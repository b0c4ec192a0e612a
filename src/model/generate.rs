//! Generation of reasoning chains: the whole prompt first, then one token at a time
//! (candle-examples `qwen/main.rs`), many prompts and G samples per prompt in one batch
//! (RecPO rollouts, evaluation), stopping at `<answer>` (kept), with the final-norm hidden
//! state of every step available so item ranks can be traced while the model reasons.
//!
//! Next tokens are chosen on the host on the CPU and where the logits are on a GPU
//! (`next.rs`), so a GPU decode step copies only the chosen ids back.
//!
//! The user vector h_T of R²ec (SPEC §1) is the hidden state at the last token of the
//! chain, i.e. after the model has read the `<answer>` it emitted. A chain cut by the
//! token budget gets `<answer>` appended (teacher-forced), so h_T is always read at the
//! same place.

pub mod batch;
pub mod events;
mod next;

pub use batch::{generate_batch, generate_batch_hooked, generate_batch_reusing, GenerateRequest};
pub use events::{Chain, GenEvent, StopReason, Timings};

use super::sampling::repetition::Repetition;
use super::sampling::Sampling;

/// Where the next tokens are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SamplePlace {
    /// On the device of the logits when it is a GPU (only the ids come back), on the
    /// host on the CPU.
    #[default]
    Auto,
    /// Logits copied to the host and sampled there ([`crate::model::sampling::LogitsSampler`]).
    Host,
    /// Tensor ops on the logits' device
    /// ([`crate::model::sampling::device::DeviceSampler`]), whatever the device.
    Device,
}

/// Settings of one generation call.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    pub seed: u64,
    /// Stop strings; the first one found ends the chain and is kept in its text.
    pub stop: Vec<String>,
    /// Keep the hidden state of every generated step (for rank traces).
    pub keep_step_hidden: bool,
    /// Append `<answer>` to chains that end without it, so every chain has h_T. Off for
    /// plain chat, where the text is all that is wanted.
    pub force_answer: bool,
    /// Repetition penalty and n-gram bans (transformers' `repetition_penalty` and
    /// `no_repeat_ngram_size`); off by default, as SPEC decoding is.
    pub repetition: Repetition,
    /// End-of-turn tokens cannot be sampled before a chain has this many tokens
    /// (transformers' `min_new_tokens`); benchmarks use it to time exactly N tokens.
    pub min_new_tokens: usize,
    pub sample_on: SamplePlace,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 640,
            sampling: Sampling::ArgMax,
            seed: 0,
            stop: vec![crate::model::chat_template::ANSWER_TAG.to_string()],
            keep_step_hidden: false,
            force_answer: true,
            repetition: Repetition::OFF,
            min_new_tokens: 0,
            sample_on: SamplePlace::Auto,
        }
    }
}

#[cfg(test)]
mod tests;
