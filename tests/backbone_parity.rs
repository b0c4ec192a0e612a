//! Our backbone against candle-transformers' own llama, qwen2 and gemma2 models on tiny
//! seeded random weights written as a Hugging Face folder: same logits, after the
//! prompt and after decode steps with the cache. Also the loader's errors.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{gemma2, llama, qwen2};
use r2ec::model::backbone::{Backbone, KvCache, LoadOptions};
use r2ec::model::config::{Family, ModelConfig};
use r2ec::model::error::ModelError;
use r2ec::model::hf::{load_hf_folder, HfFolder};
use r2ec::model::random::{random_tensors, tiny_config};
use serde_json::json;

const PROMPT: [u32; 11] = [5, 17, 3, 42, 8, 8, 60, 1, 33, 12, 7];
const DECODE: [u32; 3] = [9, 21, 40];

fn config_json(cfg: &ModelConfig) -> serde_json::Value {
    let mut j = json!({
        "model_type": match cfg.family { Family::Llama => "llama", Family::Qwen2 => "qwen2", Family::Gemma2 => "gemma2" },
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
        "eos_token_id": [2, 3],
    });
    let extra = match cfg.family {
        Family::Llama => json!({ "hidden_act": "silu", "rope_scaling": null }),
        // candle's qwen2 always applies its window; make it wider than any test sequence
        Family::Qwen2 => {
            json!({ "hidden_act": "silu", "sliding_window": 4096, "max_window_layers": 0, "use_sliding_window": false })
        }
        Family::Gemma2 => json!({
            "hidden_activation": "gelu_pytorch_tanh", "attention_bias": false,
            "final_logit_softcapping": cfg.final_logit_softcapping,
            "attn_logit_softcapping": cfg.attn_logit_softcapping,
            "query_pre_attn_scalar": cfg.query_pre_attn_scalar,
            "sliding_window": cfg.sliding_window,
        }),
    };
    for (k, v) in extra.as_object().expect("object") {
        j[k] = v.clone();
    }
    j
}

/// Writes `cfg` and seeded weights as a model folder, split over `shards` files (with
/// an index) when more than one.
fn write_folder(dir: &Path, cfg: &ModelConfig, seed: u64, shards: usize) -> serde_json::Value {
    let tensors = random_tensors(cfg, seed, &Device::Cpu).expect("random tensors");
    let json = config_json(cfg);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&json).expect("json"),
    )
    .expect("write");
    if shards == 1 {
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).expect("save");
        return json;
    }
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut weight_map = serde_json::Map::new();
    for s in 0..shards {
        let file = format!("model-{:05}-of-{shards:05}.safetensors", s + 1);
        let part: HashMap<String, Tensor> = names
            .iter()
            .skip(s)
            .step_by(shards)
            .map(|n| ((*n).clone(), tensors[*n].clone()))
            .collect();
        for n in part.keys() {
            weight_map.insert(n.clone(), json!(file));
        }
        candle_core::safetensors::save(&part, dir.join(&file)).expect("save shard");
    }
    let index = json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string())
        .expect("write index");
    json
}

/// The reference model's last-position logits for one call (`ids` then `offset`).
trait Reference {
    fn step(&mut self, ids: &[u32], offset: usize) -> Tensor;
}

struct Llama(llama::Llama, llama::Cache);
impl Reference for Llama {
    fn step(&mut self, ids: &[u32], offset: usize) -> Tensor {
        let x = Tensor::new(ids, &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .expect("ids");
        self.0
            .forward(&x, offset, &mut self.1)
            .expect("llama forward")
            .squeeze(0)
            .expect("squeeze")
    }
}
struct Qwen2(qwen2::ModelForCausalLM);
impl Reference for Qwen2 {
    fn step(&mut self, ids: &[u32], offset: usize) -> Tensor {
        let x = Tensor::new(ids, &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .expect("ids");
        self.0
            .forward(&x, offset)
            .expect("qwen2 forward")
            .flatten_all()
            .expect("flatten")
    }
}
struct Gemma2(gemma2::Model);
impl Reference for Gemma2 {
    fn step(&mut self, ids: &[u32], offset: usize) -> Tensor {
        let x = Tensor::new(ids, &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .expect("ids");
        self.0
            .forward(&x, offset)
            .expect("gemma2 forward")
            .flatten_all()
            .expect("flatten")
    }
}

fn reference(
    dir: &Path,
    cfg: &ModelConfig,
    json: &serde_json::Value,
    files: &[std::path::PathBuf],
) -> Box<dyn Reference> {
    let dev = Device::Cpu;
    // Read into memory (no memory map, so no `unsafe`): the files are tiny.
    let mut tensors = HashMap::new();
    for f in files {
        tensors.extend(candle_core::safetensors::load(f, &dev).expect("read safetensors"));
    }
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
    let text = json.to_string();
    let _ = dir;
    match cfg.family {
        Family::Llama => {
            let c: llama::LlamaConfig = serde_json::from_str(&text).expect("llama config");
            let c = c.into_config(false);
            let cache = llama::Cache::new(true, DType::F32, &c, &dev).expect("cache");
            Box::new(Llama(llama::Llama::load(vb, &c).expect("llama"), cache))
        }
        Family::Qwen2 => {
            let c: qwen2::Config = serde_json::from_str(&text).expect("qwen2 config");
            Box::new(Qwen2(qwen2::ModelForCausalLM::new(&c, vb).expect("qwen2")))
        }
        Family::Gemma2 => {
            let c: gemma2::Config = serde_json::from_str(&text).expect("gemma2 config");
            Box::new(Gemma2(gemma2::Model::new(false, &c, vb).expect("gemma2")))
        }
    }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let d = (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0));
    d.and_then(|d| d.to_scalar::<f32>()).expect("diff")
}

/// Loads the folder both ways and compares logits after the prompt and, when
/// `decode`, after each decode step.
fn check_parity(cfg: &ModelConfig, seed: u64, shards: usize, decode: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = write_folder(dir.path(), cfg, seed, shards);
    let (folder, loaded_cfg, weights) =
        load_hf_folder(dir.path(), &Device::Cpu).expect("load folder");
    assert_eq!(&loaded_cfg, cfg);
    assert_eq!(folder.weight_files.len(), shards);
    let ours = Backbone::new(&loaded_cfg, &weights, &LoadOptions::default()).expect("backbone");
    let mut theirs = reference(dir.path(), cfg, &json, &folder.weight_files);

    let mut cache = KvCache::new(&loaded_cfg, 1);
    let ids = Tensor::new(&PROMPT, &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .expect("ids");
    let hidden = ours
        .forward_hidden(&ids, &mut cache, None)
        .expect("forward");
    let last = hidden.narrow(1, PROMPT.len() - 1, 1).expect("last");
    let ours_logits = ours
        .logits(&last)
        .expect("logits")
        .flatten_all()
        .expect("flatten");
    let theirs_logits = theirs.step(&PROMPT, 0);
    let diff = max_diff(&ours_logits, &theirs_logits);
    assert!(
        diff < 1e-4,
        "{:?} prompt logits differ by {diff}",
        cfg.family
    );
    if !decode {
        return;
    }
    for (i, &tok) in DECODE.iter().enumerate() {
        let ids = Tensor::new(&[[tok]], &Device::Cpu).expect("ids");
        let h = ours.forward_hidden(&ids, &mut cache, None).expect("decode");
        let ours_logits = ours
            .logits(&h)
            .expect("logits")
            .flatten_all()
            .expect("flatten");
        let theirs_logits = theirs.step(&[tok], PROMPT.len() + i);
        let diff = max_diff(&ours_logits, &theirs_logits);
        assert!(
            diff < 1e-4,
            "{:?} decode step {i} logits differ by {diff}",
            cfg.family
        );
    }
}

#[test]
fn llama_with_gqa_untied_matches_candle() {
    let mut cfg = tiny_config(Family::Llama);
    cfg.tie_word_embeddings = false;
    check_parity(&cfg, 1, 1, true);
}

#[test]
fn llama_with_gqa_tied_matches_candle() {
    let mut cfg = tiny_config(Family::Llama);
    cfg.tie_word_embeddings = true;
    cfg.num_key_value_heads = 1;
    check_parity(&cfg, 2, 1, true);
}

#[test]
fn qwen2_with_biases_from_shards_matches_candle() {
    let cfg = tiny_config(Family::Qwen2);
    assert!(cfg.attention_bias);
    check_parity(&cfg, 3, 3, true);
}

#[test]
fn gemma2_softcapped_global_matches_candle() {
    // A window wider than every sequence here: all layers behave alike in both models.
    let mut cfg = tiny_config(Family::Gemma2);
    cfg.sliding_window = Some(64);
    cfg.num_hidden_layers = 3;
    check_parity(&cfg, 4, 1, true);
}

#[test]
fn gemma2_sliding_window_matches_candle() {
    // candle's gemma2 applies its window to every layer and lets a token see `window + 1`
    // positions; transformers (and this crate) window only the even layers and see
    // `window` positions. One layer (layer 0, windowed) and a window one wider here
    // compare the same masks. candle drops the window at decode, so the prompt only.
    let mut cfg = tiny_config(Family::Gemma2);
    cfg.num_hidden_layers = 1;
    let window = 4;
    cfg.sliding_window = Some(window + 1);
    assert!(window + 1 < PROMPT.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut json = write_folder(dir.path(), &cfg, 5, 1);
    let (folder, loaded, weights) = load_hf_folder(dir.path(), &Device::Cpu).expect("load");
    let ours = Backbone::new(&loaded, &weights, &LoadOptions::default()).expect("backbone");
    json["sliding_window"] = json!(window);
    let mut theirs = reference(dir.path(), &cfg, &json, &folder.weight_files);
    let ids = Tensor::new(&PROMPT, &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .expect("ids");
    let mut cache = KvCache::new(&loaded, 1);
    let h = ours
        .forward_hidden(&ids, &mut cache, None)
        .expect("forward");
    let ours_logits = ours
        .logits(&h.narrow(1, PROMPT.len() - 1, 1).expect("last"))
        .expect("logits");
    let diff = max_diff(
        &ours_logits.flatten_all().expect("flat"),
        &theirs.step(&PROMPT, 0),
    );
    assert!(diff < 1e-4, "sliding-window logits differ by {diff}");
    // and the window matters: without it the logits change
    let mut global = loaded.clone();
    global.sliding_window = None;
    let unwindowed = Backbone::new(&global, &weights, &LoadOptions::default()).expect("backbone");
    let mut cache = KvCache::new(&global, 1);
    let h = unwindowed
        .forward_hidden(&ids, &mut cache, None)
        .expect("forward");
    let g = unwindowed
        .logits(&h.narrow(1, PROMPT.len() - 1, 1).expect("last"))
        .expect("logits");
    assert!(max_diff(&g, &ours_logits) > 1e-3);
}

#[test]
fn missing_config_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = HfFolder::open(dir.path()).expect_err("no config.json");
    assert!(matches!(err, ModelError::MissingFile { .. }));
    assert!(err.to_string().contains("config.json"), "{err}");
}

#[test]
fn missing_weights_and_bad_fields_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = tiny_config(Family::Llama);
    let mut json = config_json(&cfg);
    std::fs::write(dir.path().join("config.json"), json.to_string()).expect("write");
    let err = HfFolder::open(dir.path()).expect_err("no weights");
    assert!(err.to_string().contains("safetensors"), "{err}");

    json["hidden_size"] = json!("wide");
    std::fs::write(dir.path().join("config.json"), json.to_string()).expect("write");
    let err = ModelConfig::from_hf_json(&dir.path().join("config.json")).expect_err("bad field");
    let msg = err.to_string();
    assert!(
        msg.contains("config.json") && msg.contains("hidden_size"),
        "{msg}"
    );

    json.as_object_mut().expect("object").remove("hidden_size");
    std::fs::write(dir.path().join("config.json"), json.to_string()).expect("write");
    let err =
        ModelConfig::from_hf_json(&dir.path().join("config.json")).expect_err("missing field");
    assert!(err.to_string().contains("`hidden_size`: missing"), "{err}");

    std::fs::write(
        dir.path().join("config.json"),
        "{\n  \"model_type\": \"llama\",\n  oops\n}",
    )
    .expect("write");
    let err = ModelConfig::from_hf_json(&dir.path().join("config.json")).expect_err("syntax");
    assert!(err.to_string().contains("config.json:3:"), "{err}");
}

#[test]
fn missing_and_misshapen_tensors_are_named() {
    let cfg = tiny_config(Family::Qwen2);
    let dir = tempfile::tempdir().expect("tempdir");
    write_folder(dir.path(), &cfg, 6, 1);
    let (_, loaded, mut weights) = load_hf_folder(dir.path(), &Device::Cpu).expect("load");

    let name = "model.layers.1.self_attn.k_proj.bias";
    let removed = weights.tensors.remove(name).expect("present");
    let err =
        Backbone::new(&loaded, &weights, &LoadOptions::default()).expect_err("missing tensor");
    assert!(
        matches!(&err, ModelError::MissingTensor { name: n } if n == name),
        "{err}"
    );
    assert!(err.to_string().contains(name));
    weights.tensors.insert(name.to_string(), removed);

    let name = "model.layers.0.mlp.up_proj.weight";
    let wrong = Tensor::zeros((64, 16), DType::F32, &Device::Cpu).expect("zeros");
    weights.tensors.insert(
        name.to_string(),
        r2ec::model::weights::WeightTensor::Dense(wrong),
    );
    let err = Backbone::new(&loaded, &weights, &LoadOptions::default()).expect_err("wrong shape");
    let msg = err.to_string();
    assert!(
        msg.contains(name) && msg.contains("[64, 16]") && msg.contains("[64, 32]"),
        "{msg}"
    );
}
