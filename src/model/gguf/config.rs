//! `ModelConfig` from GGUF metadata (`general.architecture` and the `<arch>.*` keys that
//! llama.cpp's converter writes:
//! <https://github.com/ggml-org/llama.cpp/blob/master/convert_hf_to_gguf.py>).

use super::metadata::{Metadata, MetadataError};
use crate::model::config::{Family, ModelConfig};

/// The family a GGUF file's `general.architecture` names.
pub fn family_of(meta: &Metadata) -> Result<Family, MetadataError> {
    let arch = meta.string("general.architecture")?;
    match arch {
        "llama" => Ok(Family::Llama),
        "qwen2" => Ok(Family::Qwen2),
        "gemma2" => Ok(Family::Gemma2),
        other => Err(MetadataError::Unsupported {
            key: "general.architecture".into(),
            value: other.into(),
            supported: "llama, qwen2, gemma2",
        }),
    }
}

/// Build the config. `vocab_size` comes from the tokenizer's token list unless the file
/// states `<arch>.vocab_size`; `tied` is true when the file has no `output.weight`.
pub fn config_from_metadata(
    meta: &Metadata,
    n_tokens: usize,
    tied: bool,
) -> Result<ModelConfig, MetadataError> {
    let family = family_of(meta)?;
    let arch = meta.string("general.architecture")?;
    let key = |k: &str| format!("{arch}.{k}");

    let hidden_size = meta.usize(&key("embedding_length"))?;
    let num_attention_heads = meta.usize(&key("attention.head_count"))?;
    if num_attention_heads == 0 {
        return Err(MetadataError::WrongType {
            key: key("attention.head_count"),
            expected: "a positive head count",
            found: "0".into(),
        });
    }
    let num_key_value_heads = meta
        .opt_usize(&key("attention.head_count_kv"))?
        .unwrap_or(num_attention_heads);
    let head_dim = meta
        .opt_usize(&key("attention.key_length"))?
        .unwrap_or(hidden_size / num_attention_heads);
    let num_hidden_layers = meta.usize(&key("block_count"))?;

    let gemma = family == Family::Gemma2;
    // llama.cpp scales Gemma2 queries by 1/sqrt(head_dim), except for the 27B model
    // (46 layers) whose `query_pre_attn_scalar` is hidden / heads; GGUF does not store it.
    let query_pre_attn_scalar = gemma.then(|| {
        if num_hidden_layers == 46 {
            hidden_size / num_attention_heads
        } else {
            head_dim
        }
    });

    Ok(ModelConfig {
        family,
        vocab_size: meta.opt_usize(&key("vocab_size"))?.unwrap_or(n_tokens),
        hidden_size,
        intermediate_size: meta.usize(&key("feed_forward_length"))?,
        num_hidden_layers,
        num_attention_heads,
        num_key_value_heads,
        head_dim,
        rms_norm_eps: meta.f64(&key("attention.layer_norm_rms_epsilon"))?,
        rope_theta: meta.opt_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0),
        max_position_embeddings: meta.usize(&key("context_length"))?,
        tie_word_embeddings: tied,
        attention_bias: family == Family::Qwen2,
        final_logit_softcapping: if gemma {
            meta.opt_f64(&key("final_logit_softcapping"))?
        } else {
            None
        },
        attn_logit_softcapping: if gemma {
            meta.opt_f64(&key("attn_logit_softcapping"))?
        } else {
            None
        },
        query_pre_attn_scalar,
        sliding_window: if gemma {
            meta.opt_usize(&key("attention.sliding_window"))?
        } else {
            None
        },
        bos_token_id: meta.opt_u32("tokenizer.ggml.bos_token_id")?,
        eos_token_id: meta.opt_u32("tokenizer.ggml.eos_token_id")?,
    })
}
