//! The paper's cold-start analysis: test metrics split by whether the target item was
//! seen in training (as any interaction of a train example, history or target) and
//! whether the user was (has a train example).

use std::collections::HashSet;

use serde_json::{json, Value};

use super::metrics::RankingMetrics;
use super::run::ExampleResult;
use crate::data::Example;

/// What the train split holds.
#[derive(Debug, Clone, Default)]
pub struct SeenInTrain {
    items: HashSet<String>,
    users: HashSet<String>,
}

impl SeenInTrain {
    pub fn from_train(train: &[Example]) -> Self {
        let mut seen = Self::default();
        for ex in train {
            seen.users.insert(ex.user_id.clone());
            seen.items.insert(ex.target.item_id.clone());
            for h in &ex.history {
                seen.items.insert(h.item_id.clone());
            }
        }
        seen
    }

    pub fn item_seen(&self, item_id: &str) -> bool {
        self.items.contains(item_id)
    }

    pub fn user_seen(&self, user_id: &str) -> bool {
        self.users.contains(user_id)
    }
}

/// The four groups, in report order: warm items, cold items, warm users, cold users.
pub const GROUPS: [&str; 4] = ["item_warm", "item_cold", "user_warm", "user_cold"];

/// Metrics of each group of `GROUPS` (a group with no example has n = 0).
pub fn cold_warm(
    results: &[ExampleResult],
    seen: &SeenInTrain,
) -> Vec<(&'static str, RankingMetrics)> {
    let group = |keep: &dyn Fn(&ExampleResult) -> bool| {
        let ranks: Vec<Option<usize>> =
            results.iter().filter(|r| keep(r)).map(|r| r.rank).collect();
        RankingMetrics::from_ranks(&ranks)
    };
    vec![
        (GROUPS[0], group(&|r| seen.item_seen(&r.target_id))),
        (GROUPS[1], group(&|r| !seen.item_seen(&r.target_id))),
        (GROUPS[2], group(&|r| seen.user_seen(&r.user_id))),
        (GROUPS[3], group(&|r| !seen.user_seen(&r.user_id))),
    ]
}

/// `{"item_warm": {"hit@5": ..., "n": ...}, ...}`.
pub fn cold_warm_json(groups: &[(&'static str, RankingMetrics)]) -> Value {
    let mut m = serde_json::Map::new();
    for (name, metrics) in groups {
        m.insert((*name).to_string(), metrics.to_json());
    }
    json!(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Interaction;

    fn ex(user: &str, hist: &[&str], target: &str) -> Example {
        let it = |id: &str| Interaction {
            item_id: id.into(),
            rating: 4.0,
            timestamp: 1,
        };
        Example {
            user_id: user.into(),
            history: hist.iter().map(|h| it(h)).collect(),
            target: it(target),
        }
    }

    fn result(user: &str, target: &str, rank: Option<usize>) -> ExampleResult {
        ExampleResult {
            index: 0,
            user_id: user.into(),
            target_id: target.into(),
            history_len: 1,
            rank,
            top: Vec::new(),
            reasoning: None,
        }
    }

    #[test]
    fn groups_follow_the_train_split() {
        let seen = SeenInTrain::from_train(&[ex("u1", &["a"], "b")]);
        assert!(seen.item_seen("a") && seen.item_seen("b") && !seen.item_seen("c"));
        assert!(seen.user_seen("u1") && !seen.user_seen("u2"));
        let results = [
            result("u1", "a", Some(1)),
            result("u2", "c", Some(3)),
            result("u2", "b", None),
        ];
        let g = cold_warm(&results, &seen);
        let by = |name: &str| g.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(by("item_warm").n, 2);
        assert_eq!(by("item_warm").hit[0], 0.5);
        assert_eq!(by("item_cold").n, 1);
        assert_eq!(by("item_cold").ndcg[0], 0.5);
        assert_eq!(by("user_warm").n, 1);
        assert_eq!(by("user_cold").n, 2);
        assert_eq!(by("user_cold").hit[0], 0.5);
        let j = cold_warm_json(&g);
        assert_eq!(j["item_cold"]["n"], 1);
    }
}
