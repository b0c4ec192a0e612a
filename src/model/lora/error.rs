//! Errors of LoRA adapters: files and fields that are missing, invalid or unsupported,
//! and tensors that do not fit the model, each naming the file and what is wrong.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    #[error("{path}: {what} not found")]
    MissingFile { path: PathBuf, what: &'static str },
    #[error("{path}: {source}")]
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
    /// A field of `adapter_config.json` that is missing, invalid or not supported.
    #[error("{path}: field `{field}`: {reason}")]
    BadConfig {
        path: PathBuf,
        field: String,
        reason: String,
    },
    /// A setting the caller asked for that LoRA cannot take (rank 0, dropout 1, ...).
    #[error("invalid LoRA setting `{field}`: {reason}")]
    BadSetting { field: &'static str, reason: String },
    #[error("{path}: cannot read safetensors: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("{path}: missing tensor `{name}`")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` is not part of a LoRA adapter for this model")]
    UnexpectedTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` has dtype {dtype}; expected F32, F16 or BF16")]
    BadDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    #[error(
        "{path}: adapter for another model: {module} has {found:?}, this model wants {expected:?}"
    )]
    ShapeMismatch {
        path: PathBuf,
        module: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// Loading saved weights into an adapter built with other settings.
    #[error(
        "{path}: field `{field}` is {found} in the file, the adapter was built with {expected}"
    )]
    ConfigMismatch {
        path: PathBuf,
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error("base weights: {0}")]
    Model(#[from] crate::model::error::ModelError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
