//! Parity tests on the real SmolLM2-135M-Instruct GGUF (skipped, with a notice, where the
//! file has not been fetched into assets/models/): tokenizer ids equal llama.cpp's, config
//! values, and the Q/K un-permutation checked against candle's interleaved-rope reading.

mod support;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, IndexOp, Tensor, D};
use candle_nn::rotary_emb::{rope, rope_i};
use r2ec::model::config::Family;
use r2ec::model::gguf::{load_gguf, GgufFile, GgufModel};
use r2ec::model::tokenizer::Tokenizer;
use r2ec::model::weights::WeightTensor;
use rand::{rngs::StdRng, Rng, SeedableRng};

const FILE: &str = "assets/models/SmolLM2-135M-Instruct.Q4_1.gguf";

fn model_path() -> Option<PathBuf> {
    support::model::or_skip(FILE, "fetch the model first")
}

fn tokenizer(path: &PathBuf) -> Tokenizer {
    let file = GgufFile::open(path).unwrap();
    Tokenizer::from_gguf_metadata(&file.metadata()).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    support::fixture("llama-cpp").join(name)
}

#[test]
fn tokenizer_gives_llama_cpp_ids() {
    let Some(path) = model_path() else { return };
    let tk = tokenizer(&path);
    let text = std::fs::read_to_string(fixture("smollm2-prompt.txt")).unwrap();
    let want: Vec<u32> = std::fs::read_to_string(fixture("smollm2-prompt.ids"))
        .unwrap()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let got = tk.encode(&text).unwrap();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    assert_eq!(tk.decode(&got).unwrap(), text);
}

#[test]
fn special_tokens_and_digits() {
    let Some(path) = model_path() else { return };
    let tk = tokenizer(&path);
    assert_eq!((tk.bos(), tk.eos()), (Some(1), Some(2)));
    assert_eq!(tk.token_id("<|im_start|>"), Some(1));
    assert_eq!(tk.token_id("<|im_end|>"), Some(2));
    let ids = tk.encode("<|im_start|>user\n2049<|im_end|>").unwrap();
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    // SmolLM2 splits numbers into single digits before BPE.
    let digits: Vec<String> = ids[3..ids.len() - 1]
        .iter()
        .map(|&id| tk.decode(&[id]).unwrap())
        .collect();
    assert_eq!(digits, ["2", "0", "4", "9"]);
}

#[test]
fn unicode_round_trips_and_streams() {
    let Some(path) = model_path() else { return };
    let tk = tokenizer(&path);
    for text in [
        "Amélie (2001) — «Le Fabuleux Destin», naïve café ☕",
        "東京物語 1953 🎬🍿 Ünïcödé\n\ttabs  and   spaces ",
        "<|im_start|>assistant\n<answer>Spirited Away</answer><|im_end|>",
    ] {
        let ids = tk.encode(text).unwrap();
        assert_eq!(tk.decode(&ids).unwrap(), text);
        let mut stream = tk.stream();
        let mut streamed = String::new();
        for &id in &ids {
            if let Some(piece) = stream.next_token(id).unwrap() {
                assert!(!piece.contains(char::REPLACEMENT_CHARACTER), "{piece:?}");
                streamed.push_str(&piece);
            }
        }
        streamed.extend(stream.finish().unwrap());
        assert_eq!(streamed, tk.decode_text(&ids).unwrap());
    }
}

fn load(path: &PathBuf) -> GgufModel {
    let t = Instant::now();
    let m = load_gguf(path, &Device::Cpu).unwrap();
    eprintln!("load_gguf({}) took {:?}", path.display(), t.elapsed());
    m
}

#[test]
fn config_and_weights() {
    let Some(path) = model_path() else { return };
    let m = load(&path);
    let c = &m.config;
    assert_eq!(c.family, Family::Llama);
    assert_eq!(
        (
            c.num_hidden_layers,
            c.hidden_size,
            c.num_attention_heads,
            c.num_key_value_heads
        ),
        (30, 576, 9, 3)
    );
    assert_eq!(
        (c.intermediate_size, c.vocab_size, c.head_dim),
        (1536, 49152, 64)
    );
    assert_eq!((c.rope_theta, c.max_position_embeddings), (1e5, 8192));
    assert!((c.rms_norm_eps - 1e-5).abs() < 1e-9);
    assert!(c.tie_word_embeddings && !c.attention_bias);
    assert_eq!((c.bos_token_id, c.eos_token_id), (Some(1), Some(2)));
    assert_eq!(
        m.chat_template,
        r2ec::model::chat_template::ChatTemplate::smollm2()
    );
    // 30 layers x 9 tensors + embedding + final norm; tied, so no lm_head.
    assert_eq!(m.weights.tensors.len(), 30 * 9 + 2);
    assert!(!m.weights.tensors.contains_key("lm_head.weight"));
    match &m.weights.tensors["model.layers.0.self_attn.q_proj.weight"] {
        WeightTensor::Quantized(q) => assert_eq!(q.shape().dims(), &[576, 576]),
        WeightTensor::Dense(_) => panic!("q_proj should stay quantized"),
    }
    match &m.weights.tensors["model.norm.weight"] {
        WeightTensor::Dense(t) => assert_eq!((t.dims(), t.dtype()), (&[576usize][..], DType::F32)),
        WeightTensor::Quantized(_) => panic!("norms should be dense"),
    }
}

fn dense(w: &WeightTensor) -> Tensor {
    match w {
        WeightTensor::Quantized(q) => q.dequantize(&Device::Cpu).unwrap(),
        WeightTensor::Dense(t) => t.clone(),
    }
}

/// Project `x` [t, hidden] with `w` [heads*64, hidden] into [1, heads, t, 64].
fn heads(x: &Tensor, w: &Tensor, n_heads: usize) -> Tensor {
    let t = x.dim(0).unwrap();
    x.matmul(&w.t().unwrap())
        .unwrap()
        .reshape((1, t, n_heads, 64))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
}

/// The check: candle's quantized_llama reads the GGUF rows as stored and applies the
/// interleaved rope (pairs 2i, 2i+1); the HF backbone reads our un-permuted rows and
/// applies the half-split rope (pairs i, i+32). Per head, after gathering the interleaved
/// result's even then odd lanes, both must be the same numbers, so attention logits agree.
#[test]
fn unpermuted_qk_with_halfsplit_rope_equals_gguf_with_interleaved_rope() {
    let Some(path) = model_path() else { return };
    let m = load(&path);
    let mut file = GgufFile::open(&path).unwrap();
    let dev = Device::Cpu;
    let (t, hd, hidden) = (7usize, 64usize, 576usize);

    let mut rng = StdRng::seed_from_u64(7);
    let xs: Vec<f32> = (0..t * hidden)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let x = Tensor::from_vec(xs, (t, hidden), &dev).unwrap();
    let inv: Vec<f32> = (0..hd / 2)
        .map(|i| 1.0 / 1e5f32.powf(2.0 * i as f32 / hd as f32))
        .collect();
    let inv = Tensor::from_vec(inv, (1, hd / 2), &dev).unwrap();
    let pos = Tensor::arange(0u32, t as u32, &dev)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    let freqs = pos.reshape((t, 1)).unwrap().broadcast_mul(&inv).unwrap();
    let (cos, sin) = (freqs.cos().unwrap(), freqs.sin().unwrap());

    let mut rotated = Vec::new();
    for (gguf, hf, n) in [("attn_q", "q_proj", 9), ("attn_k", "k_proj", 3)] {
        let ours = dense(&m.weights.tensors[&format!("model.layers.0.self_attn.{hf}.weight")]);
        let stored = file
            .read_qtensor(&format!("blk.0.{gguf}.weight"), &dev)
            .unwrap();
        let stored = stored.dequantize(&dev).unwrap();
        let changed = ours.ne(&stored).unwrap().to_dtype(DType::F32).unwrap();
        assert!(
            changed.sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0,
            "{hf} rows were not moved"
        );

        let halfsplit = rope(&heads(&x, &ours, n), &cos, &sin).unwrap();
        let interleaved = rope_i(&heads(&x, &stored, n), &cos, &sin).unwrap();
        let lanes = |start: u32| Tensor::arange_step(start, hd as u32, 2, &dev).unwrap();
        let regrouped = Tensor::cat(
            &[
                interleaved.index_select(&lanes(0), D::Minus1).unwrap(),
                interleaved.index_select(&lanes(1), D::Minus1).unwrap(),
            ],
            D::Minus1,
        )
        .unwrap();
        let diff = (&halfsplit - &regrouped)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        let diff = diff.to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "{hf}: max diff {diff}");
        rotated.push((halfsplit, interleaved));
    }
    // Attention logits of head 0 against its KV head 0, both conventions.
    let logits = |q: &Tensor, k: &Tensor| {
        q.i((0, 0))
            .unwrap()
            .matmul(&k.i((0, 0)).unwrap().t().unwrap())
            .unwrap()
    };
    let a = logits(&rotated[0].0, &rotated[1].0);
    let b = logits(&rotated[0].1, &rotated[1].1);
    let diff = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-3, "attention logits differ by {diff}");
}
