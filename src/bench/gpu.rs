//! The measurements of `r2ec bench --suite gpu`, each usable on its own and on any
//! device (the CLI puts them together into one JSON record):
//! - parity of a model on one device (or in one weight format) with a reference: the
//!   logits of every position of a prompt (cosine, largest difference, argmax
//!   agreement), a greedy continuation token for token, and prompts of different
//!   lengths in one left-padded batch against each alone;
//! - the device sampler on the model's own logits against the host's top-k, nucleus
//!   and argmax;
//! - seconds per recommendation as the Hugging Face anchor (`../shared/bench/
//!   hf_generate.py`) times it: the prompt, exactly N greedy reasoning tokens, and the
//!   final hidden state, at batch 1 and batched (copies of the prompt).
//!
//! The short RecPO run of the check is the CLI's (`src/cli/bench/gpu.rs`): training sits
//! above this layer.

use std::collections::HashSet;
use std::time::Instant;

use candle_core::{DType, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::median;
use crate::model::backbone::KvCache;
use crate::model::error::ModelError;
use crate::model::generate::{generate_batch, GenerateOptions, GenerateRequest};
use crate::model::loaded::LoadedModel;
use crate::model::sampling::device::DeviceSampler;
use crate::model::sampling::repetition::Repetition;
use crate::model::sampling::Sampling;

/// The parity bound of the GPU check: cosine of the logits of CPU (f32) and GPU.
pub const MIN_COSINE: f64 = 0.9999;

#[derive(Debug, Clone, Serialize)]
pub struct LogitParity {
    pub positions: usize,
    /// Cosine of all positions' logits taken as one vector.
    pub cosine: f64,
    /// The lowest cosine of one position's logits.
    pub min_position_cosine: f64,
    pub max_abs_diff: f64,
    /// Positions whose best token is the same on both.
    pub same_argmax: usize,
}

/// All positions' logits of `ids` (batch 1) as f32 rows on the host.
fn prompt_logits(model: &LoadedModel, ids: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
    let input = Tensor::new(ids, model.device())?.unsqueeze(0)?;
    let mut cache = KvCache::new(model.config(), 1);
    let h = model.backbone.forward_hidden(&input, &mut cache, None)?;
    let logits = model.backbone.logits(&h.squeeze(0)?)?;
    Ok(logits.to_dtype(DType::F32)?.to_vec2::<f32>()?)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(f64::MIN_POSITIVE)
}

/// `tested`'s logits of every position of `ids` against `reference`'s.
pub fn logit_parity(
    reference: &LoadedModel,
    tested: &LoadedModel,
    ids: &[u32],
) -> Result<LogitParity, ModelError> {
    let want = prompt_logits(reference, ids)?;
    let got = prompt_logits(tested, ids)?;
    let flat_w: Vec<f32> = want.concat();
    let flat_g: Vec<f32> = got.concat();
    let mut min_position_cosine = f64::INFINITY;
    let mut same_argmax = 0;
    for (w, g) in want.iter().zip(&got) {
        min_position_cosine = min_position_cosine.min(cosine(w, g));
        let best = |v: &[f32]| crate::model::sampling::argmax(v).ok();
        same_argmax += usize::from(best(w) == best(g));
    }
    let max_abs_diff = flat_w
        .iter()
        .zip(&flat_g)
        .map(|(a, b)| (a - b).abs() as f64)
        .fold(0.0, f64::max);
    Ok(LogitParity {
        positions: want.len(),
        cosine: cosine(&flat_w, &flat_g),
        min_position_cosine,
        max_abs_diff,
        same_argmax,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct GreedyParity {
    pub tokens: usize,
    pub same: bool,
    /// Index of the first token that differs.
    pub first_difference: Option<usize>,
    pub reference: Vec<u32>,
    pub tested: Vec<u32>,
}

/// Exactly `n` greedy tokens after each prompt (the end of the turn banned until then),
/// the prompts in one left-padded batch.
pub fn greedy_batch(
    model: &LoadedModel,
    prompts: &[Vec<u32>],
    n: usize,
) -> Result<Vec<Vec<u32>>, ModelError> {
    let opts = GenerateOptions {
        max_new_tokens: n,
        min_new_tokens: n,
        sampling: Sampling::ArgMax,
        stop: Vec::new(),
        force_answer: false,
        ..Default::default()
    };
    let req: Vec<GenerateRequest> = prompts
        .iter()
        .map(|p| GenerateRequest {
            prompt_ids: p.clone(),
            samples: 1,
        })
        .collect();
    let (chains, _) = generate_batch(
        &model.backbone,
        &model.tokenizer,
        &req,
        &opts,
        &mut |_| {},
        None,
    )?;
    Ok(chains
        .into_iter()
        .map(|c| c.token_ids[..c.sampled_tokens].to_vec())
        .collect())
}

/// Exactly `n` greedy tokens after `ids`.
pub fn greedy_tokens(model: &LoadedModel, ids: &[u32], n: usize) -> Result<Vec<u32>, ModelError> {
    Ok(greedy_batch(model, &[ids.to_vec()], n)?
        .pop()
        .unwrap_or_default())
}

fn first_difference(a: &[u32], b: &[u32]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

#[derive(Debug, Clone, Serialize)]
pub struct PaddedParity {
    /// Prompt lengths, in batch order.
    pub prompt_tokens: Vec<usize>,
    pub tokens: usize,
    pub same: bool,
    /// Per prompt, the first token that differs.
    pub first_difference: Vec<Option<usize>>,
}

/// Prompts of different lengths in one left-padded batch on `tested` (padding, masks
/// and positions of every row) against each prompt alone on `reference`.
pub fn padded_parity(
    reference: &LoadedModel,
    tested: &LoadedModel,
    prompts: &[Vec<u32>],
    n: usize,
) -> Result<PaddedParity, ModelError> {
    let got = greedy_batch(tested, prompts, n)?;
    let want = prompts
        .iter()
        .map(|p| greedy_tokens(reference, p, n))
        .collect::<Result<Vec<_>, _>>()?;
    let first: Vec<Option<usize>> = want
        .iter()
        .zip(&got)
        .map(|(w, g)| first_difference(w, g))
        .collect();
    Ok(PaddedParity {
        prompt_tokens: prompts.iter().map(Vec::len).collect(),
        tokens: n,
        same: first.iter().all(Option::is_none),
        first_difference: first,
    })
}

/// The greedy continuations of `ids` by both models, token for token.
pub fn greedy_parity(
    reference: &LoadedModel,
    tested: &LoadedModel,
    ids: &[u32],
    n: usize,
) -> Result<GreedyParity, ModelError> {
    let want = greedy_tokens(reference, ids, n)?;
    let got = greedy_tokens(tested, ids, n)?;
    let first_difference = first_difference(&want, &got);
    Ok(GreedyParity {
        tokens: n,
        same: first_difference.is_none(),
        first_difference,
        reference: want,
        tested: got,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct SamplerCheck {
    pub rows: usize,
    /// The device's greedy token equals the host's argmax.
    pub greedy_same: bool,
    /// Top-k (k = 50, temperature 2, RecPO's rollouts): draws among the host's 50 best.
    pub top_k_inside: usize,
    pub top_k_distinct: usize,
    /// Top-p (p = 0.9): draws inside the host's nucleus.
    pub top_p_inside: usize,
    pub ok: bool,
}

/// The device sampler on the last position's logits of `ids`, `rows` copies in one
/// call, against the host's sets computed from the same logits.
pub fn sampler_check(
    model: &LoadedModel,
    ids: &[u32],
    rows: usize,
) -> Result<SamplerCheck, ModelError> {
    let dev = model.device();
    let input = Tensor::new(ids, dev)?.unsqueeze(0)?;
    let mut cache = KvCache::new(model.config(), 1);
    let h = model.backbone.forward_hidden(&input, &mut cache, None)?;
    let last = h.narrow(1, ids.len() - 1, 1)?.squeeze(1)?;
    let logits = model.backbone.logits(&last)?.to_dtype(DType::F32)?;
    let host: Vec<f32> = logits.squeeze(0)?.to_vec1()?;
    let vocab = host.len();
    let batch = logits.repeat((rows, 1))?;
    let mut rng = StdRng::seed_from_u64(17);
    let uniforms: Vec<f64> = (0..rows).map(|_| rng.random::<f64>()).collect();
    let none: Vec<&[u32]> = vec![&[]; rows];
    let prompts: Vec<&[u32]> = vec![&[]; rows];
    let draw = |sampling: Sampling| -> Result<Vec<u32>, ModelError> {
        let mut s = DeviceSampler::new(sampling, Repetition::OFF, &prompts, vocab, dev)?;
        Ok(s.sample(&batch, &uniforms, &none)?
            .into_iter()
            .flatten()
            .collect())
    };
    let mut order: Vec<u32> = (0..vocab as u32).collect();
    order.sort_by(|&a, &b| host[b as usize].total_cmp(&host[a as usize]));
    let greedy = draw(Sampling::ArgMax)?;
    let greedy_same = greedy.len() == rows
        && greedy
            .iter()
            .all(|&t| host[t as usize] == host[order[0] as usize]);
    let best50: HashSet<u32> = order.iter().take(50).copied().collect();
    let top_k = draw(Sampling::rollout())?;
    let top_k_inside = top_k.iter().filter(|t| best50.contains(t)).count();
    let top_k_distinct = top_k.iter().collect::<HashSet<_>>().len();
    // The nucleus at p = 0.9, temperature 1, with ties at its edge let in.
    let max = host[order[0] as usize] as f64;
    let w: Vec<f64> = host.iter().map(|&l| (l as f64 - max).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut cum = 0.0;
    let mut edge = 0.0;
    for &t in &order {
        cum += w[t as usize];
        if cum >= 0.9 * total {
            edge = w[t as usize];
            break;
        }
    }
    let top_p = draw(Sampling::TopP {
        p: 0.9,
        temperature: 1.0,
    })?;
    let top_p_inside = top_p
        .iter()
        .filter(|&&t| w[t as usize] >= edge * (1.0 - 1e-5))
        .count();
    let ok = greedy_same && top_k_inside == rows && top_p_inside == rows;
    Ok(SamplerCheck {
        rows,
        greedy_same,
        top_k_inside,
        top_k_distinct,
        top_p_inside,
        ok,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct RecommendationFigures {
    pub batch: usize,
    pub reasoning_tokens: usize,
    /// Seconds per recommendation (one run's time over the batch), median of the runs.
    pub secs_per_recommendation: f64,
    pub runs: Vec<f64>,
}

/// Seconds per recommendation, the anchor's protocol: `batch` copies of the prompt
/// `ids`, exactly `reasoning_tokens` greedy tokens each (the end of the turn banned
/// until then), then `<answer>` read for h_T; one short warm-up, then `repeats` runs.
pub fn bench_recommendation(
    model: &LoadedModel,
    ids: &[u32],
    batch: usize,
    reasoning_tokens: usize,
    repeats: usize,
) -> Result<RecommendationFigures, ModelError> {
    let batch = batch.max(1);
    let reqs: Vec<GenerateRequest> = (0..batch)
        .map(|_| GenerateRequest {
            prompt_ids: ids.to_vec(),
            samples: 1,
        })
        .collect();
    let opts = |n: usize| GenerateOptions {
        max_new_tokens: n,
        min_new_tokens: n,
        sampling: Sampling::ArgMax,
        stop: Vec::new(),
        ..Default::default()
    };
    let run = |n: usize| -> Result<f64, ModelError> {
        let t = Instant::now();
        let (chains, _) = generate_batch(
            &model.backbone,
            &model.tokenizer,
            &reqs,
            &opts(n),
            &mut |_| {},
            None,
        )?;
        if chains.iter().any(|c| c.user_vector.is_empty()) {
            return Err(ModelError::Input("a chain ended without h_T".into()));
        }
        Ok(t.elapsed().as_secs_f64() / batch as f64)
    };
    run(reasoning_tokens.min(8))?;
    let runs = (0..repeats.max(1))
        .map(|_| run(reasoning_tokens))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecommendationFigures {
        batch,
        reasoning_tokens,
        secs_per_recommendation: median(&runs),
        runs,
    })
}
