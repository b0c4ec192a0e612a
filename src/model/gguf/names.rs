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

/// The tensors to load, in file-independent order: embedding, layers, final norm, head.
pub fn expected_tensors(cfg: &ModelConfig) -> Vec<ExpectedTensor> {
    let h = cfg.hidden_size;
    let q_rows = cfg.num_attention_heads * cfg.head_dim;
    let kv_rows = cfg.num_key_value_heads * cfg.head_dim;
    let ffn = cfg.intermediate_size;
    // Only llama.cpp's LlamaModel converter permutes Q/K; Qwen2 and Gemma2 keep HF order.
    let permuted = cfg.family == Family::Llama;

    let mut out = vec![entry(
        "token_embd.weight",
        "model.embed_tokens.weight",
        &[cfg.vocab_size, h],
        TensorRole::Matrix,
    )];
    for l in 0..cfg.num_hidden_layers {
        let g = |part: &str, suffix: &str| format!("blk.{l}.{part}.{suffix}");
        let hf = |part: &str, suffix: &str| format!("model.layers.{l}.{part}.{suffix}");
        let mut push =
            |gp: &str, hp: &str, suffix: &str, shape: &[usize], role, heads: Option<usize>| {
                let mut e = entry(&g(gp, suffix), &hf(hp, suffix), shape, role);
                e.rotary_heads = heads.filter(|_| permuted);
                out.push(e);
            };
        use TensorRole::{Bias, Matrix, Norm};
        let nq = Some(cfg.num_attention_heads);
        let nk = Some(cfg.num_key_value_heads);
        push("attn_norm", "input_layernorm", "weight", &[h], Norm, None);
        push(
            "attn_q",
            "self_attn.q_proj",
            "weight",
            &[q_rows, h],
            Matrix,
            nq,
        );
        push(
            "attn_k",
            "self_attn.k_proj",
            "weight",
            &[kv_rows, h],
            Matrix,
            nk,
        );
        push(
            "attn_v",
            "self_attn.v_proj",
            "weight",
            &[kv_rows, h],
            Matrix,
            None,
        );
        if cfg.attention_bias {
            push("attn_q", "self_attn.q_proj", "bias", &[q_rows], Bias, nq);
            push("attn_k", "self_attn.k_proj", "bias", &[kv_rows], Bias, nk);
            push("attn_v", "self_attn.v_proj", "bias", &[kv_rows], Bias, None);
        }
        push(
            "attn_output",
            "self_attn.o_proj",
            "weight",
            &[h, q_rows],
            Matrix,
            None,
        );
        if cfg.family == Family::Gemma2 {
            push(
                "post_attention_norm",
                "post_attention_layernorm",
                "weight",
                &[h],
                Norm,
                None,
            );
            push(
                "ffn_norm",
                "pre_feedforward_layernorm",
                "weight",
                &[h],
                Norm,
                None,
            );
            push(
                "post_ffw_norm",
                "post_feedforward_layernorm",
                "weight",
                &[h],
                Norm,
                None,
            );
        } else {
            push(
                "ffn_norm",
                "post_attention_layernorm",
                "weight",
                &[h],
                Norm,
                None,
            );
        }
        push(
            "ffn_gate",
            "mlp.gate_proj",
            "weight",
            &[ffn, h],
            Matrix,
            None,
        );
        push("ffn_up", "mlp.up_proj", "weight", &[ffn, h], Matrix, None);
        push(
            "ffn_down",
            "mlp.down_proj",
            "weight",
            &[h, ffn],
            Matrix,
            None,
        );
    }
    out.push(entry(
        "output_norm.weight",
        "model.norm.weight",
        &[h],
        TensorRole::Norm,
    ));
    if !cfg.tie_word_embeddings {
        out.push(entry(
            "output.weight",
            "lm_head.weight",
            &[cfg.vocab_size, h],
            TensorRole::Matrix,
        ));
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
