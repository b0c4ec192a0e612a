//! What the inspector shows about a sampled group: each chain's RecPO reward and GRPO
//! advantage (SPEC §5.3–5.4, the same `fused_reward` and `advantages` the trainer uses).
//! Rankings, rank changes and the rank trace are the pipeline's (`crate::rec`).

use crate::rec::ranking::Ranking;
use crate::train::advantage::{advantages, AdvantageKind};
use crate::train::reward::{fused_reward, Reward, RewardConfig};

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
    use crate::rec::ranking::rank_changes;
    use crate::tui::testing::{tiny_data, tiny_table};

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
