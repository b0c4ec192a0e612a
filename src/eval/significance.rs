//! Is method A really better than B? The examples of two report folders
//! (`examples.jsonl`) are matched by identity, and each metric's per-example values go
//! through the paired bootstrap (`bootstrap::paired`). Pairing by identity, not by line,
//! because nothing promises two runs write their examples in the same order; and a test
//! on different example sets would compare the examples, not the methods, so any
//! difference in the sets stops it.

use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

use super::bootstrap::{paired_bootstrap, PairedTest};
use super::metrics::{hit_at, ndcg_at};
use super::EvalError;

/// What makes an example the same one in two reports: its position in the split, and
/// the user and target there (so reports of different data or splits never pair).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExampleKey {
    pub index: usize,
    pub user_id: String,
    pub target_id: String,
}

impl fmt::Display for ExampleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            index,
            user_id,
            target_id,
        } = self;
        write!(f, "index {index}, user {user_id}, target {target_id}")
    }
}

/// One `examples.jsonl` line, as much of it as the test needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleOutcome {
    pub key: ExampleKey,
    /// 1-based rank of the target; `None`: not ranked (a miss for every metric).
    pub rank: Option<usize>,
}

/// Read an `examples.jsonl`; an example listed twice is an error, since it could pair
/// with either of its lines.
pub fn read_outcomes(path: &Path) -> Result<Vec<ExampleOutcome>, EvalError> {
    let file = std::fs::File::open(path).map_err(|e| EvalError::io(path, e))?;
    let mut out = Vec::new();
    let mut lines_of: HashMap<ExampleKey, usize> = HashMap::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| EvalError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: String| EvalError::file(path, format!("line {}: {m}", i + 1));
        let v: Value = serde_json::from_str(&line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let text = |v: &Value, field: &str| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(format!("field `{field}`: missing or not a string")))
        };
        let key = ExampleKey {
            index: v["index"]
                .as_u64()
                .ok_or_else(|| bad("field `index`: missing or not a whole number".into()))?
                as usize,
            user_id: text(&v["user_id"], "user_id")?,
            target_id: text(&v["target"]["item_id"], "target.item_id")?,
        };
        // `null` is a real value (target not rankable); a missing field is a broken file.
        let rank =
            match v.get("rank") {
                Some(Value::Null) => None,
                Some(r) => Some(r.as_u64().filter(|&r| r >= 1).ok_or_else(|| {
                    bad(format!("field `rank`: {r} is not a 1-based rank or null"))
                })? as usize),
                None => return Err(bad("field `rank`: missing".into())),
            };
        if let Some(first) = lines_of.insert(key.clone(), i + 1) {
            return Err(bad(format!("example ({key}) already on line {first}")));
        }
        out.push(ExampleOutcome { key, rank });
    }
    Ok(out)
}

/// One example's target rank under the reference and under the other method.
pub type RankPair = (Option<usize>, Option<usize>);

/// A metric's value on one example, from the target's rank.
pub type MetricOfRank = fn(Option<usize>) -> f64;

/// Why two example sets could not be paired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    /// Examples of the reference that the other report lacks.
    pub missing: usize,
    /// Examples of the other report that the reference lacks.
    pub extra: usize,
    pub reference_n: usize,
    pub other_n: usize,
    /// One missing (or else extra) example, to look up.
    pub example: Option<ExampleKey>,
}

impl fmt::Display for Unmatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of the reference's {} examples are missing and {} of this report's {} are not in the reference",
            self.missing, self.reference_n, self.extra, self.other_n
        )?;
        match &self.example {
            Some(k) => write!(f, " (e.g. {k})"),
            None => Ok(()),
        }
    }
}

/// The (reference rank, other rank) of every example, in the reference's order, when
/// both hold exactly the same examples.
pub fn pair_examples(
    reference: &[ExampleOutcome],
    other: &[ExampleOutcome],
) -> Result<Vec<RankPair>, Unmatched> {
    let mut by_key: HashMap<&ExampleKey, Option<usize>> = HashMap::new();
    let mut extra = Vec::new();
    for o in other {
        // A repeated key in `other` can pair only once; the repeat counts as extra.
        if by_key.insert(&o.key, o.rank).is_some() {
            extra.push(&o.key);
        }
    }
    let mut pairs = Vec::with_capacity(reference.len());
    let mut missing = Vec::new();
    for r in reference {
        match by_key.remove(&r.key) {
            Some(rank) => pairs.push((r.rank, rank)),
            None => missing.push(&r.key),
        }
    }
    // The rest of `other`, in its own order so the example named is always the same.
    extra.extend(
        other
            .iter()
            .filter(|o| by_key.remove(&o.key).is_some())
            .map(|o| &o.key),
    );
    if missing.is_empty() && extra.is_empty() {
        return Ok(pairs);
    }
    Err(Unmatched {
        missing: missing.len(),
        extra: extra.len(),
        reference_n: reference.len(),
        other_n: other.len(),
        example: missing.first().or(extra.first()).map(|&k| k.clone()),
    })
}

/// Metrics tested, as (label in the comparison, per-example value from the rank).
pub const TESTED: [(&str, MetricOfRank); 2] =
    [("N@10", |r| ndcg_at(r, 10)), ("H@10", |r| hit_at(r, 10))];

/// Reference minus other on every metric of `TESTED`, with the same seed for each (so
/// every metric sees the same resampled example sets).
pub fn paired_tests(
    pairs: &[RankPair],
    resamples: usize,
    seed: u64,
) -> Vec<(&'static str, PairedTest)> {
    TESTED
        .iter()
        .filter_map(|&(label, value)| {
            let a: Vec<f64> = pairs.iter().map(|&(r, _)| value(r)).collect();
            let b: Vec<f64> = pairs.iter().map(|&(_, o)| value(o)).collect();
            paired_bootstrap(&a, &b, resamples, seed).map(|t| (label, t))
        })
        .collect()
}

#[cfg(test)]
mod tests;
