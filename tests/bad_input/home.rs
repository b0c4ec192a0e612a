//! Tiny model folders for the bad-input cases, written on demand. The homes themselves
//! (the tiny MovieLens fixture, prepared, the real model linked in) come from
//! `tests/support/home.rs`.

use std::fs;
use std::path::Path;

use candle_core::Device;
use r2ec::model::config::{Family, ModelConfig};
use r2ec::model::random::{random_tensors, tiny_config};
use serde_json::json;

/// A tiny Llama model folder: config.json, model.safetensors and a word-level
/// tokenizer.json; `knock_out` leaves one tensor out, `reshape` writes one with a
/// wrong shape.
pub fn tiny_hf_folder(dir: &Path, knock_out: Option<&str>, reshape: Option<&str>) {
    let cfg = tiny_config(Family::Llama);
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("config.json"), config_json(&cfg).to_string()).unwrap();
    let mut tensors = random_tensors(&cfg, 3, &Device::Cpu).unwrap();
    if let Some(k) = knock_out {
        tensors.remove(k).expect("a tensor of the tiny model");
    }
    if let Some(k) = reshape {
        let t = tensors.get_mut(k).expect("a tensor of the tiny model");
        *t = candle_core::Tensor::zeros((3, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    fs::write(
        dir.join("tokenizer.json"),
        tokenizer_json(cfg.vocab_size).to_string(),
    )
    .unwrap();
    let template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    fs::write(
        dir.join("tokenizer_config.json"),
        json!({ "chat_template": template, "eos_token": "<|im_end|>" }).to_string(),
    )
    .unwrap();
}

fn config_json(cfg: &ModelConfig) -> serde_json::Value {
    json!({
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "max_position_embeddings": cfg.max_position_embeddings,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
    })
}

/// A word-level tokenizer over `n` tokens (`<|im_start|>`, `<|im_end|>`, then `t3`…).
fn tokenizer_json(n: usize) -> serde_json::Value {
    let mut vocab = serde_json::Map::new();
    vocab.insert("<unk>".into(), json!(0));
    vocab.insert("<|im_start|>".into(), json!(1));
    vocab.insert("<|im_end|>".into(), json!(2));
    for i in 3..n {
        vocab.insert(format!("t{i}"), json!(i));
    }
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": { "type": "Whitespace" },
        "post_processor": null,
        "decoder": null,
        "model": { "type": "WordLevel", "vocab": vocab, "unk_token": "<unk>" }
    })
}
