//! Hit@K and NDCG@K for K = 5, 10, 20, averaged over examples, with the JSON keys the
//! reports use (`"hit@5"`, ..., `"ndcg@20"`).

use serde_json::{json, Map, Value};

use super::{hit_at, ndcg_at};

pub const CUTOFFS: [usize; 3] = [5, 10, 20];

#[derive(Debug, Clone, PartialEq)]
pub struct RankingMetrics {
    /// Mean Hit@K for each K of `CUTOFFS`.
    pub hit: [f64; 3],
    /// Mean NDCG@K for each K of `CUTOFFS`.
    pub ndcg: [f64; 3],
    pub n: usize,
}

impl RankingMetrics {
    /// Average over examples given each target's 1-based rank (`None`: a miss).
    pub fn from_ranks(ranks: &[Option<usize>]) -> Self {
        let n = ranks.len();
        let mut hit = [0.0; 3];
        let mut ndcg = [0.0; 3];
        for &r in ranks {
            for (j, &k) in CUTOFFS.iter().enumerate() {
                hit[j] += hit_at(r, k);
                ndcg[j] += ndcg_at(r, k);
            }
        }
        if n > 0 {
            for j in 0..3 {
                hit[j] /= n as f64;
                ndcg[j] /= n as f64;
            }
        }
        Self { hit, ndcg, n }
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        let (name, k) = key.split_once('@')?;
        let k: usize = k.parse().ok()?;
        let j = CUTOFFS.iter().position(|&c| c == k)?;
        match name {
            "hit" => Some(self.hit[j]),
            "ndcg" => Some(self.ndcg[j]),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (j, k) in CUTOFFS.iter().enumerate() {
            m.insert(format!("hit@{k}"), json!(self.hit[j]));
        }
        for (j, k) in CUTOFFS.iter().enumerate() {
            m.insert(format!("ndcg@{k}"), json!(self.ndcg[j]));
        }
        m.insert("n".into(), json!(self.n));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_hand_computed() {
        // ranks 1, 3, 7, 15, miss
        let m = RankingMetrics::from_ranks(&[Some(1), Some(3), Some(7), Some(15), None]);
        assert_eq!(m.n, 5);
        assert!((m.get("hit@5").unwrap() - 2.0 / 5.0).abs() < 1e-12);
        assert!((m.get("hit@10").unwrap() - 3.0 / 5.0).abs() < 1e-12);
        assert!((m.get("hit@20").unwrap() - 4.0 / 5.0).abs() < 1e-12);
        let n5 = (1.0 + 0.5) / 5.0;
        let n10 = (1.0 + 0.5 + 1.0 / 8f64.log2()) / 5.0;
        let n20 = (1.0 + 0.5 + 1.0 / 3.0 + 1.0 / 4.0) / 5.0;
        assert!((m.get("ndcg@5").unwrap() - n5).abs() < 1e-12);
        assert!((m.get("ndcg@10").unwrap() - n10).abs() < 1e-12);
        assert!((m.get("ndcg@20").unwrap() - n20).abs() < 1e-12);
        let j = m.to_json();
        assert_eq!(j["n"], 5);
        assert!(j.get("ndcg@10").is_some());
    }

    #[test]
    fn empty_is_zero() {
        let m = RankingMetrics::from_ranks(&[]);
        assert_eq!(m.hit, [0.0; 3]);
        assert_eq!(m.n, 0);
    }
}
