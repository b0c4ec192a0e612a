//! Percentile bootstrap 95% intervals for Hit@K and NDCG@K (Efron & Tibshirani 1993,
//! ch. 13): resample the examples with replacement, recompute each metric, take the
//! 2.5th and 97.5th percentiles. Seeded, so a report is reproducible. `paired` tests
//! whether two methods differ on the same examples.

pub mod paired;

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::metrics::{hit_at, ndcg_at, CUTOFFS};

pub use paired::{paired_bootstrap, PairedTest, DEFAULT_PAIRED_RESAMPLES};

pub const DEFAULT_RESAMPLES: usize = 1000;
pub const DEFAULT_SEED: u64 = 17;

/// A metric's 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }
}

/// Metric keys in report order: hit@5, hit@10, hit@20, ndcg@5, ndcg@10, ndcg@20.
pub fn metric_keys() -> Vec<String> {
    let hits = CUTOFFS.iter().map(|k| format!("hit@{k}"));
    let ndcgs = CUTOFFS.iter().map(|k| format!("ndcg@{k}"));
    hits.chain(ndcgs).collect()
}

/// 95% intervals of every metric of `metric_keys()`; empty for no examples.
pub fn bootstrap_intervals(
    ranks: &[Option<usize>],
    resamples: usize,
    seed: u64,
) -> BTreeMap<String, Interval> {
    let n = ranks.len();
    let keys = metric_keys();
    if n == 0 || resamples == 0 {
        return BTreeMap::new();
    }
    // Per example: the six metric values, so a resample is only sums.
    let values: Vec<[f64; 6]> = ranks
        .iter()
        .map(|&r| {
            let mut v = [0.0; 6];
            for (j, &k) in CUTOFFS.iter().enumerate() {
                v[j] = hit_at(r, k);
                v[3 + j] = ndcg_at(r, k);
            }
            v
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draws: Vec<Vec<f64>> = (0..6).map(|_| Vec::with_capacity(resamples)).collect();
    for _ in 0..resamples {
        let mut sum = [0.0; 6];
        for _ in 0..n {
            let v = &values[rng.random_range(0..n)];
            for m in 0..6 {
                sum[m] += v[m];
            }
        }
        for m in 0..6 {
            draws[m].push(sum[m] / n as f64);
        }
    }
    keys.into_iter()
        .zip(draws)
        .map(|(key, mut d)| {
            d.sort_by(f64::total_cmp);
            let interval = Interval {
                lo: percentile(&d, 0.025),
                hi: percentile(&d, 0.975),
            };
            (key, interval)
        })
        .collect()
}

/// The 95% percentile-bootstrap interval of `stat` over per-example `values` (e.g. the
/// mean or the median of target ranks); `None` for no examples.
pub fn bootstrap_stat(
    values: &[f64],
    stat: impl Fn(&mut [f64]) -> f64,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    let n = values.len();
    if n == 0 || resamples == 0 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sample = vec![0.0; n];
    let mut draws: Vec<f64> = (0..resamples)
        .map(|_| {
            for x in sample.iter_mut() {
                *x = values[rng.random_range(0..n)];
            }
            stat(&mut sample)
        })
        .collect();
    draws.sort_by(f64::total_cmp);
    Some(Interval {
        lo: percentile(&draws, 0.025),
        hi: percentile(&draws, 0.975),
    })
}

/// Mean of a sample.
pub fn mean(values: &mut [f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Median of a sample (sorts it in place).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let m = values.len() / 2;
    if values.len() % 2 == 1 {
        values[m]
    } else {
        (values[m - 1] + values[m]) / 2.0
    }
}

/// Linear interpolation between the closest ranks of a sorted sample.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

/// `{"hit@5": [lo, hi], ...}`.
pub fn intervals_json(intervals: &BTreeMap<String, Interval>) -> Value {
    let mut m = serde_json::Map::new();
    for key in metric_keys() {
        if let Some(i) = intervals.get(&key) {
            m.insert(key, json!([i.lo, i.hi]));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod stat_tests {
    use super::*;

    #[test]
    fn a_statistic_interval_holds_the_statistic_and_is_seeded() {
        let values: Vec<f64> = (1..=101).map(f64::from).collect();
        let i = bootstrap_stat(&values, mean, 500, 3).unwrap();
        assert!(i.lo < 51.0 && 51.0 < i.hi && i.width() < 20.0, "{i:?}");
        assert_eq!(Some(i), bootstrap_stat(&values, mean, 500, 3));
        let m = bootstrap_stat(&values, median, 500, 3).unwrap();
        assert!(m.contains(51.0), "{m:?}");
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), 2.5);
        assert!(bootstrap_stat(&[], mean, 10, 1).is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::RankingMetrics;

    fn ranks(n: usize, seed: u64) -> Vec<Option<usize>> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| match rng.random_range(0..4) {
                0 => None,
                _ => Some(rng.random_range(1..40)),
            })
            .collect()
    }

    #[test]
    fn intervals_contain_the_estimate_and_shrink_with_n() {
        let small = ranks(100, 1);
        let large = ranks(10_000, 1);
        let ci_small = bootstrap_intervals(&small, 500, 3);
        let ci_large = bootstrap_intervals(&large, 500, 3);
        for (data, ci) in [(&small, &ci_small), (&large, &ci_large)] {
            let m = RankingMetrics::from_ranks(data);
            for key in metric_keys() {
                let x = m.get(&key).unwrap();
                assert!(ci[&key].contains(x), "{key}: {x} not in {:?}", ci[&key]);
            }
        }
        for key in metric_keys() {
            assert!(
                ci_large[&key].width() < ci_small[&key].width() / 4.0,
                "{key}: {:?} vs {:?}",
                ci_large[&key],
                ci_small[&key]
            );
        }
    }

    #[test]
    fn seeded_and_degenerate_cases() {
        let r = ranks(200, 2);
        assert_eq!(
            bootstrap_intervals(&r, 100, 5),
            bootstrap_intervals(&r, 100, 5)
        );
        assert!(bootstrap_intervals(&[], 100, 5).is_empty());
        // Every target first: no spread at all.
        let all_first = vec![Some(1); 50];
        let ci = bootstrap_intervals(&all_first, 100, 5);
        assert_eq!(ci["ndcg@10"], Interval { lo: 1.0, hi: 1.0 });
        assert_eq!(percentile(&[0.0, 10.0], 0.25), 2.5);
    }
}
