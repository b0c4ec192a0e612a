//! The fused reward of RecPO (SPEC §5.3): R = (1 - beta) * R_d + beta * R_c, where R_d is
//! NDCG@k of the target's rank over the full catalogue (k = 1000) and R_c is the softmax
//! over all items of the scores (already divided by tau), taken at the target.

use crate::eval::metrics::ndcg::ndcg_at;
use crate::model::generate::events::StopReason;
use crate::rec::rank::rank_of_target;

/// Which reward the policy is trained on (the paper's ablations are the two halves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RewardKind {
    #[default]
    Fused,
    /// R_d only.
    Ranking,
    /// R_c only.
    Similarity,
}

impl RewardKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fused" => Some(Self::Fused),
            "ranking" => Some(Self::Ranking),
            "similarity" => Some(Self::Similarity),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Fused => "fused",
            Self::Ranking => "ranking",
            Self::Similarity => "similarity",
        }
    }
}

/// Which chains earn the format bonus (`answer_bonus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerBonusOn {
    /// Chains that write `<answer>` themselves: SPEC §2's stop string.
    #[default]
    Written,
    /// Chains that end by themselves: write `<answer>`, or end their turn and have it
    /// placed after them. What runs meant before the setting existed; it pays a policy
    /// for ending its turn early, so it does not teach it to write `<answer>`.
    Ended,
}

impl std::fmt::Display for AnswerBonusOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl AnswerBonusOn {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "written" => Some(Self::Written),
            "ended" => Some(Self::Ended),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Written => "written",
            Self::Ended => "ended",
        }
    }

    /// Whether a chain that stopped for `stop` earns the bonus.
    pub fn pays(self, stop: StopReason) -> bool {
        match self {
            Self::Written => stop == StopReason::StopString,
            Self::Ended => stop.answered(),
        }
    }

    /// A config written before the setting existed paid chains that ended either way.
    fn before_the_setting() -> Self {
        Self::Ended
    }
}

/// Settings of the reward, SPEC defaults.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RewardConfig {
    pub kind: RewardKind,
    pub beta: f64,
    /// Cut-off of the ranking reward's NDCG; 0 is the whole catalogue (`--ndcg-k all`, a
    /// named setting: NDCG@1000 is flat past rank 50 and 0 past 1000, so on a CPU
    /// budget most chains would get no ranking signal at all).
    pub ndcg_k: usize,
    /// Added to the reward of a chain that reached `<answer>` by itself within the
    /// token budget (`answer_bonus_on` says which count; 0: off, the paper's reward). A named format reward: a chain cut
    /// at the budget is scored all the same, so nothing else teaches the policy to
    /// finish its reasoning.
    #[serde(default)]
    pub answer_bonus: f64,
    /// Which chains the bonus pays: those that write `<answer>` (the default) or those
    /// that end by themselves either way.
    #[serde(default = "AnswerBonusOn::before_the_setting")]
    pub answer_bonus_on: AnswerBonusOn,
    /// Reasoning tokens a chain must write before `<answer>` to earn the bonus (0: any,
    /// what runs meant before the setting existed). A chain that ends sooner loses the
    /// bonus instead: without this, a policy learns to write `<answer>` at once, which
    /// ends the chain, dodges the repetition penalty and skips the reasoning altogether.
    #[serde(default)]
    pub answer_min_tokens: usize,
    /// Below `answer_min_tokens`, the bonus grows with the reasoning written instead of
    /// being taken away whole: from -bonus at none, through 0 at half the minimum, to
    /// +bonus at the minimum. With the flat rule, once a policy answers at once or
    /// nearly, every chain loses the same bonus and nothing points to longer
    /// reasoning; the ramp pays each token of it (false: the flat rule).
    #[serde(default)]
    pub answer_min_ramp: bool,
    /// Subtracted from a chain's reward, times its repeated 4-gram share
    /// (`eval::health`; 0: off, the paper's reward). A named format penalty: the
    /// ranking reward does not see a chain that loops on one line, so nothing else
    /// teaches the policy not to.
    #[serde(default)]
    pub repeat_penalty: f64,
}

impl Default for RewardConfig {
    fn default() -> Self {
        Self {
            kind: RewardKind::Fused,
            beta: 0.05,
            ndcg_k: 1000,
            answer_bonus: 0.0,
            answer_bonus_on: AnswerBonusOn::Written,
            answer_min_tokens: 0,
            answer_min_ramp: false,
            repeat_penalty: 0.0,
        }
    }
}

/// `reward` with the format terms of `cfg`: the bonus when the chain's `stop` earns it
/// (`answer_bonus_on`) after `reasoning_tokens` of reasoning (minus the bonus when that
/// is fewer than `answer_min_tokens`, or part of it with `answer_min_ramp`), less the
/// repetition penalty times its repeated 4-gram share `repeat4`. The ranking and
/// similarity parts are left as they were, for the logs.
pub fn shaped(
    cfg: &RewardConfig,
    reward: Reward,
    stop: StopReason,
    repeat4: f64,
    reasoning_tokens: usize,
) -> Reward {
    let bonus = if !cfg.answer_bonus_on.pays(stop) {
        0.0
    } else if reasoning_tokens >= cfg.answer_min_tokens {
        cfg.answer_bonus
    } else if cfg.answer_min_ramp {
        // reasoning_tokens < answer_min_tokens, so the divisor is at least 1.
        let share = reasoning_tokens as f64 / cfg.answer_min_tokens as f64;
        cfg.answer_bonus * (2.0 * share - 1.0)
    } else {
        -cfg.answer_bonus
    };
    Reward {
        reward: reward.reward + bonus - cfg.repeat_penalty * repeat4,
        ..reward
    }
}

/// One chain's reward and its two parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reward {
    pub reward: f64,
    /// R_d: NDCG@k of the target's rank.
    pub ndcg: f64,
    /// R_c: softmax probability of the target among all unmasked items.
    pub softmax: f64,
    /// 1-based rank of the target (None when it is masked or out of range).
    pub rank: Option<usize>,
}

/// R_c: `exp(s_target) / sum_v exp(s_v)` over the unmasked items (masked items have
/// probability 0, as with a score of -inf). Computed in f64 with the max subtracted so
/// that scores of up to 1/tau = 50 do not overflow. A masked or non-finite target gets 0.
pub fn softmax_at(scores: &[f32], target: usize, masked: &[usize]) -> f64 {
    let Some(&st) = scores.get(target) else {
        return 0.0;
    };
    if masked.contains(&target) || !st.is_finite() {
        return 0.0;
    }
    let mut is_masked = vec![false; scores.len()];
    for &m in masked {
        if let Some(f) = is_masked.get_mut(m) {
            *f = true;
        }
    }
    let live = || {
        scores
            .iter()
            .zip(&is_masked)
            .filter(|(s, m)| !**m && s.is_finite())
            .map(|(s, _)| *s as f64)
    };
    let max = live().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = live().map(|s| (s - max).exp()).sum();
    ((st as f64 - max).exp()) / sum
}

/// The reward of one chain whose user vector gave `scores` (cos / tau for every item in
/// table order), with the user's history positions `masked`.
pub fn fused_reward(cfg: &RewardConfig, scores: &[f32], target: usize, masked: &[usize]) -> Reward {
    let rank = rank_of_target(scores, target, masked);
    let k = if cfg.ndcg_k == 0 {
        usize::MAX
    } else {
        cfg.ndcg_k
    };
    let ndcg = ndcg_at(rank, k);
    let softmax = softmax_at(scores, target, masked);
    let reward = match cfg.kind {
        RewardKind::Fused => (1.0 - cfg.beta) * ndcg + cfg.beta * softmax,
        RewardKind::Ranking => ndcg,
        RewardKind::Similarity => softmax,
    };
    Reward {
        reward,
        ndcg,
        softmax,
        rank,
    }
}

#[cfg(test)]
mod all_k_tests {
    use super::*;

    #[test]
    fn ndcg_over_the_whole_catalogue_rewards_every_rank() {
        // 2000 items, the target 1500th: NDCG@1000 gives nothing, NDCG@all gives
        // 1 / log2(1501).
        let scores: Vec<f32> = (0..2000).map(|i| -(i as f32)).collect();
        let at_1000 = fused_reward(&RewardConfig::default(), &scores, 1499, &[]);
        assert_eq!(at_1000.ndcg, 0.0);
        let all = RewardConfig {
            ndcg_k: 0,
            ..Default::default()
        };
        let r = fused_reward(&all, &scores, 1499, &[]);
        assert!((r.ndcg - 1.0 / 1501f64.log2()).abs() < 1e-12, "{r:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_by_hand() {
        // exp(2) / (exp(0) + exp(1) + exp(2)) with item 3 masked.
        let s = [0.0f32, 1.0, 2.0, 40.0];
        let want = 2f64.exp() / (1.0 + 1f64.exp() + 2f64.exp());
        assert!((softmax_at(&s, 2, &[3]) - want).abs() < 1e-12);
        assert_eq!(softmax_at(&s, 3, &[3]), 0.0);
        assert_eq!(softmax_at(&s, 9, &[]), 0.0);
        // Scores of 1/tau = 50 do not overflow.
        let big = [50.0f32, 50.0];
        assert!((softmax_at(&big, 0, &[]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn fused_by_hand() {
        // Target (index 1) ranks 2nd after index 0; index 2 is masked.
        let s = [3.0f32, 2.0, 9.0, 1.0];
        let cfg = RewardConfig::default();
        let r = fused_reward(&cfg, &s, 1, &[2]);
        assert_eq!(r.rank, Some(2));
        let ndcg = 1.0 / 3f64.log2();
        let sm = 2f64.exp() / (3f64.exp() + 2f64.exp() + 1f64.exp());
        assert!((r.ndcg - ndcg).abs() < 1e-12);
        assert!((r.softmax - sm).abs() < 1e-12);
        assert!((r.reward - (0.95 * ndcg + 0.05 * sm)).abs() < 1e-12);
        let only_rank = RewardConfig {
            kind: RewardKind::Ranking,
            ..cfg
        };
        assert_eq!(fused_reward(&only_rank, &s, 1, &[2]).reward, r.ndcg);
        let only_sim = RewardConfig {
            kind: RewardKind::Similarity,
            ..cfg
        };
        assert_eq!(fused_reward(&only_sim, &s, 1, &[2]).reward, r.softmax);
    }

    /// Ties rank the target after equal scores at lower positions (the metrics' rule),
    /// and a rank past k earns no ranking reward.
    #[test]
    fn ties_and_cutoff() {
        let s = [1.0f32, 1.0, 1.0];
        let cfg = RewardConfig {
            ndcg_k: 2,
            ..RewardConfig::default()
        };
        assert_eq!(fused_reward(&cfg, &s, 0, &[]).rank, Some(1));
        let last = fused_reward(&cfg, &s, 2, &[]);
        assert_eq!(last.rank, Some(3));
        assert_eq!(last.ndcg, 0.0);
        assert!((last.softmax - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn format_terms_reward_answering_and_penalise_repeats() {
        use StopReason::{EndOfTurn, MaxTokens, StopString};
        let s = [3.0f32, 2.0, 9.0, 1.0];
        let plain = RewardConfig::default();
        let r = fused_reward(&plain, &s, 1, &[2]);
        assert_eq!(shaped(&plain, r, StopString, 0.9, 10), r, "off by default");
        let cfg = RewardConfig {
            answer_bonus: 0.1,
            repeat_penalty: 0.5,
            ..plain
        };
        assert_eq!(cfg.answer_bonus_on, AnswerBonusOn::Written, "the default");
        assert_eq!(shaped(&cfg, r, MaxTokens, 0.0, 10), r);
        let b = shaped(&cfg, r, StopString, 0.0, 10);
        assert!((b.reward - (r.reward + 0.1)).abs() < 1e-12);
        assert_eq!((b.ndcg, b.softmax, b.rank), (r.ndcg, r.softmax, r.rank));
        // Ending the turn is not writing `<answer>`: no bonus unless asked for.
        assert_eq!(shaped(&cfg, r, EndOfTurn, 0.0, 10), r);
        let ended = RewardConfig {
            answer_bonus_on: AnswerBonusOn::Ended,
            ..cfg
        };
        for stop in [StopString, EndOfTurn] {
            let e = shaped(&ended, r, stop, 0.0, 10);
            assert!((e.reward - (r.reward + 0.1)).abs() < 1e-12, "{stop:?}");
        }
        assert_eq!(shaped(&ended, r, MaxTokens, 0.0, 10), r);
        let looped = shaped(&cfg, r, MaxTokens, 0.8, 10);
        assert!((looped.reward - (r.reward - 0.4)).abs() < 1e-12);
        let both = shaped(&cfg, r, StopString, 0.2, 10);
        assert!((both.reward - (r.reward + 0.1 - 0.1)).abs() < 1e-12);
        // Configs written before the settings existed read as off, and a bonus from
        // before `answer_bonus_on` existed keeps paying what it paid.
        let old = r#"{"kind": "fused", "beta": 0.05, "ndcg_k": 0}"#;
        let read: RewardConfig = serde_json::from_str(old).unwrap();
        assert_eq!((read.answer_bonus, read.repeat_penalty), (0.0, 0.0));
        let old = r#"{"kind": "fused", "beta": 0.05, "ndcg_k": 0, "answer_bonus": 0.05}"#;
        let read: RewardConfig = serde_json::from_str(old).unwrap();
        assert_eq!(read.answer_bonus_on, AnswerBonusOn::Ended);
        assert_eq!(read.answer_min_tokens, 0);
        let text = serde_json::to_string(&cfg).unwrap();
        assert!(text.contains(r#""answer_bonus_on":"written""#), "{text}");
        assert_eq!(serde_json::from_str::<RewardConfig>(&text).unwrap(), cfg);
    }

    /// With a minimum, `<answer>` pays only after that much reasoning; written sooner,
    /// it costs the bonus, so answering at once scores below a chain cut at the budget.
    #[test]
    fn answering_before_the_minimum_costs_the_bonus() {
        use StopReason::{MaxTokens, StopString};
        let s = [3.0f32, 2.0, 9.0, 1.0];
        let cfg = RewardConfig {
            answer_bonus: 0.3,
            answer_min_tokens: 16,
            ..RewardConfig::default()
        };
        let r = fused_reward(&cfg, &s, 1, &[2]);
        let at_once = shaped(&cfg, r, StopString, 0.0, 0);
        assert!((at_once.reward - (r.reward - 0.3)).abs() < 1e-12);
        let short = shaped(&cfg, r, StopString, 0.0, 15);
        assert_eq!(short.reward, at_once.reward);
        let reasoned = shaped(&cfg, r, StopString, 0.0, 16);
        assert!((reasoned.reward - (r.reward + 0.3)).abs() < 1e-12);
        // A chain cut by the budget neither earns nor loses the bonus, however short.
        assert_eq!(shaped(&cfg, r, MaxTokens, 0.0, 0), r);
        assert!(shaped(&cfg, r, MaxTokens, 0.0, 0).reward > at_once.reward);
    }

    /// With the ramp, each token of reasoning before `<answer>` pays: -bonus at none,
    /// 0 at half the minimum, +bonus from the minimum on; a cut chain is unchanged.
    #[test]
    fn the_ramp_pays_each_token_of_reasoning_up_to_the_minimum() {
        use StopReason::{MaxTokens, StopString};
        let s = [3.0f32, 2.0, 9.0, 1.0];
        let cfg = RewardConfig {
            answer_bonus: 0.3,
            answer_min_tokens: 16,
            answer_min_ramp: true,
            ..RewardConfig::default()
        };
        let r = fused_reward(&cfg, &s, 1, &[2]);
        let at = |n| shaped(&cfg, r, StopString, 0.0, n).reward - r.reward;
        assert!((at(0) + 0.3).abs() < 1e-12);
        assert!(at(8).abs() < 1e-12);
        assert!((at(12) - 0.15).abs() < 1e-12);
        assert!((at(16) - 0.3).abs() < 1e-12 && (at(40) - 0.3).abs() < 1e-12);
        assert!((1..16).all(|n| at(n) > at(n - 1)));
        assert_eq!(shaped(&cfg, r, MaxTokens, 0.0, 3), r);
        // Configs from before the setting read as the flat rule.
        let old = r#"{"kind": "fused", "beta": 0.05, "ndcg_k": 0, "answer_min_tokens": 16}"#;
        assert!(
            !serde_json::from_str::<RewardConfig>(old)
                .unwrap()
                .answer_min_ramp
        );
    }
}
