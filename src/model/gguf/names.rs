//! Which tensors a GGUF file must hold for a config, under their GGUF names, with the
//! Hugging Face name each becomes and the shape it must have (rows, cols as in HF's
//! `[out_features, in_features]`). Name pairs follow llama.cpp's
//! `gguf-py/gguf/tensor_mapping.py`; Gemma2's four norms map to HF's `input_layernorm`,
//! `post_attention_layernorm`, `pre_feedforward_layernorm`, `post_feedforward_layernorm`.

use crate::model::config::{Family, ModelConfig};

/// What a tensor is for, which decides how it is stored after loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    /// Embedding or projection matrix: kept quantized.
    Matrix,
    /// A projection bias: dense f32.
    Bias,
    /// An RMSNorm weight: dense f32.
    Norm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTensor {
    pub gguf_name: String,
    pub hf_name: String,
    pub shape: Vec<usize>,
    pub role: TensorRole,
    /// For llama Q/K rows (weight and bias): the number of heads whose rows llama.cpp
    /// permuted into interleaved rotary order.
    pub rotary_heads: Option<usize>,
}

/// A size in a per-layer tensor's shape.
#[derive(Clone, Copy)]
enum Dim {
    Hidden,
    QRows,
    KvRows,
    Ffn,
}

/// Whose heads a tensor's rows are split into, for the rotary permutation.
#[derive(Clone, Copy, PartialEq)]
enum Rotary {
    Plain,
    QHeads,
    KvHeads,
}

/// One per-layer tensor: GGUF name after `blk.N.`, HF name after `model.layers.N.`.
type LayerTensor = (
    &'static str,
    &'static str,
    &'static [Dim],
    TensorRole,
    Rotary,
);

use Dim::{Ffn, Hidden, KvRows, QRows};
use Rotary::{KvHeads, Plain, QHeads};
use TensorRole::{Bias, Matrix, Norm};

const ATTENTION: &[LayerTensor] = &[
    (
        "attn_norm.weight",
        "input_layernorm.weight",
        &[Hidden],
        Norm,
        Plain,
    ),
    (
        "attn_q.weight",
        "self_attn.q_proj.weight",
        &[QRows, Hidden],
        Matrix,
        QHeads,
    ),
    (
        "attn_k.weight",
        "self_attn.k_proj.weight",
        &[KvRows, Hidden],
        Matrix,
        KvHeads,
    ),
    (
        "attn_v.weight",
        "self_attn.v_proj.weight",
        &[KvRows, Hidden],
        Matrix,
        Plain,
    ),
    (
        "attn_output.weight",
        "self_attn.o_proj.weight",
        &[Hidden, QRows],
        Matrix,
        Plain,
    ),
];
const ATTENTION_BIAS: &[LayerTensor] = &[
    (
        "attn_q.bias",
        "self_attn.q_proj.bias",
        &[QRows],
        Bias,
        QHeads,
    ),
    (
        "attn_k.bias",
        "self_attn.k_proj.bias",
        &[KvRows],
        Bias,
        KvHeads,
    ),
    (
        "attn_v.bias",
        "self_attn.v_proj.bias",
        &[KvRows],
        Bias,
        Plain,
    ),
];
const LLAMA_NORMS: &[LayerTensor] = &[(
    "ffn_norm.weight",
    "post_attention_layernorm.weight",
    &[Hidden],
    Norm,
    Plain,
)];
const GEMMA2_NORMS: &[LayerTensor] = &[
    (
        "post_attention_norm.weight",
        "post_attention_layernorm.weight",
        &[Hidden],
        Norm,
        Plain,
    ),
    (
        "ffn_norm.weight",
        "pre_feedforward_layernorm.weight",
        &[Hidden],
        Norm,
        Plain,
    ),
    (
        "post_ffw_norm.weight",
        "post_feedforward_layernorm.weight",
        &[Hidden],
        Norm,
        Plain,
    ),
];
const MLP: &[LayerTensor] = &[
    (
        "ffn_gate.weight",
        "mlp.gate_proj.weight",
        &[Ffn, Hidden],
        Matrix,
        Plain,
    ),
    (
        "ffn_up.weight",
        "mlp.up_proj.weight",
        &[Ffn, Hidden],
        Matrix,
        Plain,
    ),
    (
        "ffn_down.weight",
        "mlp.down_proj.weight",
        &[Hidden, Ffn],
        Matrix,
        Plain,
    ),
];

/// The tensors to load, in file-independent order: embedding, layers, final norm, head.
pub fn expected_tensors(cfg: &ModelConfig) -> Vec<ExpectedTensor> {
    let size = |d: &Dim| match d {
        Hidden => cfg.hidden_size,
        QRows => cfg.num_attention_heads * cfg.head_dim,
        KvRows => cfg.num_key_value_heads * cfg.head_dim,
        Ffn => cfg.intermediate_size,
    };
    // Only llama.cpp's LlamaModel converter permutes Q/K; Qwen2 and Gemma2 keep HF order.
    let permuted = cfg.family == Family::Llama;
    let norms = if cfg.family == Family::Gemma2 {
        GEMMA2_NORMS
    } else {
        LLAMA_NORMS
    };
    let bias: &[LayerTensor] = if cfg.attention_bias {
        ATTENTION_BIAS
    } else {
        &[]
    };

    let embedding = [cfg.vocab_size, cfg.hidden_size];
    let mut out = vec![entry(
        "token_embd.weight",
        "model.embed_tokens.weight",
        &embedding,
        Matrix,
    )];
    for l in 0..cfg.num_hidden_layers {
        for (gguf, hf, dims, role, rotary) in [ATTENTION, bias, norms, MLP].into_iter().flatten() {
            let shape: Vec<usize> = dims.iter().map(size).collect();
            let (gguf, hf) = (format!("blk.{l}.{gguf}"), format!("model.layers.{l}.{hf}"));
            let mut e = entry(&gguf, &hf, &shape, *role);
            e.rotary_heads = match rotary {
                _ if !permuted => None,
                Plain => None,
                QHeads => Some(cfg.num_attention_heads),
                KvHeads => Some(cfg.num_key_value_heads),
            };
            out.push(e);
        }
    }
    out.push(entry(
        "output_norm.weight",
        "model.norm.weight",
        &[cfg.hidden_size],
        Norm,
    ));
    if !cfg.tie_word_embeddings {
        out.push(entry("output.weight", "lm_head.weight", &embedding, Matrix));
    }
    out
}

fn entry(gguf: &str, hf: &str, shape: &[usize], role: TensorRole) -> ExpectedTensor {
    ExpectedTensor {
        gguf_name: gguf.to_string(),
        hf_name: hf.to_string(),
        shape: shape.to_vec(),
        role,
        rotary_heads: None,
    }
}
