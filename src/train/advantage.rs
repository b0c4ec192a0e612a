//! Group-relative advantages of RecPO (SPEC §5.4): each user's G chains are compared
//! with each other, never across users.

/// How a chain's reward is turned into an advantage within its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvantageKind {
    /// A = (R - mean) / (std + 1e-8), std with Bessel's correction as in the
    /// reference's GRPO (torch's default).
    #[default]
    Grpo,
    /// Leave-one-out baseline: A_i = R_i - mean of the other rewards.
    Rloo,
}

impl AdvantageKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "grpo" => Some(Self::Grpo),
            "rloo" => Some(Self::Rloo),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Grpo => "grpo",
            Self::Rloo => "rloo",
        }
    }
}

const EPS: f64 = 1e-8;

/// Advantages of one user's group of rewards. A group of one has no baseline to compare
/// with, so its advantage is 0 (the reference's unbiased std would be NaN there).
pub fn advantages(kind: AdvantageKind, rewards: &[f64]) -> Vec<f64> {
    advantages_floored(kind, rewards, 0.0)
}

/// [`advantages`] with GRPO's divisor at least `std_floor` (`--adv-std-floor`, a named
/// setting, 0 = off): std + 1e-8 blows reward differences of 1e-5, which are noise,
/// up to ±1; a floor keeps them small. RLOO ignores it.
pub fn advantages_floored(kind: AdvantageKind, rewards: &[f64], std_floor: f64) -> Vec<f64> {
    let n = rewards.len();
    if n < 2 {
        return vec![0.0; n];
    }
    let sum: f64 = rewards.iter().sum();
    let mean = sum / n as f64;
    match kind {
        AdvantageKind::Grpo => {
            let var = rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let std = var.sqrt().max(std_floor);
            rewards.iter().map(|r| (r - mean) / (std + EPS)).collect()
        }
        AdvantageKind::Rloo => rewards
            .iter()
            .map(|r| r - (sum - r) / (n - 1) as f64)
            .collect(),
    }
}

#[cfg(test)]
mod floor_tests {
    use super::*;

    #[test]
    fn a_floor_keeps_noise_small_and_leaves_real_spreads_alone() {
        let noise = [1e-5, 2e-5, 1e-5, 3e-5];
        assert!(advantages(AdvantageKind::Grpo, &noise)[3] > 1.0);
        let floored = advantages_floored(AdvantageKind::Grpo, &noise, 0.01);
        assert!(floored.iter().all(|a| a.abs() < 0.01), "{floored:?}");
        let real = [0.1, 0.5, 0.2, 0.9];
        assert_eq!(
            advantages_floored(AdvantageKind::Grpo, &real, 0.01),
            advantages(AdvantageKind::Grpo, &real)
        );
    }
}

/// Indices of the `k` chains with the highest advantage (ties to the earlier chain):
/// the chains whose user vector is trained with the item loss (top-k relabel).
pub fn top_advantage(advantages: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..advantages.len()).collect();
    idx.sort_by(|&a, &b| advantages[b].total_cmp(&advantages[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpo_by_hand() {
        // mean 2, unbiased std 1.
        let a = advantages(AdvantageKind::Grpo, &[1.0, 2.0, 3.0]);
        let want = [-1.0, 0.0, 1.0];
        for (x, w) in a.iter().zip(want) {
            assert!((x - w).abs() < 1e-7, "{a:?}");
        }
    }

    #[test]
    fn rloo_by_hand() {
        let a = advantages(AdvantageKind::Rloo, &[1.0, 2.0, 6.0]);
        // 1 - 4, 2 - 3.5, 6 - 1.5
        assert_eq!(a, vec![-3.0, -1.5, 4.5]);
    }

    #[test]
    fn degenerate_groups() {
        for kind in [AdvantageKind::Grpo, AdvantageKind::Rloo] {
            assert_eq!(advantages(kind, &[0.7]), vec![0.0]);
            assert_eq!(advantages(kind, &[0.3, 0.3, 0.3, 0.3]), vec![0.0; 4]);
            assert!(advantages(kind, &[]).is_empty());
        }
    }

    #[test]
    fn top_advantage_breaks_ties_by_order() {
        assert_eq!(top_advantage(&[0.5, 1.0, 1.0, -2.0], 1), vec![1]);
        assert_eq!(top_advantage(&[0.5, 1.0, 1.0, -2.0], 2), vec![1, 2]);
        assert_eq!(top_advantage(&[], 1), Vec::<usize>::new());
    }
}
