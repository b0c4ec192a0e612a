//! Logit parity on the real SmolLM2-135M-Instruct GGUF: our backbone, teacher-forced over
//! the shared 343-token prompt, against candle-transformers' `quantized_llama` reading the
//! same file. Cosine >= 0.999 at every position, and the same argmax wherever the
//! reference's top two logits are more than 0.1 apart. Skipped with a notice where the
//! model has not been fetched (`r2ec setup`).

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use r2ec::model::backbone::{KvCache, LoadOptions};
use r2ec::model::linear::WeightFormat;
use r2ec::model::loaded::LoadedModel;

fn model_path() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipped: {} not present (run `r2ec setup`)", p.display());
        None
    }
}

fn prompt_ids(model: &LoadedModel) -> Vec<u32> {
    model.tokenizer.encode(&r2ec::bench::anchor_prompt()).unwrap()
}

/// quantized_llama returns the last position's logits only, so feed one token at a time.
fn reference_logits(path: &PathBuf, ids: &[u32]) -> Vec<Vec<f32>> {
    let mut file = std::fs::File::open(path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let mut m = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
    ids.iter()
        .enumerate()
        .map(|(pos, &id)| {
            let x = Tensor::new(&[id], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            m.forward(&x, pos).unwrap().squeeze(0).unwrap().to_vec1::<f32>().unwrap()
        })
        .collect()
}

fn ours(path: &PathBuf, format: WeightFormat) -> (LoadedModel, Vec<Vec<f32>>) {
    let opts = LoadOptions { format, ..Default::default() };
    let model = LoadedModel::load(path, &Device::Cpu, &opts).unwrap();
    let ids = prompt_ids(&model);
    let input = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let mut cache = KvCache::new(model.config(), 1);
    let h = model.backbone.forward_hidden(&input, &mut cache, None).unwrap();
    let logits = model.backbone.logits(&h.squeeze(0).unwrap()).unwrap().to_dtype(DType::F32).unwrap();
    let rows = logits.to_vec2::<f32>().unwrap();
    (model, rows)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

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

fn argmax(v: &[f32]) -> usize {
    top2(v).0
}

fn check(format: WeightFormat) {
    let Some(path) = model_path() else { return };
    let (model, got) = ours(&path, format);
    let ids = prompt_ids(&model);
    assert_eq!(ids.len(), 343, "the shared prompt is 343 SmolLM2 tokens");
    let want = reference_logits(&path, &ids);
    let mut worst = 1.0f64;
    let mut compared = 0;
    for (pos, (g, w)) in got.iter().zip(&want).enumerate() {
        let c = cosine(g, w);
        worst = worst.min(c);
        assert!(c >= 0.999, "{format:?}: position {pos}: cosine {c:.5} < 0.999");
        let (wi, w1, w2) = top2(w);
        if w1 - w2 > 0.1 {
            compared += 1;
            assert_eq!(argmax(g), wi, "{format:?}: position {pos}: argmax differs (reference gap {:.3})", w1 - w2);
        }
    }
    eprintln!("{format:?}: worst cosine {worst:.6} over {} positions; argmax equal at {compared} clear positions", got.len());
}

#[test]
fn logits_match_quantized_llama_with_default_weights() {
    check(WeightFormat::Auto);
}

#[test]
fn logits_match_quantized_llama_with_f32_weights() {
    check(WeightFormat::F32);
}
