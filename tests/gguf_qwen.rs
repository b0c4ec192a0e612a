//! The real Qwen2.5-Coder-0.5B-Instruct GGUF (qwen2 architecture, Q4_K_M mix), when it
//! has been fetched into assets/models/: config values, biases, untied head, Q/K rows
//! left as stored, and the tokenizer's special tokens and digit splitting.

mod support;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use r2ec::model::chat_template::ChatTemplate;
use r2ec::model::config::Family;
use r2ec::model::gguf::{load_gguf, GgufFile};
use r2ec::model::tokenizer::Tokenizer;
use r2ec::model::weights::WeightTensor;

const FILE: &str = "assets/models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf";

fn model_path() -> Option<PathBuf> {
    support::model::or_skip(FILE, "optional model")
}

#[test]
fn tokenizer_parses_special_tokens_and_round_trips() {
    let Some(path) = model_path() else { return };
    let file = GgufFile::open(&path).unwrap();
    let tk = Tokenizer::from_gguf_metadata(&file.metadata()).unwrap();
    let (start, end) = (
        tk.token_id("<|im_start|>").unwrap(),
        tk.token_id("<|im_end|>").unwrap(),
    );
    assert_eq!((start, end), (151644, 151645));
    assert_eq!(tk.eos(), Some(151645));
    let text = "<|im_start|>user\nhello world 12345<|im_end|>";
    let ids = tk.encode(text).unwrap();
    assert_eq!(ids.first(), Some(&start));
    assert_eq!(ids.last(), Some(&end));
    assert_eq!(ids.iter().filter(|&&id| id >= 151643).count(), 2);
    // "user", "\n", "hello", " world", " ", then one id per digit.
    let pieces: Vec<String> = ids[1..ids.len() - 1]
        .iter()
        .map(|&i| tk.decode(&[i]).unwrap())
        .collect();
    assert_eq!(
        pieces,
        ["user", "\n", "hello", " world", " ", "1", "2", "3", "4", "5"]
    );
    assert_eq!(tk.decode(&ids).unwrap(), text);
    assert_eq!(tk.decode_text(&ids).unwrap(), "user\nhello world 12345");
    // User-defined tokens stay whole too.
    assert_eq!(
        tk.encode("<tool_call>").unwrap(),
        [tk.token_id("<tool_call>").unwrap()]
    );
    let unicode = "naïve café — 東京 🎬\r\n\tx";
    assert_eq!(tk.decode(&tk.encode(unicode).unwrap()).unwrap(), unicode);
}

#[test]
fn config_and_weights() {
    let Some(path) = model_path() else { return };
    let t = Instant::now();
    let m = load_gguf(&path, &Device::Cpu).unwrap();
    eprintln!("load_gguf({}) took {:?}", path.display(), t.elapsed());
    let c = &m.config;
    assert_eq!(c.family, Family::Qwen2);
    assert_eq!(
        (
            c.num_hidden_layers,
            c.hidden_size,
            c.num_attention_heads,
            c.num_key_value_heads
        ),
        (24, 896, 14, 2)
    );
    assert_eq!(
        (c.intermediate_size, c.vocab_size, c.head_dim),
        (4864, 151936, 64)
    );
    assert!(c.attention_bias && !c.tie_word_embeddings);
    assert_eq!(c.rope_theta, 1e6);
    assert_eq!(m.chat_template, ChatTemplate::qwen25());
    assert_eq!(m.weights.tensors.len(), 24 * 12 + 3);
    assert!(matches!(
        m.weights.tensors["lm_head.weight"],
        WeightTensor::Quantized(_)
    ));
    let WeightTensor::Dense(bias) = &m.weights.tensors["model.layers.0.self_attn.q_proj.bias"]
    else {
        panic!("biases should be dense")
    };
    assert_eq!(bias.dims(), &[896]);
    // Qwen2 GGUFs are not permuted: q_proj is the stored tensor, untouched.
    let WeightTensor::Quantized(q) = &m.weights.tensors["model.layers.0.self_attn.q_proj.weight"]
    else {
        panic!("q_proj should stay quantized")
    };
    let mut file = GgufFile::open(&path).unwrap();
    let stored = file
        .read_qtensor("blk.0.attn_q.weight", &Device::Cpu)
        .unwrap();
    assert_eq!(q.data().unwrap(), stored.data().unwrap());
}
