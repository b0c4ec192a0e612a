//! `stats.json` of a prepared data set: sizes, the time span, where the chronological
//! split fell, and how many valid/test targets are items never seen in training.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::calendar::utc_date;
use super::examples::{ExampleRef, SplitRanges};
use super::sequences::SourceData;

/// Example counts per split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCounts {
    pub train: usize,
    pub valid: usize,
    pub test: usize,
}

/// A span of time, as Unix seconds and as UTC dates for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSpan {
    pub start: i64,
    pub end: i64,
    pub start_date: String,
    pub end_date: String,
}

impl TimeSpan {
    pub fn new(start: i64, end: i64) -> Self {
        Self {
            start,
            end,
            start_date: utc_date(start),
            end_date: utc_date(end),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetStats {
    pub name: String,
    pub source: String,
    pub domain: String,
    /// Users with at least one interaction (a user with one gives no example).
    pub users: usize,
    /// Catalogue size: only items some interaction references are kept.
    pub items: usize,
    /// Items the source's item file lists, referenced or not.
    pub items_in_source: usize,
    pub interactions: usize,
    /// Interaction rows read, before any time window or K-core filter.
    pub interactions_in_source: usize,
    pub history_window: usize,
    pub examples: SplitCounts,
    /// First and last interaction kept.
    pub time_span: Option<TimeSpan>,
    /// Target time of the first valid and the first test example.
    pub valid_from: Option<i64>,
    pub test_from: Option<i64>,
    /// The Amazon time window used, end exclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeSpan>,
    #[serde(default)]
    pub k_core: usize,
    /// Share of valid / test examples whose target item appears nowhere in the train
    /// examples (neither as a target nor in a history).
    pub valid_targets_unseen_in_train: f64,
    pub test_targets_unseen_in_train: f64,
}

impl DatasetStats {
    /// Compute the statistics of examples split as `ranges` (refs sorted by time).
    #[allow(clippy::too_many_arguments)]
    pub fn compute(
        name: &str,
        source: &str,
        domain: &str,
        data: &SourceData,
        refs: &[ExampleRef],
        ranges: &SplitRanges,
        history_window: usize,
        k_core: usize,
    ) -> Self {
        // Dense item numbers per interaction, so marking what train covers is array work
        // rather than millions of string hashes (ml-1m: 16M history entries).
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(data.items.len());
        let dense: Vec<Vec<usize>> = data
            .users
            .iter()
            .map(|u| {
                u.interactions
                    .iter()
                    .map(|i| {
                        let next = index.len();
                        *index.entry(i.item_id.as_str()).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        let mut seen = vec![false; index.len()];
        for r in &refs[ranges.train.clone()] {
            let (u, p) = (r.user as usize, r.position as usize);
            for &item in &dense[u][p.saturating_sub(history_window)..=p] {
                seen[item] = true;
            }
        }
        let unseen_share = |range: std::ops::Range<usize>| {
            if range.is_empty() {
                return 0.0;
            }
            let len = range.len();
            let unseen = refs[range]
                .iter()
                .filter(|r| !seen[dense[r.user as usize][r.position as usize]])
                .count();
            unseen as f64 / len as f64
        };
        let times = data
            .users
            .iter()
            .flat_map(|u| u.interactions.iter().map(|i| i.timestamp));
        let time_span = times
            .clone()
            .min()
            .zip(times.max())
            .map(|(a, b)| TimeSpan::new(a, b));
        Self {
            name: name.to_string(),
            source: source.to_string(),
            domain: domain.to_string(),
            users: data
                .users
                .iter()
                .filter(|u| !u.interactions.is_empty())
                .count(),
            items: data.items.len(),
            items_in_source: data.items_in_source,
            interactions: data.interactions(),
            interactions_in_source: data.interactions_in_source,
            history_window,
            examples: SplitCounts {
                train: ranges.train.len(),
                valid: ranges.valid.len(),
                test: ranges.test.len(),
            },
            time_span,
            valid_from: refs
                .get(ranges.valid.start)
                .filter(|_| !ranges.valid.is_empty())
                .map(|r| r.timestamp),
            test_from: refs.get(ranges.test.start).map(|r| r.timestamp),
            window: data.window.map(|(a, b)| TimeSpan::new(a, b)),
            k_core,
            valid_targets_unseen_in_train: unseen_share(ranges.valid.clone()),
            test_targets_unseen_in_train: unseen_share(ranges.test.clone()),
        }
    }
}

/// The summary printed when preparation ends.
impl fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "data set      {} ({}, domain {})",
            self.name, self.source, self.domain
        )?;
        writeln!(f, "users         {}", self.users)?;
        writeln!(
            f,
            "items         {} with interactions ({} in the source)",
            self.items, self.items_in_source
        )?;
        writeln!(
            f,
            "interactions  {} ({} read)",
            self.interactions, self.interactions_in_source
        )?;
        if let Some(w) = &self.window {
            writeln!(
                f,
                "time window   {} .. {} (end exclusive)",
                w.start_date, w.end_date
            )?;
        }
        if self.k_core > 1 {
            writeln!(f, "k-core        {}", self.k_core)?;
        }
        let e = &self.examples;
        writeln!(
            f,
            "examples      train {}, valid {}, test {} (history window {})",
            e.train, e.valid, e.test, self.history_window
        )?;
        if let Some(t) = &self.time_span {
            writeln!(f, "time span     {} .. {}", t.start_date, t.end_date)?;
        }
        if let (Some(v), Some(t)) = (self.valid_from, self.test_from) {
            writeln!(
                f,
                "split at      valid from {}, test from {}",
                utc_date(v),
                utc_date(t)
            )?;
        }
        write!(
            f,
            "unseen        {:.2}% of test targets, {:.2}% of valid targets not in train",
            100.0 * self.test_targets_unseen_in_train,
            100.0 * self.valid_targets_unseen_in_train
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::examples::generate;
    use crate::data::sequences::UserSequence;
    use crate::data::types::Interaction;

    #[test]
    fn counts_and_unseen_share() {
        let it = |id: &str, t| Interaction {
            item_id: id.into(),
            rating: 5.0,
            timestamp: t,
        };
        // Targets by time: a@1 .. h@8 train, a@9 valid (seen), x@10 test (unseen).
        let users = vec![
            UserSequence {
                user_id: "u".into(),
                interactions: ["z", "a", "b", "c", "d", "e", "f", "g", "h", "a"]
                    .iter()
                    .enumerate()
                    .map(|(t, id)| it(id, t as i64))
                    .collect(),
            },
            UserSequence {
                user_id: "v".into(),
                interactions: vec![it("a", 0), it("x", 10)],
            },
        ];
        let data = SourceData {
            items: vec![],
            users,
            items_in_source: 0,
            interactions_in_source: 12,
            window: None,
        };
        let refs = generate(&data.users);
        let ranges = SplitRanges::new(refs.len());
        let s = DatasetStats::compute("t", "test", "movies", &data, &refs, &ranges, 20, 0);
        assert_eq!(
            s.examples,
            SplitCounts {
                train: 8,
                valid: 1,
                test: 1
            }
        );
        assert_eq!(s.users, 2);
        assert_eq!(s.interactions, 12);
        assert_eq!(s.valid_targets_unseen_in_train, 0.0);
        assert_eq!(s.test_targets_unseen_in_train, 1.0);
        assert_eq!(s.valid_from, Some(9));
        assert_eq!(s.test_from, Some(10));
        assert_eq!(s.time_span, Some(TimeSpan::new(0, 10)));
    }
}
