//! What can go wrong loading a GGUF file; every variant names the file, and the tensor
//! or metadata key where there is one.

use std::path::PathBuf;

use super::metadata::MetadataError;
use crate::model::chat_template::UnknownTemplate;
use crate::model::tokenizer::TokenizerError;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: cannot read the file: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a GGUF file (starts with {found:?}, expected \"GGUF\")", path = path.display())]
    BadMagic { path: PathBuf, found: String },
    #[error("{path}: unreadable GGUF header (truncated or corrupt file?): {message}", path = path.display())]
    Header { path: PathBuf, message: String },
    #[error("{path}: {source}", path = path.display())]
    Metadata {
        path: PathBuf,
        source: MetadataError,
    },
    #[error("{path}: tensor `{tensor}` (for `{hf_name}`) is missing", path = path.display())]
    MissingTensor {
        path: PathBuf,
        tensor: String,
        hf_name: String,
    },
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}", path = path.display())]
    ShapeMismatch {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error(
        "{path}: truncated file: tensor `{tensor}` needs bytes {start}..{end} but the file has {file_len} bytes",
        path = path.display()
    )]
    Truncated {
        path: PathBuf,
        tensor: String,
        start: u64,
        end: u64,
        file_len: u64,
    },
    #[error("{path}: tensor `{tensor}`: {message}", path = path.display())]
    Tensor {
        path: PathBuf,
        tensor: String,
        message: String,
    },
    #[error("{path}: tokenizer: {source}", path = path.display())]
    Tokenizer {
        path: PathBuf,
        source: TokenizerError,
    },
    #[error("{path}: metadata key `tokenizer.chat_template`: {source}", path = path.display())]
    ChatTemplate {
        path: PathBuf,
        source: UnknownTemplate,
    },
}
