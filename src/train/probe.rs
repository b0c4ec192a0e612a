//! The valid probe: a fixed, seeded subset of the valid split (spread over it: one
//! example drawn from each of N equal slices), scored every few steps with greedy
//! decoding exactly as `r2ec eval` does, through the pipeline and the current adapter.
//! It logs mean and median target rank, MRR, H@10 and N@10 with bootstrap 95%
//! intervals, and the chains' reasoning health, as one `metrics.jsonl` line. It is
//! what a run watches and how its best checkpoint is picked; the whole split is for
//! `r2ec eval`.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use super::config::RecPoConfig;
use super::error::TrainError;
use super::evaluate::greedy_ranks;
use crate::data::prepared::PreparedDataset;
use crate::data::Example;
use crate::eval::baselines::Popularity;
use crate::eval::bootstrap::{bootstrap_stat, mean, median, Interval, DEFAULT_RESAMPLES};
use crate::eval::health::ReasoningHealth;
use crate::eval::metrics::{hit_at, ndcg_at};
use crate::eval::run::rank_example;
use crate::model::backbone::LinearHook;
use crate::model::loaded::LoadedModel;
use crate::model::lower::LowerStates;
use crate::rec::ItemTable;

/// A statistic of per-example values (mean, median).
type Stat = fn(&mut [f64]) -> f64;

/// Keeps the probe's draw apart from the run's other seeded streams.
const PROBE_SEED_MIX: u64 = 0x9e0b_e5ee_d000_0001;

/// Positions of `n` examples out of `len`: one uniformly drawn from each of `n` equal
/// slices, so the probe covers the split's whole time range. All when `n >= len`.
pub fn probe_indices(len: usize, n: usize, seed: u64) -> Vec<usize> {
    if n >= len {
        return (0..len).collect();
    }
    let mut rng = StdRng::seed_from_u64(seed ^ PROBE_SEED_MIX);
    (0..n)
        .map(|i| {
            let (lo, hi) = (i * len / n, ((i + 1) * len / n).max(i * len / n + 1));
            rng.random_range(lo..hi)
        })
        .collect()
}

/// One probe: per-example target ranks (`None`: masked or missing, a miss) and the
/// chains' health.
#[derive(Debug, Clone)]
pub struct Probe {
    pub step: usize,
    pub ranks: Vec<Option<usize>>,
    /// Items in the table, so a missing rank can be counted as the worst.
    pub catalogue: usize,
    pub health: ReasoningHealth,
    pub secs: f64,
    /// Most popular's ranks on the same examples (empty until `with_popular`): the line a
    /// probe curve is read against, since popularity is the strongest simple baseline.
    pub popular: Vec<Option<usize>>,
}

/// Most popular's target ranks on `examples` (train-split counts, history masked, as
/// `r2ec eval --baseline popular` ranks them).
pub fn popular_ranks(
    data: &PreparedDataset,
    examples: &[&Example],
) -> Result<Vec<Option<usize>>, TrainError> {
    let counts = Popularity::from_train(&data.train, &data.catalog).counts;
    let scores: Vec<f32> = counts.iter().map(|&c| c as f32).collect();
    examples
        .iter()
        .enumerate()
        .map(|(i, e)| {
            rank_example(&data.catalog, i, e, scores.clone(), None)
                .map(|r| r.rank)
                .map_err(|e| TrainError::Input(format!("most popular on the valid probe: {e}")))
        })
        .collect()
}

/// Score the probe examples with greedy chains (or none, without reasoning).
pub fn run_probe(
    model: &LoadedModel,
    hook: Option<&dyn LinearHook>,
    lower: Option<&LowerStates>,
    data: &PreparedDataset,
    table: &ItemTable,
    examples: &[&Example],
    cfg: &RecPoConfig,
    step: usize,
) -> Result<Probe, TrainError> {
    let start = Instant::now();
    let (ranks, health) = greedy_ranks(
        model,
        hook,
        lower,
        data,
        table,
        examples,
        cfg,
        &mut |_, _| {},
    )?;
    Ok(Probe {
        step,
        ranks,
        catalogue: table.len(),
        health,
        secs: start.elapsed().as_secs_f64(),
        popular: Vec::new(),
    })
}

impl Probe {
    /// With most popular's ranks on the same examples (see [`popular_ranks`]).
    pub fn with_popular(mut self, popular: Vec<Option<usize>>) -> Self {
        self.popular = popular;
        self
    }

    /// Ranks as numbers, a miss counted as the last place.
    fn rank_values(&self, ranks: &[Option<usize>]) -> Vec<f64> {
        ranks
            .iter()
            .map(|r| r.unwrap_or(self.catalogue) as f64)
            .collect()
    }

    /// N@10, the model-selection metric.
    pub fn ndcg10(&self) -> f64 {
        let v: Vec<f64> = self.ranks.iter().map(|&r| ndcg_at(r, 10)).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    }

    /// The metrics line: flat `probe_*` numbers (one curve each in `r2ec plot`) and
    /// their intervals under `probe_ci`.
    pub fn to_json(&self) -> Value {
        let ranks = self.rank_values(&self.ranks);
        let per = |f: &dyn Fn(Option<usize>) -> f64| -> Vec<f64> {
            self.ranks.iter().map(|&r| f(r)).collect()
        };
        let stats: [(&str, Vec<f64>, Stat); 5] = [
            ("mean_rank", ranks.clone(), mean),
            ("median_rank", ranks, median),
            ("mrr", per(&|r| r.map_or(0.0, |r| 1.0 / r as f64)), mean),
            ("hit@10", per(&|r| hit_at(r, 10)), mean),
            ("ndcg@10", per(&|r| ndcg_at(r, 10)), mean),
        ];
        let mut line = Map::new();
        let mut ci = Map::new();
        line.insert("step".into(), json!(self.step));
        for (i, (name, mut values, stat)) in stats.into_iter().enumerate() {
            let interval = bootstrap_stat(&values, stat, DEFAULT_RESAMPLES, 17 + i as u64);
            line.insert(format!("probe_{name}"), json!(stat(&mut values)));
            if let Some(Interval { lo, hi }) = interval {
                ci.insert(name.to_string(), json!([lo, hi]));
            }
        }
        if self.popular.len() == self.ranks.len() {
            let mut r = self.rank_values(&self.popular);
            let mut n: Vec<f64> = self.popular.iter().map(|&r| ndcg_at(r, 10)).collect();
            line.insert("probe_popular_mean_rank".into(), json!(mean(&mut r)));
            line.insert("probe_popular_median_rank".into(), json!(median(&mut r)));
            line.insert("probe_popular_ndcg@10".into(), json!(mean(&mut n)));
        }
        line.insert("probe_n".into(), json!(self.ranks.len()));
        line.insert("probe_reasoning_len".into(), json!(self.health.mean_len));
        line.insert("probe_answered".into(), json!(self.health.answered));
        line.insert("probe_wrote_answer".into(), json!(self.health.wrote_answer));
        line.insert(
            "probe_wrote_at_once".into(),
            json!(self.health.wrote_at_once),
        );
        line.insert("probe_repeat4".into(), json!(self.health.repeat4));
        line.insert("probe_secs".into(), json!(self.secs));
        line.insert("probe_ci".into(), Value::Object(ci));
        Value::Object(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_examples_are_spread_and_seeded() {
        let idx = probe_indices(1000, 10, 3);
        assert_eq!(idx.len(), 10);
        for (i, &x) in idx.iter().enumerate() {
            assert!((i * 100..(i + 1) * 100).contains(&x), "slice {i}: {x}");
        }
        assert_eq!(idx, probe_indices(1000, 10, 3));
        assert_ne!(idx, probe_indices(1000, 10, 4));
        assert_eq!(probe_indices(5, 10, 1), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn the_metrics_line_names_every_figure_with_an_interval() {
        let p = Probe {
            step: 7,
            ranks: vec![Some(1), Some(3), None, Some(20)],
            catalogue: 100,
            health: ReasoningHealth::default(),
            secs: 1.0,
            popular: vec![Some(2), None, Some(1), Some(50)],
        };
        let line = p.to_json();
        assert_eq!(line["step"], 7);
        assert_eq!(line["probe_mean_rank"], 31.0);
        assert_eq!(line["probe_median_rank"], 11.5);
        let mrr = (1.0 + 1.0 / 3.0 + 0.0 + 0.05) / 4.0;
        assert!((line["probe_mrr"].as_f64().unwrap() - mrr).abs() < 1e-12);
        assert_eq!(line["probe_hit@10"], 0.5);
        let ci = &line["probe_ci"]["mean_rank"];
        assert!(ci[0].as_f64().unwrap() <= 31.0 && 31.0 <= ci[1].as_f64().unwrap());
        assert!((p.ndcg10() - (1.0 + 0.5) / 4.0).abs() < 1e-12);
        // Most popular on the same examples, a miss counted last as for the model.
        assert_eq!(
            line["probe_popular_mean_rank"],
            (2.0 + 100.0 + 1.0 + 50.0) / 4.0
        );
        assert_eq!(line["probe_popular_median_rank"], 26.0);
        let pop = (1.0 / 3f64.log2() + 1.0) / 4.0;
        assert!((line["probe_popular_ndcg@10"].as_f64().unwrap() - pop).abs() < 1e-12);
    }
}
