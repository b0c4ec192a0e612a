//! Loading a GGUF model file (llama.cpp's format,
//! <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>) into everything the
//! project needs from it: the `ModelConfig` from the metadata, the `Weights` under
//! Hugging Face names (matrices still quantized, llama's Q/K rows back in HF's rotary
//! order), the tokenizer built from the file's vocabulary and merges, and the chat
//! template.

mod config;
mod error;
mod file;
pub mod metadata;
mod names;
mod tensors;

use std::collections::HashMap;
use std::path::Path;

use candle_core::Device;

pub use config::{config_from_metadata, family_of};
pub use error::GgufError;
pub use file::{GgufFile, RawTensor};
pub use metadata::{Metadata, MetadataError};
pub use names::{expected_tensors, ExpectedTensor, TensorRole};
pub use tensors::unpermute_rows;

use crate::model::chat_template::ChatTemplate;
use crate::model::config::ModelConfig;
use crate::model::tokenizer::Tokenizer;
use crate::model::weights::Weights;

/// A model loaded from one GGUF file.
#[derive(Debug, Clone)]
pub struct GgufModel {
    pub config: ModelConfig,
    pub weights: Weights,
    pub tokenizer: Tokenizer,
    pub chat_template: ChatTemplate,
}

/// Load config, weights, tokenizer and chat template from a GGUF file. Every tensor the
/// config implies is checked (present, right shape, inside the file) before any is read.
pub fn load_gguf(path: impl AsRef<Path>, device: &Device) -> Result<GgufModel, GgufError> {
    let mut file = GgufFile::open(path)?;
    let path = file.path().to_path_buf();
    let meta_err = |source| GgufError::Metadata {
        path: path.clone(),
        source,
    };

    let meta = file.metadata();
    let tokenizer =
        Tokenizer::from_gguf_metadata(&meta).map_err(|source| GgufError::Tokenizer {
            path: path.clone(),
            source,
        })?;
    let template_source = meta.string("tokenizer.chat_template").map_err(meta_err)?;
    let chat_template =
        ChatTemplate::from_jinja(template_source).map_err(|source| GgufError::ChatTemplate {
            path: path.clone(),
            source,
        })?;
    let n_tokens = meta
        .strings("tokenizer.ggml.tokens")
        .map_err(meta_err)?
        .len();
    let tied = !file.has_tensor("output.weight");
    let config = config_from_metadata(&meta, n_tokens, tied).map_err(meta_err)?;

    let expected = expected_tensors(&config);
    for e in &expected {
        tensors::check_tensor(&file, e)?;
    }
    let mut weights = HashMap::with_capacity(expected.len());
    for e in &expected {
        let w = tensors::load_tensor(&mut file, e, config.family, device)?;
        weights.insert(e.hf_name.clone(), w);
    }
    Ok(GgufModel {
        config,
        weights: Weights {
            tensors: weights,
            device: device.clone(),
        },
        tokenizer,
        chat_template,
    })
}
