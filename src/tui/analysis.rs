//! What the inspector shows about one run, computed from scores (pure, no model):
//! a ranking with the target's rank and the history masked, the rank trace over the
//! reasoning steps, rank changes between two rankings (with versus without reasoning,
//! or before and after a counterfactual edit), and a sampled group's RecPO rewards and
//! advantages (SPEC §5.3–5.4, the same `fused_reward` and `advantages` the trainer uses).

use crate::data::Catalog;
use crate::eval::metrics::{rank_of_target, top_k};
use crate::rec::score::{mask_history, user_scores, ScoreError};
use crate::rec::{ItemTable, TAU};
use crate::train::advantage::{advantages, AdvantageKind};
use crate::train::reward::{fused_reward, Reward, RewardConfig};

/// Points kept per trace series; longer chains are sampled evenly (ends kept).
pub const TRACE_POINTS: usize = 200;
/// Final top items followed in the rank trace, besides the target.
pub const TRACE_TOP: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct RankedItem {
    /// Row of the item table (= catalogue position).
    pub pos: usize,
    pub item_id: String,
    pub title: String,
    pub score: f32,
}

/// A full ranking of the catalogue for one user vector: scores of every row (history
/// masked to -inf), the top-K, and where the target landed.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub scores: Vec<f32>,
    pub masked: Vec<usize>,
    pub top: Vec<RankedItem>,
    /// Table row of the target, when there is one and it is in the table.
    pub target_pos: Option<usize>,
    /// 1-based rank of the target; `None` when masked or absent.
    pub target_rank: Option<usize>,
}

impl Ranking {
    pub fn from_scores(
        mut scores: Vec<f32>,
        table: &ItemTable,
        catalog: &Catalog,
        masked: &[usize],
        target: Option<&str>,
        k: usize,
    ) -> Self {
        mask_history(&mut scores, masked);
        let top = top_k(&scores, k, masked)
            .into_iter()
            .map(|(pos, score)| {
                let item_id = table.ids()[pos].clone();
                let title = catalog
                    .get(&item_id)
                    .map(|i| i.title.clone())
                    .unwrap_or_default();
                RankedItem {
                    pos,
                    item_id,
                    title,
                    score,
                }
            })
            .collect();
        let target_pos = target.and_then(|t| table.position(t));
        let target_rank = target_pos.and_then(|p| rank_of_target(&scores, p, masked));
        Self {
            scores,
            masked: masked.to_vec(),
            top,
            target_pos,
            target_rank,
        }
    }

    /// Score a user vector against the table.
    pub fn of_user_vector(
        table: &ItemTable,
        catalog: &Catalog,
        user_vector: &[f32],
        masked: &[usize],
        target: Option<&str>,
        k: usize,
    ) -> Result<Self, ScoreError> {
        let scores = user_scores(table, user_vector, TAU)?;
        Ok(Self::from_scores(scores, table, catalog, masked, target, k))
    }

    /// 1-based rank of any row under this ranking (`None` when masked).
    pub fn rank_of(&self, pos: usize) -> Option<usize> {
        rank_of_target(&self.scores, pos, &self.masked)
    }
}

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

/// How one item of the `after` top list moved relative to `before`.
#[derive(Debug, Clone, PartialEq)]
pub struct RankChange {
    pub item: RankedItem,
    pub rank_after: usize,
    /// Rank under `before` (`None` when the item was masked there).
    pub rank_before: Option<usize>,
}

impl RankChange {
    /// Positive when the item moved up.
    pub fn delta(&self) -> Option<i64> {
        self.rank_before.map(|b| b as i64 - self.rank_after as i64)
    }
}

/// The `after` top list, each item with its rank under `before`.
pub fn rank_changes(before: &Ranking, after: &Ranking) -> Vec<RankChange> {
    after
        .top
        .iter()
        .enumerate()
        .map(|(i, it)| RankChange {
            item: it.clone(),
            rank_after: i + 1,
            rank_before: before.rank_of(it.pos),
        })
        .collect()
}

/// One chain of a sampled group with what RecPO would make of it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMember {
    pub text: String,
    pub tokens: usize,
    pub top_title: String,
    pub reward: Option<Reward>,
    pub advantage: Option<f64>,
}

/// Rewards and GRPO advantages of a group of rankings for one target; without a target
/// (a hand-written history) there is nothing to reward.
pub fn group_rewards(rankings: &[Ranking]) -> (Vec<Option<Reward>>, Vec<Option<f64>>) {
    let cfg = RewardConfig::default();
    let rewards: Vec<Option<Reward>> = rankings
        .iter()
        .map(|r| {
            r.target_pos
                .map(|t| fused_reward(&cfg, &r.scores, t, &r.masked))
        })
        .collect();
    if rewards.iter().any(|r| r.is_none()) {
        return (rewards, vec![None; rankings.len()]);
    }
    let values: Vec<f64> = rewards.iter().flatten().map(|r| r.reward).collect();
    let adv = advantages(AdvantageKind::Grpo, &values)
        .into_iter()
        .map(Some)
        .collect();
    (rewards, adv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testing::{tiny_data, tiny_table};

    #[test]
    fn trace_steps_keep_the_ends_and_stay_bounded() {
        assert_eq!(trace_steps(3, 200), vec![0, 1, 2]);
        assert_eq!(trace_steps(10, 4), vec![0, 3, 6, 9]);
        assert_eq!(trace_steps(10, 1), vec![9]);
        let s = trace_steps(640, TRACE_POINTS);
        assert_eq!((s.len(), s[0], *s.last().unwrap()), (TRACE_POINTS, 0, 639));
    }

    #[test]
    fn rank_changes_and_group_rewards_by_hand() {
        let (data, table) = (tiny_data(), tiny_table());
        let before = Ranking::from_scores(
            vec![8., 7., 6., 5., 4., 3., 2., 1.],
            &table,
            &data.catalog,
            &[3],
            Some("2"),
            3,
        );
        let after = Ranking::from_scores(
            vec![1., 2., 3., 4., 5., 6., 7., 8.],
            &table,
            &data.catalog,
            &[3],
            Some("2"),
            3,
        );
        let ch = rank_changes(&before, &after);
        // After: 7, 6, 5 (item 3 masked). Before, they ranked 7, 6, 5 of the 7 unmasked.
        assert_eq!(
            ch.iter().map(|c| c.item.pos).collect::<Vec<_>>(),
            vec![7, 6, 5]
        );
        assert_eq!(ch[0].rank_before, Some(7));
        assert_eq!(ch[0].delta(), Some(6));
        assert_eq!(before.target_rank, Some(3));
        let (rewards, adv) = group_rewards(&[before.clone(), after.clone()]);
        let r0 = rewards[0].unwrap();
        assert_eq!(r0.rank, Some(3));
        assert!((r0.ndcg - 0.5).abs() < 1e-12, "1/log2(3+1)");
        // Two chains: GRPO gives +-1/sqrt(2) (Bessel's std of two values).
        let a = adv[0].unwrap();
        assert!((a - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-6, "{a}");
        assert!((adv[1].unwrap() + a).abs() < 1e-9);
        let no_target = Ranking::from_scores(vec![0.; 8], &table, &data.catalog, &[], None, 3);
        let (r, a) = group_rewards(&[no_target.clone(), no_target]);
        assert!(r.iter().all(Option::is_none) && a.iter().all(Option::is_none));
    }
}
