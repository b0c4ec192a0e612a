//! Shared by the SmolLM2 logit parity tests (each in its own process, because candle
//! reads its dequantize switch from the environment). Included there as `mod parity`
//! beside `mod support`, whose `model::real_model` finds the GGUF (or skips).

#![allow(dead_code)]

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use r2ec::model::backbone::{KvCache, LoadOptions};
use r2ec::model::loaded::LoadedModel;

/// quantized_llama returns the last position's logits only, so feed one token at a time.
pub fn reference_logits(path: &Path, ids: &[u32]) -> Vec<Vec<f32>> {
    let mut file = std::fs::File::open(path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let mut m = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
    ids.iter()
        .enumerate()
        .map(|(pos, &id)| {
            let x = Tensor::new(&[id], &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            m.forward(&x, pos)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

/// Our logits at every position: the whole prompt in one forward, or (`stepwise`) one
/// token at a time through the KV cache, as the reference reads it.
fn ours(path: &Path, opts: LoadOptions, stepwise: bool) -> (Vec<u32>, Vec<Vec<f32>>) {
    let model = LoadedModel::load(path, &Device::Cpu, &opts).unwrap();
    let ids = model
        .tokenizer
        .encode(&r2ec::bench::anchor_prompt())
        .unwrap();
    let mut cache = KvCache::new(model.config(), 1);
    let logits_of = |h: Tensor| -> Vec<Vec<f32>> {
        let l = model.backbone.logits(&h.squeeze(0).unwrap()).unwrap();
        l.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap()
    };
    let rows = if stepwise {
        ids.iter()
            .flat_map(|&id| {
                let x = Tensor::new(&[id], &Device::Cpu)
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap();
                logits_of(model.backbone.forward_hidden(&x, &mut cache, None).unwrap())
            })
            .collect()
    } else {
        let input = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        logits_of(
            model
                .backbone
                .forward_hidden(&input, &mut cache, None)
                .unwrap(),
        )
    };
    (ids, rows)
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// (index of the largest, largest, second largest)
fn top2(v: &[f32]) -> (usize, f32, f32) {
    let mut best = (0usize, f32::NEG_INFINITY);
    let mut second = f32::NEG_INFINITY;
    for (i, &x) in v.iter().enumerate() {
        if x > best.1 {
            second = best.1;
            best = (i, x);
        } else if x > second {
            second = x;
        }
    }
    (best.0, best.1, second)
}

/// Compare ours with the reference at every position. `strict`: cosine >= 0.999 everywhere
/// and the same argmax wherever the reference's top two logits are > 0.1 apart. Not
/// strict (8-bit kernels on both sides): mean cosine >= 0.999 and the same argmax at
/// >= 95% of those positions, since each side's kernel rounding differs.
pub fn check(label: &str, opts: LoadOptions, stepwise: bool, strict: bool) {
    let Some(path) = crate::support::model::real_model() else {
        return;
    };
    let (ids, got) = ours(&path, opts, stepwise);
    assert_eq!(ids.len(), 343, "the shared prompt is 343 SmolLM2 tokens");
    let want = reference_logits(&path, &ids);
    assert_eq!(got.len(), want.len());
    let mut worst = (1.0f64, 0usize);
    let (mut sum, mut clear, mut same) = (0.0, 0usize, 0usize);
    for (pos, (g, w)) in got.iter().zip(&want).enumerate() {
        let c = cosine(g, w);
        sum += c;
        if c < worst.0 {
            worst = (c, pos);
        }
        if strict {
            assert!(c >= 0.999, "{label}: position {pos}: cosine {c:.5} < 0.999");
        }
        let (wi, w1, w2) = top2(w);
        if w1 - w2 > 0.1 {
            clear += 1;
            if top2(g).0 == wi {
                same += 1;
            } else if strict {
                panic!(
                    "{label}: position {pos}: argmax differs (reference gap {:.3})",
                    w1 - w2
                );
            }
        }
    }
    let mean = sum / got.len() as f64;
    eprintln!(
        "{label}: cosine worst {:.6} (position {}), mean {mean:.6} over {} positions; same argmax at {same} of {clear} clear positions",
        worst.0,
        worst.1,
        got.len()
    );
    if !strict {
        assert!(mean >= 0.999, "{label}: mean cosine {mean:.6} < 0.999");
        assert!(
            same * 100 >= clear * 95,
            "{label}: same argmax at only {same} of {clear} clear positions"
        );
    }
}

/// The shared prompt's ids under the file's own tokenizer.
pub fn prompt_ids_of(path: &Path) -> Vec<u32> {
    let file = r2ec::model::gguf::GgufFile::open(path).unwrap();
    let tk = r2ec::model::tokenizer::Tokenizer::from_gguf_metadata(&file.metadata()).unwrap();
    tk.encode(&r2ec::bench::anchor_prompt()).unwrap()
}
