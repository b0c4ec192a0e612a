//! Tokenizer and chat template from a Hugging Face model folder (a tiny byte-level BPE
//! `tokenizer.json` written here), the streaming decoder on characters split across
//! tokens, and clear errors for missing or malformed files.

use std::path::Path;

use r2ec::model::chat_template::ChatTemplate;
use r2ec::model::tokenizer::{load_hf_tokenizer, Tokenizer};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::AddedToken;

const SMOL_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";

/// Every byte as its own token (so multi-byte characters span several ids), one merge,
/// and the two ChatML markers as special tokens.
fn write_tokenizer_json(dir: &Path) {
    let mut vocab: Vocab = Vocab::new();
    vocab.insert("<|im_start|>".into(), 0);
    vocab.insert("<|im_end|>".into(), 1);
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort_unstable();
    for c in alphabet {
        let id = vocab.len() as u32;
        vocab.insert(c.to_string(), id);
    }
    let id = vocab.len() as u32;
    vocab.insert("ab".into(), id);
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, vec![("a".into(), "b".into())])
        .build()
        .unwrap();
    let mut tk = tokenizers::Tokenizer::new(bpe);
    tk.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tk.with_decoder(Some(ByteLevelDecoder::default()));
    tk.add_special_tokens([
        AddedToken::from("<|im_start|>", true),
        AddedToken::from("<|im_end|>", true),
    ])
    .unwrap();
    tk.save(dir.join("tokenizer.json"), false).unwrap();
}

fn folder(config: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_tokenizer_json(dir.path());
    if let Some(c) = config {
        std::fs::write(dir.path().join("tokenizer_config.json"), c).unwrap();
    }
    dir
}

fn config_json(template: &str) -> String {
    serde_json::json!({
        "bos_token": "<|im_start|>",
        "eos_token": {"content": "<|im_end|>", "special": true},
        "chat_template": template,
    })
    .to_string()
}

fn load(dir: &tempfile::TempDir) -> (Tokenizer, ChatTemplate) {
    load_hf_tokenizer(dir.path()).unwrap()
}

#[test]
fn loads_tokenizer_ids_and_template() {
    let dir = folder(Some(&config_json(SMOL_TEMPLATE)));
    let (tk, template) = load(&dir);
    assert_eq!(template, ChatTemplate::smollm2());
    assert_eq!((tk.bos(), tk.eos()), (Some(0), Some(1)));
    let ids = tk.encode("<|im_start|>ab<|im_end|>").unwrap();
    assert_eq!(ids, [0, tk.token_id("ab").unwrap(), 1]);
    let text = "<|im_start|>naïve 東京 🎬<|im_end|>";
    assert_eq!(tk.decode(&tk.encode(text).unwrap()).unwrap(), text);
}

#[test]
fn template_from_named_list_or_jinja_file() {
    let listed = serde_json::json!({
        "chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": SMOL_TEMPLATE}]
    });
    let dir = folder(Some(&listed.to_string()));
    assert_eq!(load(&dir).1, ChatTemplate::smollm2());
    assert_eq!(load(&dir).0.eos(), None);

    let dir = folder(None);
    std::fs::write(dir.path().join("chat_template.jinja"), SMOL_TEMPLATE).unwrap();
    assert_eq!(load(&dir).1, ChatTemplate::smollm2());
}

#[test]
fn stream_holds_back_split_characters() {
    let dir = folder(Some(&config_json(SMOL_TEMPLATE)));
    let (tk, _) = load(&dir);
    let ids = tk.encode("é!🎬").unwrap();
    assert_eq!(ids.len(), 2 + 1 + 4, "one id per byte");
    let mut stream = tk.stream();
    let out: Vec<Option<String>> = ids
        .iter()
        .map(|&id| stream.next_token(id).unwrap())
        .collect();
    let want = [None, Some("é"), Some("!"), None, None, None, Some("🎬")];
    assert_eq!(out, want.map(|s| s.map(String::from)));
    assert_eq!(stream.finish().unwrap(), None);
    // An unfinished character at the end comes out (lossily) from `finish`.
    let mut stream = tk.stream();
    assert_eq!(stream.next_token(ids[0]).unwrap(), None);
    assert_eq!(stream.finish().unwrap().as_deref(), Some("\u{fffd}"));
    // Special tokens are not shown.
    let mut stream = tk.stream();
    assert_eq!(stream.next_token(1).unwrap(), None);
}

fn err(dir: &tempfile::TempDir) -> String {
    let e = load_hf_tokenizer(dir.path()).unwrap_err().to_string();
    eprintln!("error as the user reads it: {e}");
    e
}

#[test]
fn missing_or_malformed_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = err(&dir);
    assert!(e.contains("tokenizer.json") && e.contains("missing"), "{e}");

    let dir = folder(Some("{\n  \"eos_token\": \"<|im_end|>\",\n  oops\n}"));
    let e = err(&dir);
    assert!(
        e.contains("tokenizer_config.json") && e.contains("line 3"),
        "{e}"
    );

    let dir = folder(Some("{\"eos_token\": \"</s>\", \"chat_template\": \"x\"}"));
    let e = err(&dir);
    assert!(e.contains("eos_token") && e.contains("</s>"), "{e}");

    let dir = folder(Some("{}"));
    let e = err(&dir);
    assert!(e.contains("no chat template"), "{e}");

    let dir = folder(Some(&config_json("[INST] {{ x }} [/INST]")));
    let e = err(&dir);
    assert!(
        e.contains("chat_template") && e.contains("unsupported"),
        "{e}"
    );

    let dir = folder(None);
    std::fs::write(dir.path().join("tokenizer.json"), "{\"model\": 3}").unwrap();
    let e = err(&dir);
    assert!(
        e.contains("tokenizer.json") && e.contains("not a valid tokenizer"),
        "{e}"
    );
}
