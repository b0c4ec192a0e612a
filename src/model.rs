//! The backbone LLM with its two heads (SPEC §1): config, weights, loading.

pub mod backbone;
pub mod config;
pub mod error;
pub mod hf;
pub mod linear;
pub mod random;
pub mod weights;
