//! Small seeded random models, for tests of everything built on the backbone
//! (parity, generation, LoRA, training): the tensor names and shapes of a real
//! checkpoint of each family, values drawn from a seeded generator.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::{Family, ModelConfig};
use super::weights::{WeightTensor, Weights};

/// A tiny config of `family`: 2 layers, hidden 32, 4 query / 2 key-value heads,
/// vocab 64; Gemma2 with soft-capping and a sliding window of 4.
pub fn tiny_config(family: Family) -> ModelConfig {
    let gemma = family == Family::Gemma2;
    ModelConfig {
        family,
        vocab_size: 64,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 8,
        rms_norm_eps: 1e-6,
        rope_theta: 10_000.0,
        max_position_embeddings: 256,
        tie_word_embeddings: gemma,
        attention_bias: family == Family::Qwen2,
        final_logit_softcapping: gemma.then_some(30.0),
        attn_logit_softcapping: gemma.then_some(50.0),
        query_pre_attn_scalar: gemma.then_some(8),
        sliding_window: gemma.then_some(4),
        bos_token_id: Some(1),
        eos_token_id: Some(2),
    }
}

/// Every tensor the backbone reads for `cfg`, keyed by Hugging Face name, with values
/// uniform in `[-0.25, 0.25)` (norm weights around 1, or around 0 for Gemma2's `1 + w`).
pub fn random_tensors(
    cfg: &ModelConfig,
    seed: u64,
    device: &Device,
) -> candle_core::Result<HashMap<String, Tensor>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = HashMap::new();
    let mut put = |name: String, shape: &[usize], centre: f32| -> candle_core::Result<()> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| centre + rng.random_range(-0.25f32..0.25))
            .collect();
        out.insert(name, Tensor::from_vec(data, shape, device)?);
        Ok(())
    };
    let (h, i, d) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim);
    let (q, kv) = (cfg.num_attention_heads * d, cfg.num_key_value_heads * d);
    let norm_centre = if cfg.family == Family::Gemma2 {
        0.0
    } else {
        1.0
    };
    put(
        "model.embed_tokens.weight".into(),
        &[cfg.vocab_size, h],
        0.0,
    )?;
    put("model.norm.weight".into(), &[h], norm_centre)?;
    if !cfg.tie_word_embeddings {
        put("lm_head.weight".into(), &[cfg.vocab_size, h], 0.0)?;
    }
    let mut norms = vec!["input_layernorm", "post_attention_layernorm"];
    if cfg.family == Family::Gemma2 {
        norms.extend(["pre_feedforward_layernorm", "post_feedforward_layernorm"]);
    }
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        for (name, rows, cols) in [
            ("q_proj", q, h),
            ("k_proj", kv, h),
            ("v_proj", kv, h),
            ("o_proj", h, q),
        ] {
            put(format!("{p}.self_attn.{name}.weight"), &[rows, cols], 0.0)?;
            if cfg.attention_bias && name != "o_proj" {
                put(format!("{p}.self_attn.{name}.bias"), &[rows], 0.0)?;
            }
        }
        for (name, rows, cols) in [("gate_proj", i, h), ("up_proj", i, h), ("down_proj", h, i)] {
            put(format!("{p}.mlp.{name}.weight"), &[rows, cols], 0.0)?;
        }
        for n in &norms {
            put(format!("{p}.{n}.weight"), &[h], norm_centre)?;
        }
    }
    Ok(out)
}

/// [`random_tensors`] as a dense [`Weights`] map.
pub fn random_weights(
    cfg: &ModelConfig,
    seed: u64,
    device: &Device,
) -> candle_core::Result<Weights> {
    let tensors = random_tensors(cfg, seed, device)?
        .into_iter()
        .map(|(k, v)| (k, WeightTensor::Dense(v)))
        .collect();
    Ok(Weights {
        tensors,
        device: device.clone(),
    })
}
