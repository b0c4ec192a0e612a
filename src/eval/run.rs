//! One evaluation run (SPEC §4): examples go to a `Scorer` in batches of B, the history
//! is masked, the target's rank is taken under the shared tie rule
//! (`metrics::rank`), and the top 20 kept for the report. Seconds per sample are
//! measured for the batched pass and, on a few examples, at batch size 1.

use std::time::Instant;

use super::metrics::RankingMetrics;
use super::scorer::{Reasoning, Scorer};
use super::EvalError;
use crate::data::{Catalog, Example};
use crate::rec::rank::{rank_of_target, top_k};

/// Items kept per example in `examples.jsonl`.
pub const TOP_KEPT: usize = 20;

#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Examples per `Scorer::score` call.
    pub batch: usize,
    /// How many examples are scored again one at a time to time batch size 1
    /// (0: not measured).
    pub batch1_samples: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            batch: 8,
            batch1_samples: 4,
        }
    }
}

/// One example's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleResult {
    /// Position of the example in its split.
    pub index: usize,
    pub user_id: String,
    pub target_id: String,
    pub history_len: usize,
    /// 1-based rank among unmasked items; `None` when the target is in the history.
    pub rank: Option<usize>,
    /// The best `TOP_KEPT` unmasked items as (catalogue position, score).
    pub top: Vec<(usize, f32)>,
    pub reasoning: Option<Reasoning>,
}

#[derive(Debug, Clone)]
pub struct EvalRun {
    pub results: Vec<ExampleResult>,
    pub batch: usize,
    /// Wall time of the batched pass divided by the number of examples.
    pub secs_per_sample: f64,
    /// Mean seconds per example scored alone, when measured.
    pub secs_per_sample_batch1: Option<f64>,
    pub batch1_samples: usize,
}

impl EvalRun {
    pub fn ranks(&self) -> Vec<Option<usize>> {
        self.results.iter().map(|r| r.rank).collect()
    }

    pub fn metrics(&self) -> RankingMetrics {
        RankingMetrics::from_ranks(&self.ranks())
    }
}

/// Which examples of a split of `n` to evaluate: all of them, or `limit` spread evenly
/// over the split (so a short run still spans the split's whole time range).
pub fn select_examples(n: usize, limit: Option<usize>) -> Vec<usize> {
    match limit {
        Some(m) if m < n => (0..m).map(|i| i * n / m).collect(),
        _ => (0..n).collect(),
    }
}

/// Score `examples` (split position, example) with `scorer` and rank every target.
/// `progress(done, total)` is called after each batch.
pub fn evaluate(
    catalog: &Catalog,
    examples: &[(usize, &Example)],
    scorer: &mut dyn Scorer,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalRun, EvalError> {
    let batch = opts.batch.max(1);
    let mut results = Vec::with_capacity(examples.len());
    let start = Instant::now();
    for chunk in examples.chunks(batch) {
        let refs: Vec<&Example> = chunk.iter().map(|(_, e)| *e).collect();
        let scored = scorer.score(&refs)?;
        if scored.len() != chunk.len() {
            return Err(EvalError::Input(format!(
                "scorer returned {} results for {} examples",
                scored.len(),
                chunk.len()
            )));
        }
        for (&(index, ex), s) in chunk.iter().zip(scored) {
            results.push(rank_example(catalog, index, ex, s.scores, s.reasoning)?);
        }
        progress(results.len(), examples.len());
    }
    let secs = start.elapsed().as_secs_f64();
    let secs_per_sample = if examples.is_empty() {
        0.0
    } else {
        secs / examples.len() as f64
    };
    let k = opts.batch1_samples.min(examples.len());
    let secs_per_sample_batch1 = if k == 0 {
        None
    } else if batch == 1 {
        Some(secs_per_sample)
    } else {
        let t = Instant::now();
        // Timed like the batched pass: scoring, masking, ranking and the top items.
        for &(index, ex) in &examples[..k] {
            for s in scorer.score(&[ex])? {
                rank_example(catalog, index, ex, s.scores, s.reasoning)?;
            }
        }
        Some(t.elapsed().as_secs_f64() / k as f64)
    };
    Ok(EvalRun {
        results,
        batch,
        secs_per_sample,
        secs_per_sample_batch1,
        batch1_samples: k,
    })
}

/// Mask the history, rank the target, keep the top items.
pub fn rank_example(
    catalog: &Catalog,
    index: usize,
    ex: &Example,
    mut scores: Vec<f32>,
    reasoning: Option<Reasoning>,
) -> Result<ExampleResult, EvalError> {
    if scores.len() != catalog.len() {
        return Err(EvalError::Input(format!(
            "scorer gave {} scores for a catalogue of {} items",
            scores.len(),
            catalog.len()
        )));
    }
    let masked = catalog.positions_of(&ex.history);
    crate::rec::mask_history(&mut scores, &masked);
    let rank = catalog
        .position(&ex.target.item_id)
        .and_then(|t| rank_of_target(&scores, t, &masked));
    Ok(ExampleResult {
        index,
        user_id: ex.user_id.clone(),
        target_id: ex.target.item_id.clone(),
        history_len: ex.history.len(),
        rank,
        top: top_k(&scores, TOP_KEPT, &masked),
        reasoning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_spreads_over_the_split() {
        assert_eq!(select_examples(5, None), vec![0, 1, 2, 3, 4]);
        assert_eq!(select_examples(5, Some(9)), vec![0, 1, 2, 3, 4]);
        assert_eq!(select_examples(10, Some(4)), vec![0, 2, 5, 7]);
        assert!(select_examples(10, Some(0)).is_empty());
    }
}
