//! Test helpers of the trainer: a tiny seeded model with a one-character-per-token
//! tokenizer, a low-rank adapter of its own (LoRA's math, none of its files), and a
//! small movie data set whose next item follows from the last one watched.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use super::adapter::TrainableAdapter;
use crate::data::chat_template::ChatTemplate;
use crate::data::prepared::PreparedDataset;
use crate::data::stats::{DatasetStats, SplitCounts};
use crate::data::{Catalog, Example, Interaction, Item};
use crate::model::backbone::{Backbone, LinearHook, LoadOptions, LoraTarget};
use crate::model::config::{Family, ModelConfig};
use crate::model::loaded::LoadedModel;
use crate::model::random::{random_weights, tiny_config};
use crate::model::tokenizer::Tokenizer;

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

/// LoRA's delta `scale * B(A x)` on every projection; A seeded, B zero (so the adapter
/// starts as the identity), no dropout.
pub struct TinyLora {
    pairs: Vec<((usize, LoraTarget), Var, Var)>,
    scale: f64,
    pub training: AtomicBool,
}

impl TinyLora {
    pub fn new(cfg: &ModelConfig, r: usize, scale: f64, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let (q, kv) = (
            cfg.num_attention_heads * cfg.head_dim,
            cfg.num_key_value_heads * cfg.head_dim,
        );
        let mut pairs = Vec::new();
        for layer in 0..cfg.num_hidden_layers {
            for t in LoraTarget::ALL {
                let (out, inp) = match t {
                    LoraTarget::Q => (q, h),
                    LoraTarget::K | LoraTarget::V => (kv, h),
                    LoraTarget::O => (h, q),
                    LoraTarget::Gate | LoraTarget::Up => (i, h),
                    LoraTarget::Down => (h, i),
                };
                let a: Vec<f32> = (0..r * inp)
                    .map(|_| rng.random_range(-0.3f32..0.3))
                    .collect();
                let a = Var::from_vec(a, (r, inp), &Device::Cpu).expect("lora A");
                let b = Var::zeros((out, r), DType::F32, &Device::Cpu).expect("lora B");
                pairs.push(((layer, t), a, b));
            }
        }
        Self {
            pairs,
            scale,
            training: AtomicBool::new(false),
        }
    }

    /// Every variable's values, for exact comparisons.
    pub fn values(&self) -> Vec<Vec<f32>> {
        self.vars()
            .iter()
            .map(|v| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    }
}

impl LinearHook for TinyLora {
    fn adapt(
        &self,
        layer: usize,
        target: LoraTarget,
        x: &Tensor,
        base: Tensor,
    ) -> candle_core::Result<Tensor> {
        let Some((_, a, b)) = self.pairs.iter().find(|(k, _, _)| *k == (layer, target)) else {
            return Ok(base);
        };
        let dims = x.dims().to_vec();
        let inp = dims[dims.len() - 1];
        let rows = x.elem_count() / inp;
        let d = x
            .reshape((rows, inp))?
            .matmul(&a.as_tensor().t()?)?
            .matmul(&b.as_tensor().t()?)?;
        let mut out = dims.clone();
        *out.last_mut().expect("input has a last dim") = b.dim(0)?;
        base + (d.reshape(out)? * self.scale)?
    }
}

impl TrainableAdapter for TinyLora {
    fn vars(&self) -> Vec<Var> {
        self.pairs
            .iter()
            .flat_map(|(_, a, b)| [a.clone(), b.clone()])
            .collect()
    }

    fn set_training(&self, on: bool) {
        self.training.store(on, Ordering::Relaxed);
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let map: HashMap<String, Tensor> = self
            .vars()
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("w.{i}"), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&map, dir.join("adapter.safetensors"))?;
        Ok(())
    }

    fn load(&self, dir: &Path) -> anyhow::Result<()> {
        let map = candle_core::safetensors::load(dir.join("adapter.safetensors"), &Device::Cpu)?;
        for (i, v) in self.vars().iter().enumerate() {
            let t = map
                .get(&format!("w.{i}"))
                .ok_or_else(|| anyhow::anyhow!("missing w.{i}"))?;
            v.set(t)?;
        }
        Ok(())
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
