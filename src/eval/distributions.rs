//! The two distributions of an evaluation's results that a report both records and
//! draws: where the target lands (rank buckets) and how long the reasoning chains are.
//! Pure computations over `ExampleResult`s, kept apart so that `report` (report.json)
//! and `charts` (the PNGs) share them while `charts` needs nothing of `report`, which
//! calls it: the import runs one way only.

use super::run::ExampleResult;

/// Bucket edges of the rank distribution: (label, lowest rank, highest rank).
pub const RANK_BUCKETS: [(&str, usize, usize); 8] = [
    ("1", 1, 1),
    ("2-5", 2, 5),
    ("6-10", 6, 10),
    ("11-20", 11, 20),
    ("21-50", 21, 50),
    ("51-100", 51, 100),
    ("101-500", 101, 500),
    (">500", 501, usize::MAX),
];

/// Counts per `RANK_BUCKETS` entry, then the masked targets (no rank) last.
pub fn rank_histogram(results: &[ExampleResult]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = RANK_BUCKETS
        .iter()
        .map(|(label, lo, hi)| {
            let c = results
                .iter()
                .filter(|r| r.rank.is_some_and(|x| x >= *lo && x <= *hi))
                .count();
            (label.to_string(), c)
        })
        .collect();
    out.push((
        "masked".into(),
        results.iter().filter(|r| r.rank.is_none()).count(),
    ));
    out
}

/// Reasoning lengths in tokens of the examples that have a chain.
pub fn reasoning_lengths(results: &[ExampleResult]) -> Vec<usize> {
    results
        .iter()
        .filter_map(|r| r.reasoning.as_ref().map(|x| x.tokens))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Reasoning;

    fn result(rank: Option<usize>, tokens: Option<usize>) -> ExampleResult {
        ExampleResult {
            index: 0,
            user_id: "u".into(),
            target_id: "t".into(),
            history_len: 1,
            rank,
            top: vec![],
            reasoning: tokens.map(|tokens| Reasoning {
                text: String::new(),
                tokens,
                stop: None,
                repeat4: 0.0,
            }),
        }
    }

    #[test]
    fn ranks_fall_in_buckets_and_masked_targets_come_last() {
        let r = [
            result(Some(1), Some(7)),
            result(Some(5), None),
            result(Some(2), Some(3)),
            result(Some(9000), None),
            result(None, None),
        ];
        let h = rank_histogram(&r);
        assert_eq!(h.len(), RANK_BUCKETS.len() + 1);
        assert_eq!(h[0], ("1".to_string(), 1));
        assert_eq!(h[1], ("2-5".to_string(), 2));
        assert_eq!(h[7], (">500".to_string(), 1));
        assert_eq!(h[8], ("masked".to_string(), 1));
        assert_eq!(reasoning_lengths(&r), vec![7, 3]);
    }
}
