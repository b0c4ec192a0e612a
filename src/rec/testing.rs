//! Test helpers of the rec_head and the pipeline: a fake item encoder whose vectors
//! depend only on the prompt text, a small catalogue, a tiny seeded model with a
//! one-character-per-token tokenizer, and a small movie data set whose next item
//! follows from the last one watched.

use sha2::{Digest, Sha256};

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::Device;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use super::item_table::ItemEncoder;
use crate::data::prepared::PreparedDataset;
use crate::data::stats::{DatasetStats, SplitCounts};
use crate::data::{Catalog, Example, Interaction, Item};
use crate::model::backbone::{Backbone, LoadOptions};
use crate::model::chat_template::ChatTemplate;
use crate::model::config::Family;
use crate::model::loaded::LoadedModel;
use crate::model::random::{random_weights, tiny_config};
use crate::model::tokenizer::Tokenizer;

#[derive(Debug, thiserror::Error)]
#[error("fake encoder failed")]
pub struct FakeError;

/// Deterministic vectors from the prompt text: equal prompts give equal vectors.
pub struct FakeEncoder {
    dim: usize,
    /// Batch sizes seen, in order.
    pub calls: Vec<usize>,
    /// Return one vector too few per batch.
    pub drop_last: bool,
    /// Fail every call.
    pub fail: bool,
}

impl FakeEncoder {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            calls: Vec::new(),
            drop_last: false,
            fail: false,
        }
    }

    /// Values in [-1, 1) drawn from SHA-256 of the prompt and the value's index.
    pub fn vector_of(prompt: &str, dim: usize) -> Vec<f32> {
        (0..dim)
            .map(|i| {
                let h = Sha256::new()
                    .chain_update(prompt)
                    .chain_update((i as u64).to_le_bytes())
                    .finalize();
                let u = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
                (u as f64 / 2f64.powi(31) - 1.0) as f32
            })
            .collect()
    }
}

impl ItemEncoder for FakeEncoder {
    type Error = FakeError;

    fn encode(&mut self, prompts: &[String]) -> Result<Vec<Vec<f32>>, FakeError> {
        self.calls.push(prompts.len());
        if self.fail {
            return Err(FakeError);
        }
        let mut out: Vec<Vec<f32>> = prompts
            .iter()
            .map(|p| Self::vector_of(p, self.dim))
            .collect();
        if self.drop_last {
            out.pop();
        }
        Ok(out)
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

/// `n` movies with ids `m0`, `m1`, ... and distinct titles.
pub fn small_catalog(n: usize) -> Catalog {
    Catalog::new(
        (0..n)
            .map(|i| Item {
                item_id: format!("m{i}"),
                title: format!("Movie number {i}"),
                domain: "movies".into(),
                year: Some(1990 + i as i32),
                genres: vec!["Drama".into()],
                average_rating: None,
                rating_number: None,
                description: None,
            })
            .collect(),
    )
}

const SPECIALS: [&str; 4] = ["<pad>", "<|im_start|>", "<|im_end|>", "<answer>"];

/// pad, `<|im_start|>`, `<|im_end|>`, `<answer>`, then newline and printable ASCII.
fn char_tokenizer() -> Tokenizer {
    let chars = std::iter::once('\n').chain(' '..='~').map(String::from);
    let vocab: HashMap<String, u32> = SPECIALS
        .iter()
        .map(|s| s.to_string())
        .chain(chars)
        .enumerate()
        .map(|(i, t)| (t, i as u32))
        .collect();
    // Invariant: the vocabulary above is well formed.
    let model = WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("<pad>".into())
        .build()
        .expect("word-level vocabulary");
    let mut tk = tokenizers::Tokenizer::new(model);
    tk.with_pre_tokenizer(Some(
        Split::new(
            SplitPattern::Regex("(?s).".into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .expect("split pattern"),
    ));
    tk.with_decoder(Some(tokenizers::decoders::fuse::Fuse::new()));
    tk.add_special_tokens([
        AddedToken::from("<|im_end|>", true),
        AddedToken::from("<|im_start|>", true),
    ])
    .expect("special tokens");
    tk.add_tokens([AddedToken::from("<answer>", false)])
        .expect("answer token");
    Tokenizer::new(tk, Some(1), Some(2))
}

/// A 2-layer Llama of hidden size 32 with a 128-token vocabulary.
pub fn tiny_model(seed: u64) -> LoadedModel {
    tiny_model_with_context(seed, 4096)
}

/// `tiny_model` with a context window of `context` tokens.
pub fn tiny_model_with_context(seed: u64, context: usize) -> LoadedModel {
    let mut cfg = tiny_config(Family::Llama);
    cfg.vocab_size = 128;
    cfg.max_position_embeddings = context;
    let w = random_weights(&cfg, seed, &Device::Cpu).expect("random weights");
    LoadedModel {
        backbone: Backbone::new(&cfg, &w, &LoadOptions::default()).expect("tiny backbone"),
        tokenizer: char_tokenizer(),
        template: ChatTemplate::ChatMl {
            default_system: None,
        },
        path: PathBuf::from("tiny"),
        name: "tiny".into(),
        files: Vec::new(),
        adapter: None,
        adapter_files: Vec::new(),
    }
}

fn movie(i: usize) -> Item {
    Item {
        item_id: format!("m{i}"),
        title: format!("Film {}", (b'A' + i as u8) as char),
        domain: "movies".into(),
        year: Some(1990 + i as i32),
        genres: vec![if i.is_multiple_of(2) {
            "Drama"
        } else {
            "Comedy"
        }
        .into()],
        average_rating: None,
        rating_number: None,
        description: None,
    }
}

/// `items` movies; each user watched two random movies and then `2k`, and watches
/// `2k + 1` next: the target follows from the last item of the history.
pub fn paired_dataset(items: usize, examples: usize, seed: u64) -> PreparedDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let pairs = items / 2;
    let mut make = |n: usize, offset: usize| -> Vec<Example> {
        (0..n)
            .map(|u| {
                let k = rng.random_range(0..pairs);
                let mut history: Vec<Interaction> = (0..2)
                    .map(|j| Interaction {
                        item_id: format!("m{}", rng.random_range(0..items)),
                        rating: 4.0,
                        timestamp: 1_000_000 + j * 86_400,
                    })
                    .filter(|h| h.item_id != format!("m{}", 2 * k + 1))
                    .collect();
                history.push(Interaction {
                    item_id: format!("m{}", 2 * k),
                    rating: 5.0,
                    timestamp: 1_200_000,
                });
                Example {
                    user_id: format!("u{}", u + offset),
                    history,
                    target: Interaction {
                        item_id: format!("m{}", 2 * k + 1),
                        rating: 5.0,
                        timestamp: 1_300_000,
                    },
                }
            })
            .collect()
    };
    let train = make(examples, 0);
    let valid = make(6, examples);
    let test = make(6, examples + 6);
    PreparedDataset {
        dir: PathBuf::from("paired"),
        catalog: Catalog::new((0..items).map(movie).collect()),
        stats: DatasetStats {
            name: "paired".into(),
            source: "test".into(),
            domain: "movies".into(),
            users: examples + 12,
            items,
            items_in_source: items,
            interactions: 0,
            interactions_in_source: 0,
            history_window: 20,
            examples: SplitCounts {
                train: train.len(),
                valid: valid.len(),
                test: test.len(),
            },
            time_span: None,
            valid_from: None,
            test_from: None,
            window: None,
            k_core: 0,
            valid_targets_unseen_in_train: 0.0,
            test_targets_unseen_in_train: 0.0,
        },
        train,
        valid,
        test,
    }
}
