//! A byte-level BPE tokenizer from GGUF metadata (`tokenizer.ggml.model` = "gpt2"):
//! vocabulary from `tokenizer.ggml.tokens`, merges from `tokenizer.ggml.merges`, control
//! (type 3) and user-defined (type 4) tokens added whole, and the pre-tokenizer that
//! `tokenizer.ggml.pre` names, matching the model's own `tokenizer.json` and llama.cpp's
//! `llama-vocab.cpp`. candle's `TokenizerFromGguf` falls back to plain GPT-2 splitting
//! for "smollm", which groups digits differently from SmolLM2's Digits(individual).

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

use super::{Tokenizer, TokenizerError};
use crate::model::gguf::metadata::{Metadata, MetadataError};

/// Qwen2's split regex, as in its `tokenizer.json` (one digit per piece).
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's split regex (digits in groups of up to three).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// llama.cpp's `llama_token_type` values that are matched whole in the input text.
const TOKEN_TYPE_CONTROL: u64 = 3;
const TOKEN_TYPE_USER_DEFINED: u64 = 4;

pub(super) fn from_metadata(meta: &Metadata) -> Result<Tokenizer, TokenizerError> {
    let model = meta.string("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(unsupported(
            "tokenizer.ggml.model",
            model,
            "gpt2 (byte-level BPE)",
        ));
    }
    let pre = meta.opt_string("tokenizer.ggml.pre")?.unwrap_or("gpt2");
    let pipeline = Pipeline::for_pre(pre)?;

    let tokens = meta.strings("tokenizer.ggml.tokens")?;
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i as u32))
        .collect();
    let merges = meta
        .strings("tokenizer.ggml.merges")?
        .into_iter()
        .enumerate()
        .map(|(index, m)| match m.split_once(' ') {
            Some((a, b)) => Ok((a.to_string(), b.to_string())),
            None => Err(TokenizerError::BadMerge {
                index,
                entry: m.to_string(),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(pipeline.ignore_merges)
        .build()
        .map_err(|e| TokenizerError::Build(e.to_string()))?;

    let mut tk = tokenizers::Tokenizer::new(bpe);
    if pipeline.nfc {
        tk.with_normalizer(Some(NFC))
            .map_err(|e| TokenizerError::Build(e.to_string()))?;
    }
    tk.with_pre_tokenizer(Some(pipeline.pre_tokenizer));
    tk.with_decoder(Some(ByteLevelDecoder::default()));

    if let Some(types) = meta.opt_ints("tokenizer.ggml.token_type")? {
        if types.len() != tokens.len() {
            return Err(MetadataError::WrongType {
                key: "tokenizer.ggml.token_type".into(),
                expected: "one type per token",
                found: format!("{} types for {} tokens", types.len(), tokens.len()),
            }
            .into());
        }
        let whole = |wanted: u64| {
            tokens
                .iter()
                .zip(&types)
                .filter(move |(_, &ty)| ty == wanted)
                .map(|(t, _)| *t)
        };
        // Control tokens are special (hidden by `decode_text`); user-defined ones are
        // ordinary text that must still never be split.
        let control: Vec<AddedToken> = whole(TOKEN_TYPE_CONTROL)
            .map(|t| AddedToken::from(t, true))
            .collect();
        let user: Vec<AddedToken> = whole(TOKEN_TYPE_USER_DEFINED)
            .map(|t| AddedToken::from(t, false).normalized(false))
            .collect();
        tk.add_special_tokens(control)
            .map_err(|e| TokenizerError::Build(e.to_string()))?;
        tk.add_tokens(user)
            .map_err(|e| TokenizerError::Build(e.to_string()))?;
    }

    let bos = meta.opt_u32("tokenizer.ggml.bos_token_id")?;
    let eos = meta.opt_u32("tokenizer.ggml.eos_token_id")?;
    Ok(Tokenizer::new(tk, bos, eos))
}

struct Pipeline {
    pre_tokenizer: PreTokenizerWrapper,
    nfc: bool,
    ignore_merges: bool,
}

impl Pipeline {
    fn for_pre(pre: &str) -> Result<Self, TokenizerError> {
        let split = |regex: &str| -> Result<PreTokenizerWrapper, TokenizerError> {
            Split::new(
                SplitPattern::Regex(regex.to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map(Into::into)
            .map_err(|e| TokenizerError::Build(e.to_string()))
        };
        let seq = |parts: Vec<PreTokenizerWrapper>| Sequence::new(parts).into();
        Ok(match pre {
            "smollm" => Self {
                pre_tokenizer: seq(vec![
                    Digits::new(true).into(),
                    ByteLevel::new(false, true, true).into(),
                ]),
                nfc: false,
                ignore_merges: false,
            },
            "qwen2" | "deepseek-r1-qwen" => Self {
                pre_tokenizer: seq(vec![
                    split(QWEN2_REGEX)?,
                    ByteLevel::new(false, false, false).into(),
                ]),
                nfc: true,
                ignore_merges: false,
            },
            "llama-bpe" | "llama3" | "smaug-bpe" => Self {
                pre_tokenizer: seq(vec![
                    split(LLAMA3_REGEX)?,
                    ByteLevel::new(false, true, false).into(),
                ]),
                nfc: false,
                ignore_merges: true,
            },
            "gpt2" | "default" => Self {
                pre_tokenizer: ByteLevel::new(false, true, true).into(),
                nfc: false,
                ignore_merges: false,
            },
            other => {
                return Err(unsupported(
                    "tokenizer.ggml.pre",
                    other,
                    "smollm, qwen2, deepseek-r1-qwen, llama-bpe, llama3, smaug-bpe, gpt2, default",
                ))
            }
        })
    }
}

fn unsupported(key: &str, value: &str, supported: &'static str) -> TokenizerError {
    MetadataError::Unsupported {
        key: key.into(),
        value: value.into(),
        supported,
    }
    .into()
}
