//! Errors of the model module: files, config fields and tensors that are missing or
//! wrong, each naming what and where, plus candle's own errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {what} not found")]
    MissingFile { path: PathBuf, what: &'static str },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: invalid JSON: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: field `{field}`: {reason}")]
    BadConfig {
        path: PathBuf,
        field: String,
        reason: String,
    },
    #[error("missing tensor `{name}`")]
    MissingTensor { name: String },
    #[error("tensor `{name}` has shape {actual:?}, expected {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("{path}: cannot read safetensors: {source}")]
    Safetensors {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Tokenizer(#[from] crate::model::tokenizer::TokenizerError),
    #[error(transparent)]
    Gguf(Box<crate::model::gguf::GgufError>),
    #[error(transparent)]
    Sampling(#[from] crate::model::sampling::SamplingError),
    /// A LoRA adapter that cannot be read or does not fit the model.
    #[error("LoRA adapter: {0}")]
    Adapter(Box<crate::model::lora::LoraError>),
    /// Input the model cannot take (an empty prompt, ...).
    #[error("{0}")]
    Input(String),
}

impl From<crate::model::gguf::GgufError> for ModelError {
    fn from(e: crate::model::gguf::GgufError) -> Self {
        Self::Gguf(Box::new(e))
    }
}

impl From<crate::model::lora::LoraError> for ModelError {
    fn from(e: crate::model::lora::LoraError) -> Self {
        Self::Adapter(Box::new(e))
    }
}
