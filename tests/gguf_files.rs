//! `load_gguf` on tiny GGUF files written here (seeded random weights): tensor naming
//! for llama, qwen2 and gemma2, exact un-permutation of quantized llama Q/K rows,
//! Gemma2's norm offset, and clear errors for wrong magic, truncation, missing tensors,
//! wrong shapes and unsupported architectures.

use std::fs::File;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use r2ec::model::config::Family;
use r2ec::model::gguf::{load_gguf, GgufError};
use r2ec::model::weights::WeightTensor;
use rand::{rngs::StdRng, Rng, SeedableRng};

const HIDDEN: usize = 32;
const HEADS: usize = 2;
const KV_HEADS: usize = 1;
const HEAD_DIM: usize = 16;
const FFN: usize = 64;
const TOKENS: [&str; 6] = ["<|im_start|>", "<|im_end|>", "a", "b", "ab", "Ġ"];

/// What the tiny file should hold; tests knock pieces out to provoke errors.
struct Spec {
    arch: &'static str,
    skip: Option<&'static str>,
    bad_shape: Option<&'static str>,
}

impl Spec {
    fn new(arch: &'static str) -> Self {
        Self {
            arch,
            skip: None,
            bad_shape: None,
        }
    }
}

fn random(rng: &mut StdRng, rows: usize, cols: usize) -> Tensor {
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
}

/// llama.cpp's converter permutation (HF half-split rows to interleaved rows).
fn permute(w: &Tensor, heads: usize) -> Tensor {
    let (rows, cols) = w.dims2().unwrap();
    w.reshape((heads, 2, rows / heads / 2, cols))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .reshape((rows, cols))
        .unwrap()
}

/// The HF-layout matrices written (before permutation), by GGUF name.
type Written = Vec<(String, Tensor)>;

fn write_model(path: &Path, spec: &Spec) -> Written {
    let mut rng = StdRng::seed_from_u64(11);
    let strings =
        |v: &[&str]| Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect());
    let a = spec.arch;
    let meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(a.into())),
        (format!("{a}.block_count"), Value::U32(1)),
        (format!("{a}.context_length"), Value::U32(256)),
        (format!("{a}.embedding_length"), Value::U32(HIDDEN as u32)),
        (format!("{a}.feed_forward_length"), Value::U32(FFN as u32)),
        (
            format!("{a}.attention.head_count"),
            Value::U32(HEADS as u32),
        ),
        (
            format!("{a}.attention.head_count_kv"),
            Value::U32(KV_HEADS as u32),
        ),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            Value::F32(1e-6),
        ),
        (format!("{a}.rope.freq_base"), Value::F32(10000.0)),
        (format!("{a}.attn_logit_softcapping"), Value::F32(50.0)),
        (format!("{a}.final_logit_softcapping"), Value::F32(30.0)),
        (format!("{a}.attention.sliding_window"), Value::U32(4)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
        ("tokenizer.ggml.tokens".into(), strings(&TOKENS)),
        ("tokenizer.ggml.merges".into(), strings(&["a b"])),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array([3, 3, 1, 1, 1, 1].map(Value::I32).to_vec()),
        ),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(1)),
        (
            "tokenizer.chat_template".into(),
            Value::String("{{'<|im_start|>' + m['role'] + '\\n'}}".into()),
        ),
    ];

    let (q, kv) = (HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM);
    let mut mats: Vec<(&str, usize, usize)> = vec![
        ("token_embd.weight", TOKENS.len(), HIDDEN),
        ("blk.0.attn_q.weight", q, HIDDEN),
        ("blk.0.attn_k.weight", kv, HIDDEN),
        ("blk.0.attn_v.weight", kv, HIDDEN),
        ("blk.0.attn_output.weight", HIDDEN, q),
        ("blk.0.ffn_gate.weight", FFN, HIDDEN),
        ("blk.0.ffn_up.weight", FFN, HIDDEN),
        ("blk.0.ffn_down.weight", HIDDEN, FFN),
        ("blk.0.attn_norm.weight", 1, HIDDEN),
        ("blk.0.ffn_norm.weight", 1, HIDDEN),
        ("output_norm.weight", 1, HIDDEN),
    ];
    if a == "qwen2" {
        mats.extend([("blk.0.attn_q.bias", 1, q), ("blk.0.attn_k.bias", 1, kv)]);
        mats.extend([
            ("blk.0.attn_v.bias", 1, kv),
            ("output.weight", TOKENS.len(), HIDDEN),
        ]);
    }
    if a == "gemma2" {
        mats.extend([("blk.0.post_attention_norm.weight", 1, HIDDEN)]);
        mats.extend([("blk.0.post_ffw_norm.weight", 1, HIDDEN)]);
    }

    let mut written = Vec::new();
    let mut tensors = Vec::new();
    for (name, rows, cols) in mats {
        if spec.skip == Some(name) {
            continue;
        }
        let rows = if spec.bad_shape == Some(name) {
            rows + 1
        } else {
            rows
        };
        let w = random(&mut rng, rows, cols);
        let vector = name.contains("norm") || name.ends_with(".bias");
        let stored = match (a, name) {
            ("llama", "blk.0.attn_q.weight") => permute(&w, HEADS),
            ("llama", "blk.0.attn_k.weight") => permute(&w, KV_HEADS),
            _ => w.clone(),
        };
        let q = if vector {
            QTensor::quantize(&stored.flatten_all().unwrap(), GgmlDType::F32).unwrap()
        } else {
            QTensor::quantize(&stored, GgmlDType::Q8_0).unwrap()
        };
        written.push((name.to_string(), w));
        tensors.push((name, q));
    }
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (*k, v)).collect();
    let mut f = File::create(path).unwrap();
    gguf_file::write(&mut f, &meta_refs, &tensor_refs).unwrap();
    written
}

fn dense(w: &WeightTensor) -> Tensor {
    match w {
        WeightTensor::Quantized(q) => q.dequantize(&Device::Cpu).unwrap(),
        WeightTensor::Dense(t) => t.clone(),
    }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

fn q8(w: &Tensor) -> Tensor {
    QTensor::quantize(w, GgmlDType::Q8_0)
        .unwrap()
        .dequantize(&Device::Cpu)
        .unwrap()
}

#[test]
fn llama_rows_are_unpermuted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-llama.gguf");
    let written = write_model(&path, &Spec::new("llama"));
    let m = load_gguf(&path, &Device::Cpu).unwrap();
    assert_eq!(m.config.family, Family::Llama);
    assert!(m.config.tie_word_embeddings && !m.config.attention_bias);
    assert_eq!(
        (
            m.config.head_dim,
            m.config.num_key_value_heads,
            m.config.vocab_size
        ),
        (16, 1, 6)
    );
    assert_eq!(m.config.sliding_window, None);
    for (gguf, hf) in [
        ("attn_q", "q_proj"),
        ("attn_k", "k_proj"),
        ("attn_v", "v_proj"),
    ] {
        let want = &written
            .iter()
            .find(|(n, _)| n == &format!("blk.0.{gguf}.weight"))
            .unwrap()
            .1;
        let got = dense(&m.weights.tensors[&format!("model.layers.0.self_attn.{hf}.weight")]);
        // Quantizing rows then moving them equals moving rows then quantizing: exact.
        assert_eq!(max_diff(&got, &q8(want)), 0.0, "{hf}");
    }
    assert_eq!(m.weights.tensors.len(), 9 + 2);
    assert_eq!(
        m.tokenizer.encode("<|im_start|>ab a<|im_end|>").unwrap(),
        [0, 4, 5, 2, 1]
    );
}

#[test]
fn qwen2_keeps_rows_and_loads_biases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-qwen2.gguf");
    let written = write_model(&path, &Spec::new("qwen2"));
    let m = load_gguf(&path, &Device::Cpu).unwrap();
    assert!(m.config.attention_bias && !m.config.tie_word_embeddings);
    let want = &written
        .iter()
        .find(|(n, _)| n == "blk.0.attn_q.weight")
        .unwrap()
        .1;
    let got = dense(&m.weights.tensors["model.layers.0.self_attn.q_proj.weight"]);
    assert_eq!(max_diff(&got, &q8(want)), 0.0);
    let bias = &written
        .iter()
        .find(|(n, _)| n == "blk.0.attn_k.bias")
        .unwrap()
        .1;
    let got = dense(&m.weights.tensors["model.layers.0.self_attn.k_proj.bias"]);
    assert_eq!(max_diff(&got, &bias.flatten_all().unwrap()), 0.0);
    assert!(matches!(
        m.weights.tensors["lm_head.weight"],
        WeightTensor::Quantized(_)
    ));
}

#[test]
fn gemma2_norms_are_named_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-gemma2.gguf");
    let written = write_model(&path, &Spec::new("gemma2"));
    let m = load_gguf(&path, &Device::Cpu).unwrap();
    let c = &m.config;
    assert_eq!(c.family, Family::Gemma2);
    assert_eq!(
        (c.attn_logit_softcapping, c.final_logit_softcapping),
        (Some(50.0), Some(30.0))
    );
    assert_eq!(
        (c.sliding_window, c.query_pre_attn_scalar),
        (Some(4), Some(HEAD_DIM))
    );
    for (gguf, hf) in [
        ("attn_norm", "input_layernorm"),
        ("post_attention_norm", "post_attention_layernorm"),
        ("ffn_norm", "pre_feedforward_layernorm"),
        ("post_ffw_norm", "post_feedforward_layernorm"),
    ] {
        let stored = &written
            .iter()
            .find(|(n, _)| n == &format!("blk.0.{gguf}.weight"))
            .unwrap()
            .1;
        let got = dense(&m.weights.tensors[&format!("model.layers.0.{hf}.weight")]);
        let want = stored.flatten_all().unwrap().affine(1.0, -1.0).unwrap();
        assert!(max_diff(&got, &want) < 1e-6, "{gguf} -> {hf}");
    }
}

fn load_err(spec: &Spec, damage: impl FnOnce(&Path)) -> (String, GgufError) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    write_model(&path, spec);
    damage(&path);
    let err = load_gguf(&path, &Device::Cpu).unwrap_err();
    let msg = err.to_string();
    eprintln!("error as the user reads it: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "no file name in: {msg}"
    );
    (msg, err)
}

#[test]
fn wrong_magic_is_named() {
    let (msg, err) = load_err(&Spec::new("llama"), |p| {
        std::fs::write(p, b"PK\x03\x04zip").unwrap()
    });
    assert!(matches!(err, GgufError::BadMagic { .. }), "{msg}");
    assert!(msg.contains("not a GGUF file"), "{msg}");
}

#[test]
fn truncated_file_names_the_tensor() {
    let cut = |keep: u64| {
        move |p: &Path| {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(keep)
                .unwrap()
        }
    };
    let len = {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        write_model(&p, &Spec::new("llama"));
        std::fs::metadata(&p).unwrap().len()
    };
    let (msg, err) = load_err(&Spec::new("llama"), cut(len - 100));
    assert!(matches!(err, GgufError::Truncated { .. }), "{msg}");
    assert!(msg.contains("truncated file: tensor `"), "{msg}");
    let (msg, err) = load_err(&Spec::new("llama"), cut(40));
    assert!(matches!(err, GgufError::Header { .. }), "{msg}");
}

#[test]
fn missing_tensor_is_named() {
    let spec = Spec {
        skip: Some("blk.0.ffn_down.weight"),
        ..Spec::new("llama")
    };
    let (msg, _) = load_err(&spec, |_| {});
    assert!(msg.contains("`blk.0.ffn_down.weight`"), "{msg}");
    assert!(msg.contains("model.layers.0.mlp.down_proj.weight"), "{msg}");
}

#[test]
fn wrong_shape_is_named() {
    let spec = Spec {
        bad_shape: Some("blk.0.ffn_up.weight"),
        ..Spec::new("llama")
    };
    let (msg, err) = load_err(&spec, |_| {});
    assert!(matches!(err, GgufError::ShapeMismatch { .. }), "{msg}");
    assert!(
        msg.contains("`blk.0.ffn_up.weight` has shape [65, 32], expected [64, 32]"),
        "{msg}"
    );
}

#[test]
fn unsupported_architecture_is_named() {
    let (msg, _) = load_err(&Spec::new("falcon"), |_| {});
    assert!(
        msg.contains("general.architecture") && msg.contains("falcon"),
        "{msg}"
    );
}
