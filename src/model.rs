//! The backbone LLM with its two heads (SPEC §1): config, weights, loading.

pub mod config;
pub mod sampling;
pub mod stop;
pub mod weights;
