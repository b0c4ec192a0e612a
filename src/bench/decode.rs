//! Prefill and greedy decode timings on the fast path, the anchor's protocol: each repeat
//! starts from an empty cache; decode is exactly N argmax steps, end of sequence ignored.

use std::time::Instant;

use candle_core::{DType, Tensor, D};
use serde::Serialize;

use super::median;
use crate::model::backbone::KvCache;
use crate::model::error::ModelError;
use crate::model::loaded::LoadedModel;

#[derive(Debug, Clone, Serialize)]
pub struct PrefillFigures {
    pub prompt_tokens: usize,
    pub tok_s: f64,
    pub runs: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecodeFigures {
    pub batch: usize,
    pub new_tokens: usize,
    /// Generated tokens per second over the whole batch.
    pub tok_s: f64,
    pub ms_per_step: f64,
    pub runs: Vec<f64>,
}

/// Prompt tokens per second for one forward over `ids` (batch 1).
pub fn bench_prefill(
    model: &LoadedModel,
    ids: &[u32],
    repeats: usize,
) -> Result<PrefillFigures, ModelError> {
    let device = model.device();
    let input = Tensor::new(ids, device)?.unsqueeze(0)?;
    // Warm-up: page the weights in, as the anchor does.
    let mut cache = KvCache::new(model.config(), 1);
    model
        .backbone
        .forward_hidden(&input.narrow(1, 0, ids.len().min(32))?, &mut cache, None)?;
    let mut runs = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let mut cache = KvCache::new(model.config(), 1);
        let t = Instant::now();
        let h = model.backbone.forward_hidden(&input, &mut cache, None)?;
        // Reading one value waits for the device to finish.
        h.narrow(1, ids.len() - 1, 1)?
            .flatten_all()?
            .narrow(0, 0, 1)?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?;
        runs.push(ids.len() as f64 / t.elapsed().as_secs_f64());
    }
    Ok(PrefillFigures {
        prompt_tokens: ids.len(),
        tok_s: median(&runs),
        runs,
    })
}

/// Generated tokens per second for `batch` copies of the prompt and `new_tokens` greedy steps.
pub fn bench_decode(
    model: &LoadedModel,
    ids: &[u32],
    batch: usize,
    new_tokens: usize,
    repeats: usize,
) -> Result<DecodeFigures, ModelError> {
    let device = model.device();
    let one = Tensor::new(ids, device)?.unsqueeze(0)?;
    let input = one.repeat((batch, 1))?;
    let mut runs = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let mut cache = KvCache::new(model.config(), batch);
        let h = model.backbone.forward_hidden(&input, &mut cache, None)?;
        let mut last = h.narrow(1, ids.len() - 1, 1)?.squeeze(1)?;
        let t = Instant::now();
        for _ in 0..new_tokens {
            let next = model
                .backbone
                .logits(&last)?
                .argmax_keepdim(D::Minus1)?
                .to_dtype(DType::U32)?;
            let h = model.backbone.forward_hidden(&next, &mut cache, None)?;
            last = h.squeeze(1)?;
        }
        last.flatten_all()?
            .narrow(0, 0, 1)?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?;
        runs.push((batch * new_tokens) as f64 / t.elapsed().as_secs_f64());
    }
    let tok_s = median(&runs);
    Ok(DecodeFigures {
        batch,
        new_tokens,
        tok_s,
        ms_per_step: 1000.0 * batch as f64 / tok_s,
        runs,
    })
}
