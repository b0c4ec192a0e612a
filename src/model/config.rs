//! One configuration type for the three backbone families (Llama, Qwen2, Gemma2),
//! read from a Hugging Face `config.json` or built from GGUF metadata.
//! Field names follow `config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Llama,
    Qwen2,
    Gemma2,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub family: Family,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    /// Per-head size; `hidden_size / num_attention_heads` unless the model says otherwise.
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// q/k/v projections carry biases (Qwen2).
    pub attention_bias: bool,
    /// Gemma2 only: tanh soft-capping of the final logits and the attention logits.
    pub final_logit_softcapping: Option<f64>,
    pub attn_logit_softcapping: Option<f64>,
    /// Gemma2 only: attention scale is `query_pre_attn_scalar^-0.5`.
    pub query_pre_attn_scalar: Option<usize>,
    /// Gemma2 only: every other layer (even indices) attends within this window.
    pub sliding_window: Option<usize>,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
}

impl ModelConfig {
    /// Number of query heads sharing one key/value head (grouped-query attention).
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads.max(1)
    }

    /// Attention logits are multiplied by this before the softmax.
    pub fn attention_scale(&self) -> f64 {
        match (self.family, self.query_pre_attn_scalar) {
            (Family::Gemma2, Some(s)) => (s as f64).powf(-0.5),
            _ => (self.head_dim as f64).powf(-0.5),
        }
    }

    /// The sliding window of layer `layer`, if that layer has one: Gemma2 alternates
    /// local (even layers) and global attention.
    pub fn layer_window(&self, layer: usize) -> Option<usize> {
        match self.family {
            Family::Gemma2 if layer.is_multiple_of(2) => self.sliding_window,
            _ => None,
        }
    }

    /// Reads a Hugging Face `config.json` (model_type llama, qwen2 or gemma2).
    pub fn from_hf_json(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ModelError::MissingFile {
                    path: path.to_path_buf(),
                    what: "config.json",
                }
            } else {
                ModelError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|e| ModelError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Self::from_hf_value(&json, path)
    }

    /// Same as [`ModelConfig::from_hf_json`] on an already parsed document; `path` only
    /// names the source in errors.
    pub fn from_hf_value(json: &Value, path: &Path) -> Result<Self, ModelError> {
        let f = Fields { json, path };
        let model_type = f.string("model_type")?;
        let family = match model_type.as_str() {
            "llama" => Family::Llama,
            "qwen2" => Family::Qwen2,
            "gemma2" => Family::Gemma2,
            other => {
                return Err(f.bad(
                    "model_type",
                    format!("`{other}` is not supported (llama, qwen2, gemma2)"),
                ))
            }
        };
        let hidden_size = f.usize("hidden_size")?;
        let num_attention_heads = f.usize("num_attention_heads")?;
        if num_attention_heads == 0 || hidden_size == 0 {
            return Err(f.bad("num_attention_heads", "must be positive".into()));
        }
        let num_key_value_heads = f
            .opt_usize("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(f.bad(
                "num_key_value_heads",
                format!("{num_key_value_heads} does not divide num_attention_heads {num_attention_heads}"),
            ));
        }
        let head_dim = f
            .opt_usize("head_dim")?
            .unwrap_or(hidden_size / num_attention_heads);
        if head_dim % 2 != 0 {
            return Err(f.bad(
                "head_dim",
                format!("{head_dim} is odd; rotary embeddings need it even"),
            ));
        }
        if let Some(scaling) = json.get("rope_scaling").filter(|v| !v.is_null()) {
            return Err(f.bad("rope_scaling", format!("{scaling} is not supported")));
        }
        let activation_field = match family {
            Family::Gemma2 => "hidden_activation",
            _ => "hidden_act",
        };
        let expected_act: &[&str] = match family {
            Family::Gemma2 => &["gelu_pytorch_tanh"],
            _ => &["silu", "swish"],
        };
        if let Some(act) = f.opt_string(activation_field)? {
            if !expected_act.contains(&act.as_str()) {
                return Err(f.bad(
                    activation_field,
                    format!("`{act}` is not supported for {model_type}"),
                ));
            }
        }
        let gemma = family == Family::Gemma2;
        Ok(Self {
            family,
            vocab_size: f.usize("vocab_size")?,
            hidden_size,
            intermediate_size: f.usize("intermediate_size")?,
            num_hidden_layers: f.usize("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: f.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta: f.opt_f64("rope_theta")?.unwrap_or(10_000.0),
            max_position_embeddings: f.opt_usize("max_position_embeddings")?.unwrap_or(4096),
            tie_word_embeddings: f.opt_bool("tie_word_embeddings")?.unwrap_or(gemma),
            attention_bias: family == Family::Qwen2
                || f.opt_bool("attention_bias")?.unwrap_or(false),
            final_logit_softcapping: if gemma {
                f.opt_f64("final_logit_softcapping")?
            } else {
                None
            },
            attn_logit_softcapping: if gemma {
                f.opt_f64("attn_logit_softcapping")?
            } else {
                None
            },
            query_pre_attn_scalar: if gemma {
                f.opt_usize("query_pre_attn_scalar")?
            } else {
                None
            },
            sliding_window: if gemma {
                f.opt_usize("sliding_window")?
            } else {
                None
            },
            bos_token_id: f.opt_token("bos_token_id")?,
            eos_token_id: f.opt_token("eos_token_id")?,
        })
    }
}

/// Typed access to the fields of one config document, with errors naming the file and
/// the field.
struct Fields<'a> {
    json: &'a Value,
    path: &'a Path,
}

impl Fields<'_> {
    fn bad(&self, field: &str, reason: String) -> ModelError {
        ModelError::BadConfig {
            path: self.path.to_path_buf(),
            field: field.to_string(),
            reason,
        }
    }

    fn present(&self, field: &str) -> Option<&Value> {
        self.json.get(field).filter(|v| !v.is_null())
    }

    fn required<T>(&self, field: &str, v: Result<Option<T>, ModelError>) -> Result<T, ModelError> {
        v?.ok_or_else(|| self.bad(field, "missing".into()))
    }

    fn opt_usize(&self, field: &str) -> Result<Option<usize>, ModelError> {
        self.present(field)
            .map(|v| {
                v.as_u64().map(|n| n as usize).ok_or_else(|| {
                    self.bad(field, format!("expected a non-negative integer, found {v}"))
                })
            })
            .transpose()
    }

    fn usize(&self, field: &str) -> Result<usize, ModelError> {
        self.required(field, self.opt_usize(field))
    }

    fn opt_f64(&self, field: &str) -> Result<Option<f64>, ModelError> {
        self.present(field)
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| self.bad(field, format!("expected a number, found {v}")))
            })
            .transpose()
    }

    fn opt_bool(&self, field: &str) -> Result<Option<bool>, ModelError> {
        self.present(field)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| self.bad(field, format!("expected true or false, found {v}")))
            })
            .transpose()
    }

    fn opt_string(&self, field: &str) -> Result<Option<String>, ModelError> {
        self.present(field)
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.bad(field, format!("expected a string, found {v}")))
            })
            .transpose()
    }

    fn string(&self, field: &str) -> Result<String, ModelError> {
        self.required(field, self.opt_string(field))
    }

    /// Token ids may be a number or a list (several EOS ids); the first one is kept.
    fn opt_token(&self, field: &str) -> Result<Option<u32>, ModelError> {
        let Some(v) = self.present(field) else {
            return Ok(None);
        };
        let first = match v {
            Value::Array(items) => match items.first() {
                Some(first) => first,
                None => return Ok(None),
            },
            other => other,
        };
        first
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| self.bad(field, format!("expected a token id, found {v}")))
    }
}
