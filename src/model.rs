//! The backbone LLM with its two heads (SPEC §1): config, weights, loading.

pub mod config;
pub mod gguf;
pub mod tokenizer;
pub mod weights;
