//! The backbone LLM with its two heads (SPEC §1): config, weights, loading (GGUF and
//! Hugging Face folders), tokenizer, generation and sampling.

pub mod backbone;
pub mod chat_template;
pub mod config;
pub mod device;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod hf;
pub mod linear;
pub mod loaded;
pub mod lora;
pub mod lower;
pub mod random;
pub mod sampling;
pub mod stop;
pub mod tokenizer;
pub mod weights;
