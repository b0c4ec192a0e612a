//! Generation of reasoning chains: the whole prompt first, then one token at a time
//! (candle-examples `qwen/main.rs`), many prompts and G samples per prompt in one batch
//! (RecPO rollouts, evaluation), stopping at `<answer>` (kept), with the final-norm hidden
//! state of every step available so item ranks can be traced while the model reasons.
//!
//! The user vector h_T of R²ec (SPEC §1) is the hidden state at the last token of the
//! chain, i.e. after the model has read the `<answer>` it emitted. A chain cut by the
//! token budget gets `<answer>` appended (teacher-forced), so h_T is always read at the
//! same place.

pub mod batch;
pub mod events;

pub use batch::{generate_batch, generate_batch_hooked, GenerateRequest};
pub use events::{Chain, GenEvent, StopReason, Timings};

use super::sampling::Sampling;

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
        }
    }
}

#[cfg(test)]
mod tests;
