//! Every knob of RecPO (SPEC §5) with the reference's default, and the paper's
//! ablations as settings. The resolved config is written to the run folder, and a
//! resumed run reads it back from there.

use serde::{Deserialize, Serialize};

use super::advantage::AdvantageKind;
use super::reward::RewardConfig;
use crate::model::sampling::Sampling;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecPoConfig {
    /// Optimizer steps to run (the step counter ends here).
    pub steps: usize,
    /// B: users per step.
    pub users_per_step: usize,
    /// G: reasoning chains sampled per user.
    pub group_size: usize,
    pub max_new_tokens: usize,
    /// Rollout sampling (SPEC §5.1: temperature 2.0, top-k 50).
    pub temperature: f64,
    pub top_k: usize,
    /// Chains of each group decoded greedily instead of sampled (0: off, the paper's
    /// rollouts). A named approximation: evaluation decodes greedily, and a greedy
    /// chain that loops while sampled ones do not is otherwise never seen, so never
    /// pushed down; in the group it gets an advantage like any chain.
    pub greedy_chains: usize,
    pub reward: RewardConfig,
    pub advantage: AdvantageKind,
    /// GRPO's std divisor at least this (0: off, the paper's GRPO).
    pub adv_std_floor: f64,
    /// Asymmetric clip range of the ratio: [1 - eps_low, 1 + eps_high].
    pub eps_low: f64,
    pub eps_high: f64,
    /// Chains per group whose h_T gets the item loss (top-k relabel).
    pub item_top_k: usize,
    pub lr: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_eps: f64,
    pub max_grad_norm: f64,
    /// The "w/o reasoning" ablation: h_T right after the prompt and `<answer>`,
    /// contrastive item loss only, no rollouts.
    pub no_reasoning: bool,
    /// Full evaluation (the whole table rebuilt, the first `eval_limit` examples of
    /// valid and test) every this many steps (0: never; `r2ec eval` is the full one).
    pub eval_every: usize,
    /// Evaluate on the first N examples of each split (None: all).
    pub eval_limit: Option<usize>,
    pub eval_max_new_tokens: usize,
    /// Write sampled chains to rollouts.jsonl every this many steps (0: never).
    pub rollout_log_every: usize,
    pub history_window: usize,
    pub tau: f32,
    /// A tau schedule (a named setting; None: tau fixed, as the paper has it): tau moves
    /// geometrically from `tau` to `tau_end` over the first `tau_steps` optimizer steps,
    /// then stays at `tau_end`. Starting warm (a high tau, soft targets) while the item
    /// vectors are still nearly parallel, then sharpening.
    pub tau_end: Option<f32>,
    pub tau_steps: usize,
    /// Prompts per forward pass when encoding items or evaluating.
    pub encode_batch: usize,
    /// Chains per differentiable forward/backward (memory grows with it).
    pub train_micro_batch: usize,
    /// The valid probe (`train::probe`): examples, and every how many steps (0: never).
    /// The run's best checkpoint is the one with the best probe N@10.
    pub probe_size: usize,
    pub probe_every: usize,
    /// Seed of the probe's draw (None: the run's seed), so a run with a new data order
    /// can still be watched on the same examples as the run it continues or is compared
    /// with.
    pub probe_seed: Option<u64>,
    /// Rebuild the whole item table through the current adapter every this many steps
    /// (0: never; between rebuilds only the batch targets' rows are refreshed).
    pub table_every: usize,
    /// Centring (`crate::rec::centre`, off by default): users and items scored after
    /// removing the mean of the starting table's rows; the centre is kept with the run
    /// and every checkpoint.
    pub centre: bool,
    /// The logQ correction of in-batch negatives in the item loss (`ItemScoring`).
    pub logq: bool,
    /// Weight of the full-table term of the contrastive step (0: off, the paper's
    /// loss): each user vector's cross-entropy against every row of the run's item
    /// table, history masked, on the user side only (`loss::table_logprobs`).
    pub table_loss: f64,
    /// Weight of the same full-table term in RecPO's item loss (0: off, the paper's
    /// loss): the top chains' h_T against every row of the table, history masked, with
    /// their advantage, on the user side only.
    pub recpo_table_loss: f64,
    /// Weight of RecPO's token loss in the total (1: the paper's `token + item`). Below
    /// 1 the item loss steers the shared top layers more than the sampled chains'
    /// policy gradient does; a named setting for small models and batches.
    pub token_loss_weight: f64,
    /// Weight of the ending loss (0: off, the paper's loss): the cross-entropy of the
    /// `<answer>` appended to each group's best chain when that chain ran out of
    /// budget (its own ending, no annotated text), so the tag it would be paid for
    /// becomes likely enough to be sampled (`step::ending_chain`).
    pub ending_loss: f64,
    /// Catalogue items drawn uniformly per contrastive step and encoded by the current
    /// adapter as extra negatives (mixed negative sampling; 0: off, the paper's
    /// in-batch negatives). With `logq`, every column is corrected by its expected count.
    pub uniform_negatives: usize,
    /// Item alignment before RecPO: the first `align_steps` steps are the w/o-reasoning
    /// contrastive step on `align_users_per_step` users, at `align_lr` (None: `lr`).
    /// A w/o-reasoning run given the same numbers takes the same first steps.
    pub align_steps: usize,
    pub align_users_per_step: usize,
    pub align_lr: Option<f64>,
    /// The checkpoint the run started from (None: a fresh adapter); for the record.
    pub init: Option<std::path::PathBuf>,
    /// Training users that checkpoint had already seen (0 for a fresh adapter): where
    /// this run's count of users seen starts, so runs that share a start compare at
    /// equal budgets (`plot --x users`).
    pub init_users: usize,
    pub seed: u64,
    /// Where the run branched from another (`train --fork`), oldest first; for the
    /// record. Empty for a run trained in one folder from its first step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forks: Vec<ForkRecord>,
}

/// One branch point of a forked run: the parent run folder, the step it was forked at,
/// and the settings that changed there (`name: old -> new`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkRecord {
    pub from: std::path::PathBuf,
    pub step: usize,
    pub changed: Vec<String>,
}

impl Default for RecPoConfig {
    fn default() -> Self {
        Self {
            steps: 200,
            users_per_step: 4,
            group_size: 4,
            max_new_tokens: 640,
            temperature: 2.0,
            top_k: 50,
            greedy_chains: 0,
            reward: RewardConfig::default(),
            advantage: AdvantageKind::Grpo,
            adv_std_floor: 0.0,
            eps_low: 0.2,
            eps_high: 0.28,
            item_top_k: 1,
            lr: 1e-5,
            warmup_steps: 32,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            max_grad_norm: 1.0,
            no_reasoning: false,
            eval_every: 0,
            eval_limit: None,
            eval_max_new_tokens: 640,
            rollout_log_every: 10,
            history_window: crate::data::prompt::HISTORY_WINDOW,
            tau: crate::rec::TAU,
            tau_end: None,
            tau_steps: 0,
            encode_batch: 16,
            train_micro_batch: 1,
            probe_size: 256,
            probe_every: 25,
            probe_seed: None,
            table_every: 25,
            centre: false,
            logq: false,
            table_loss: 0.0,
            recpo_table_loss: 0.0,
            token_loss_weight: 1.0,
            ending_loss: 0.0,
            uniform_negatives: 0,
            align_steps: 0,
            align_users_per_step: 64,
            align_lr: None,
            init: None,
            init_users: 0,
            seed: 0,
            forks: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("setting `{field}`: {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

impl RecPoConfig {
    pub fn rollout_sampling(&self) -> Sampling {
        if self.temperature <= 0.0 {
            Sampling::ArgMax
        } else if self.top_k == 0 {
            Sampling::All {
                temperature: self.temperature,
            }
        } else {
            Sampling::TopK {
                k: self.top_k,
                temperature: self.temperature,
            }
        }
    }

    /// Values that would make a step meaningless or crash it are refused up front.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, message: &str| {
            Err(ConfigError {
                field,
                message: message.to_string(),
            })
        };
        if self.users_per_step == 0 {
            return bad("users_per_step", "must be at least 1");
        }
        if self.group_size == 0 {
            return bad("group_size", "must be at least 1");
        }
        if !self.no_reasoning && self.max_new_tokens == 0 {
            return bad("max_new_tokens", "must be at least 1 with reasoning");
        }
        if !(self.eps_low >= 0.0 && self.eps_low < 1.0) {
            return bad("eps_low", "must be in [0, 1)");
        }
        if !(self.eps_high >= 0.0 && self.eps_high.is_finite()) {
            return bad("eps_high", "must be a finite number >= 0");
        }
        if !(self.lr >= 0.0 && self.lr.is_finite()) {
            return bad("lr", "must be a finite number >= 0");
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return bad("max_grad_norm", "must be > 0");
        }
        if !(self.tau > 0.0 && self.tau.is_finite()) {
            return bad("tau", "must be a finite number > 0");
        }
        if let Some(end) = self.tau_end {
            if !(end > 0.0 && end.is_finite()) {
                return bad("tau_end", "must be a finite number > 0");
            }
            if self.tau_steps == 0 {
                return bad("tau_steps", "must be > 0 when tau_end is given");
            }
        }
        if !(self.adv_std_floor >= 0.0 && self.adv_std_floor.is_finite()) {
            return bad("adv_std_floor", "must be a finite number >= 0");
        }
        if !(self.table_loss >= 0.0 && self.table_loss.is_finite()) {
            return bad("table_loss", "must be a finite number >= 0");
        }
        if !(self.token_loss_weight >= 0.0 && self.token_loss_weight.is_finite()) {
            return bad("token_loss_weight", "must be a finite number >= 0");
        }
        if !(self.ending_loss >= 0.0 && self.ending_loss.is_finite()) {
            return bad("ending_loss", "must be a finite number >= 0");
        }
        if !(self.recpo_table_loss >= 0.0 && self.recpo_table_loss.is_finite()) {
            return bad("recpo_table_loss", "must be a finite number >= 0");
        }
        if self.align_steps > 0 && self.align_users_per_step == 0 {
            return bad("align_users_per_step", "must be at least 1");
        }
        if let Some(lr) = self.align_lr {
            if !(lr >= 0.0 && lr.is_finite()) {
                return bad("align_lr", "must be a finite number >= 0");
            }
        }
        if !(0.0..=1.0).contains(&self.reward.beta) {
            return bad("reward.beta", "must be in [0, 1]");
        }
        if !(self.reward.answer_bonus >= 0.0 && self.reward.answer_bonus.is_finite()) {
            return bad("reward.answer_bonus", "must be a finite number >= 0");
        }
        if !(self.reward.repeat_penalty >= 0.0 && self.reward.repeat_penalty.is_finite()) {
            return bad("reward.repeat_penalty", "must be a finite number >= 0");
        }
        if self.greedy_chains >= self.group_size {
            return bad(
                "greedy_chains",
                "must be below group_size: a group needs a sampled chain",
            );
        }
        Ok(())
    }

    /// Whether step `step` (0-based) is an alignment step (the contrastive loss).
    pub fn aligning(&self, step: usize) -> bool {
        step < self.align_steps
    }

    /// Whether step `step` takes the w/o-reasoning contrastive loss.
    pub fn contrastive_at(&self, step: usize) -> bool {
        self.no_reasoning || self.aligning(step)
    }

    /// Users in step `step`'s batch.
    pub fn users_at(&self, step: usize) -> usize {
        if self.aligning(step) {
            self.align_users_per_step
        } else {
            self.users_per_step
        }
    }

    /// Training users seen once `steps` steps are done, counting those of the
    /// checkpoint the run started from.
    pub fn users_seen(&self, steps: usize) -> usize {
        let aligned = steps.min(self.align_steps);
        self.init_users
            + aligned * self.align_users_per_step
            + (steps - aligned) * self.users_per_step
    }

    /// Tau at optimizer step `step` (0-based): `tau`, or the schedule's value.
    pub fn tau_at(&self, step: usize) -> f32 {
        match self.tau_end {
            Some(end) if self.tau_steps > 0 => {
                let f = step.min(self.tau_steps) as f64 / self.tau_steps as f64;
                let (start, end) = (f64::from(self.tau), f64::from(end));
                (start * (end / start).powf(f)) as f32
            }
            _ => self.tau,
        }
    }

    /// The settings optimizer step `step` (0-based) runs with: tau as scheduled.
    pub fn at_step(&self, step: usize) -> RecPoConfig {
        RecPoConfig {
            tau: self.tau_at(step),
            ..self.clone()
        }
    }

    /// Learning rate at optimizer step `step` (0-based): linear warm-up from 0, then
    /// constant (transformers' `get_constant_schedule_with_warmup`). The alignment
    /// stage and what follows it each warm up from their first step.
    pub fn lr_at(&self, step: usize) -> f64 {
        let (lr, local) = if self.aligning(step) {
            (self.align_lr.unwrap_or(self.lr), step)
        } else {
            (self.lr, step - self.align_steps.min(step))
        };
        if local < self.warmup_steps {
            lr * local as f64 / self.warmup_steps as f64
        } else {
            lr
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tau_schedule_is_geometric_then_constant() {
        let fixed = RecPoConfig {
            tau: 0.2,
            ..Default::default()
        };
        assert_eq!((fixed.tau_at(0), fixed.tau_at(1000)), (0.2, 0.2));
        let c = RecPoConfig {
            tau: 0.2,
            tau_end: Some(0.05),
            tau_steps: 100,
            ..Default::default()
        };
        assert!((c.tau_at(0) - 0.2).abs() < 1e-7);
        // Halfway in log space: sqrt(0.2 * 0.05) = 0.1.
        assert!((c.tau_at(50) - 0.1).abs() < 1e-6, "{}", c.tau_at(50));
        assert!((c.tau_at(100) - 0.05).abs() < 1e-7);
        assert_eq!(c.tau_at(500), c.tau_at(100));
        assert!(c.tau_at(30) > c.tau_at(31));
        let step = c.at_step(50);
        assert_eq!(
            (step.tau, step.tau_end, step.lr),
            (c.tau_at(50), c.tau_end, c.lr)
        );
        assert!(c.validate().is_ok());
        let no_steps = RecPoConfig {
            tau_steps: 0,
            ..c.clone()
        };
        assert!(no_steps
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tau_steps"));
        let bad_end = RecPoConfig {
            tau_end: Some(0.0),
            ..c
        };
        assert!(bad_end
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tau_end"));
    }

    #[test]
    fn warmup_then_constant() {
        let c = RecPoConfig {
            lr: 1e-3,
            warmup_steps: 4,
            ..Default::default()
        };
        let lrs: Vec<f64> = (0..6).map(|s| c.lr_at(s)).collect();
        assert_eq!(lrs, vec![0.0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3]);
        let none = RecPoConfig {
            warmup_steps: 0,
            ..c
        };
        assert_eq!(none.lr_at(0), 1e-3);
    }

    #[test]
    fn alignment_then_recpo_each_warm_up() {
        let c = RecPoConfig {
            lr: 1e-4,
            align_lr: Some(1e-3),
            align_steps: 3,
            align_users_per_step: 64,
            users_per_step: 8,
            warmup_steps: 2,
            ..Default::default()
        };
        let lrs: Vec<f64> = (0..6).map(|s| c.lr_at(s)).collect();
        assert_eq!(lrs, vec![0.0, 5e-4, 1e-3, 0.0, 5e-5, 1e-4]);
        assert_eq!(
            (0..5).map(|s| c.users_at(s)).collect::<Vec<_>>(),
            [64, 64, 64, 8, 8]
        );
        assert!(c.contrastive_at(2) && !c.contrastive_at(3));
        // Users seen sum the steps' batches, on top of the start's own users.
        assert_eq!(c.users_seen(0), 0);
        assert_eq!(
            c.users_seen(5),
            (0..5).map(|s| c.users_at(s)).sum::<usize>()
        );
        let later = RecPoConfig {
            init_users: 4480,
            ..c.clone()
        };
        assert_eq!(later.users_seen(5), 4480 + 3 * 64 + 2 * 8);
        let wo = RecPoConfig {
            no_reasoning: true,
            ..c
        };
        assert!(wo.contrastive_at(3));
    }

    #[test]
    fn config_round_trips_and_rejects_bad_values() {
        let c = RecPoConfig::default();
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains("\"advantage\":\"grpo\""), "{text}");
        assert_eq!(serde_json::from_str::<RecPoConfig>(&text).unwrap(), c);
        let err = RecPoConfig {
            group_size: 0,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.field, "group_size");
        let all_greedy = RecPoConfig {
            greedy_chains: 4,
            ..Default::default()
        };
        assert_eq!(all_greedy.validate().unwrap_err().field, "greedy_chains");
        let penalty = RecPoConfig {
            reward: RewardConfig {
                repeat_penalty: -0.1,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            penalty.validate().unwrap_err().field,
            "reward.repeat_penalty"
        );
        assert!(serde_json::from_str::<RecPoConfig>("{\"stepz\": 3}").is_err());
    }
}
