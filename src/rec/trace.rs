//! The rank trace (SPEC §1's h_T read after every reasoning step instead of only at the
//! end): the rank of the target and of the final top items after each step, so a reader
//! sees where the chain moved them.

use super::item_table::ItemTable;
use super::rank::rank_of_target;
use super::ranking::Ranking;
use super::score::{mask_history, user_scores, ScoreError};
use super::TAU;

/// Points kept per trace series; longer chains are sampled evenly (ends kept).
pub const TRACE_POINTS: usize = 200;
/// Final top items followed in the rank trace, besides the target.
pub const TRACE_TOP: usize = 3;

/// One followed item's rank after each reasoning step.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSeries {
    pub label: String,
    pub is_target: bool,
    /// (step, rank) pairs; step 0 is the hidden state of the first generated token.
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RankTrace {
    pub steps: usize,
    pub series: Vec<TraceSeries>,
}

/// Steps kept when a chain of `n` steps is drawn with at most `max` points: evenly
/// spaced, first and last always kept.
pub fn trace_steps(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    if max < 2 {
        // One point can only be the final state.
        return (n - max..n).collect();
    }
    let mut out: Vec<usize> = (0..max)
        .map(|i| ((i as f64) * (n - 1) as f64 / (max - 1) as f64).round() as usize)
        .collect();
    out.dedup();
    out
}

/// The rank of the target and of the final top items after each step of the chain.
pub fn rank_trace(
    table: &ItemTable,
    step_hidden: &[Vec<f32>],
    final_ranking: &Ranking,
    masked: &[usize],
    target_label: Option<String>,
) -> Result<RankTrace, ScoreError> {
    let mut followed: Vec<(String, bool, usize)> = Vec::new();
    if let (Some(p), Some(label)) = (final_ranking.target_pos, target_label) {
        if !masked.contains(&p) {
            followed.push((label, true, p));
        }
    }
    for it in final_ranking.top.iter().take(TRACE_TOP) {
        if Some(it.pos) != final_ranking.target_pos {
            followed.push((it.title.clone(), false, it.pos));
        }
    }
    let mut series: Vec<TraceSeries> = followed
        .iter()
        .map(|(label, is_target, _)| TraceSeries {
            label: label.clone(),
            is_target: *is_target,
            points: Vec::new(),
        })
        .collect();
    for step in trace_steps(step_hidden.len(), TRACE_POINTS) {
        let mut scores = user_scores(table, &step_hidden[step], TAU)?;
        mask_history(&mut scores, masked);
        for (s, (_, _, pos)) in series.iter_mut().zip(&followed) {
            if let Some(r) = rank_of_target(&scores, *pos, masked) {
                s.points.push((step as f64, r as f64));
            }
        }
    }
    Ok(RankTrace {
        steps: step_hidden.len(),
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_steps_keep_the_ends_and_stay_bounded() {
        assert_eq!(trace_steps(3, 200), vec![0, 1, 2]);
        assert_eq!(trace_steps(10, 4), vec![0, 3, 6, 9]);
        assert_eq!(trace_steps(10, 1), vec![9]);
        let s = trace_steps(640, TRACE_POINTS);
        assert_eq!((s.len(), s[0], *s.last().unwrap()), (TRACE_POINTS, 0, 639));
    }
}
