//! The backbone's tokenizer: a `tokenizers::Tokenizer` built either from a GGUF file's
//! vocabulary and merges (`tokenizer/gguf_bpe.rs`) or from a Hugging Face
//! `tokenizer.json` (`tokenizer/hf.rs`), plus the BOS/EOS ids and a streaming decoder.
//! Encoding parses special tokens (`<|im_start|>` is one id) and adds no BOS: the chat
//! template writes whatever the model expects.

mod gguf_bpe;
mod hf;
mod stream;

use std::path::PathBuf;
use std::sync::Arc;

pub use hf::{load_hf_tokenizer, read_hf_chat_template};
pub use stream::TokenStream;

use crate::model::gguf::metadata::{Metadata, MetadataError};

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("metadata key `tokenizer.ggml.merges` entry {index} ({entry:?}) is not two tokens separated by a space")]
    BadMerge { index: usize, entry: String },
    #[error("cannot build the tokenizer: {0}")]
    Build(String),
    #[error("{path}: {message}", path = path.display())]
    File { path: PathBuf, message: String },
    #[error("{path}: field `{field}`: {message}", path = path.display())]
    Field {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("cannot encode text: {0}")]
    Encode(String),
    #[error("cannot decode token ids: {0}")]
    Decode(String),
}

/// Cheap to clone: the vocabulary is shared.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    bos: Option<u32>,
    eos: Option<u32>,
}

impl Tokenizer {
    pub fn new(inner: tokenizers::Tokenizer, bos: Option<u32>, eos: Option<u32>) -> Self {
        Self {
            inner: Arc::new(inner),
            bos,
            eos,
        }
    }

    /// Build from a GGUF file's `tokenizer.ggml.*` metadata (byte-level BPE only).
    pub fn from_gguf_metadata(meta: &Metadata) -> Result<Self, TokenizerError> {
        gguf_bpe::from_metadata(meta)
    }

    /// Token ids of `text`; special tokens in the text become their single ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens included: `decode(encode(x)) == x`.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.decode_with(ids, false)
    }

    /// The text of `ids` without special tokens, for display.
    pub fn decode_text(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.decode_with(ids, true)
    }

    fn decode_with(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| TokenizerError::Decode(e.to_string()))
    }

    /// The id of one token (vocabulary or added/special token), if it is a single token.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// A fresh streaming decoder over this tokenizer.
    pub fn stream(&self) -> TokenStream {
        TokenStream::new(self.clone())
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}
