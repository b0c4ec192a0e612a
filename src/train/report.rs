//! How a training run tells its watcher what happens: a small trait called once per
//! step, evaluation, logged rollout sample and at the end, so a headless printer and
//! the TUI watch the same trainer (burn-train's renderer/learner split:
//! <https://github.com/tracel-ai/burn/blob/main/crates/burn-train/src/renderer/base.rs>).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One optimizer step, as logged in metrics.jsonl.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    /// Mean over the step's chains of the reward, R_d and R_c.
    pub reward: f64,
    pub ndcg: f64,
    pub softmax: f64,
    /// Mean advantage, and mean |advantage| (GRPO's mean is 0 by construction).
    pub advantage: f64,
    pub advantage_abs: f64,
    /// Mean sampled tokens per chain.
    pub reasoning_len: f64,
    /// Share of chains that wrote `<answer>` themselves, and the mean repeated-4-gram
    /// share of their tokens (`eval::health`).
    #[serde(default)]
    pub answered: f64,
    /// Share of chains that wrote `<answer>` themselves (the rest of `answered` ended
    /// their turn).
    #[serde(default)]
    pub wrote_answer: f64,
    /// Share of chains that wrote `<answer>` with nothing before it (part of
    /// `wrote_answer`: the reasoning skipped).
    #[serde(default)]
    pub wrote_at_once: f64,
    #[serde(default)]
    pub repeat4: f64,
    /// The same three for the greedy chains alone (with `greedy_chains`): what the
    /// probe will see, every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greedy_reward: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greedy_answered: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greedy_wrote_answer: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greedy_wrote_at_once: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greedy_repeat4: Option<f64>,
    pub loss: f64,
    pub token_loss: f64,
    pub item_loss: f64,
    /// The item side as plain in-batch cross-entropy, and its negatives per user.
    #[serde(default)]
    pub item_ce: f64,
    #[serde(default)]
    pub item_negatives: usize,
    /// The full-table term's cross-entropy (contrastive steps with `table_loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_ce: Option<f64>,
    /// The ending loss's mean -log p of the appended tags it trained, and the chains
    /// that had one (steps with `ending_loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ending_ce: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endings: Option<usize>,
    pub clip_frac: f64,
    pub lr: f64,
    /// The step's tau (its schedule's value; 0 in logs from before it was logged).
    #[serde(default)]
    pub tau: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    pub step_secs: f64,
    pub rollout_secs: f64,
    pub scoring_secs: f64,
    pub backward_secs: f64,
    /// Seconds of the whole item table's rebuild after this step, when one was due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_secs: Option<f64>,
    /// Sampled tokens and tokens through the differentiable forward, this step.
    pub rollout_tokens: usize,
    pub train_tokens: usize,
}

/// One evaluation: `eval` is {split: {"hit@5", ..., "ndcg@20"}}.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub step: usize,
    pub eval: Value,
    /// Mean reasoning length per split, in sampled tokens.
    pub reasoning_len: Value,
    pub eval_secs: f64,
}

impl EvalMetrics {
    /// Valid NDCG@10, the model-selection metric (SPEC §4).
    pub fn valid_ndcg10(&self) -> Option<f64> {
        self.eval.get("valid")?.get("ndcg@10")?.as_f64()
    }
}

/// One sampled chain with its reward and advantage, as in rollouts.jsonl.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainSample {
    pub text: String,
    pub tokens: usize,
    pub reward: f64,
    pub ndcg: f64,
    pub softmax: f64,
    pub rank: Option<usize>,
    pub advantage: f64,
    /// This chain's h_T received the item loss.
    pub top: bool,
    /// Decoded greedily (`greedy_chains`), not sampled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub greedy: bool,
}

/// One user's group of chains at one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSample {
    pub step: usize,
    pub user_id: String,
    pub target: String,
    pub chains: Vec<ChainSample>,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEnd {
    Finished { step: usize },
    Stopped { step: usize },
}

pub trait TrainReporter {
    fn on_step(&mut self, m: &StepMetrics);
    fn on_eval(&mut self, m: &EvalMetrics);
    fn on_rollouts(&mut self, samples: &[RolloutSample]);
    /// Free-form progress (item-table rebuilds, evaluation progress).
    fn on_status(&mut self, _text: &str) {}
    fn on_end(&mut self, end: &TrainEnd);
}

/// Prints one line per step and evaluation to stderr.
pub struct HeadlessReporter {
    pub total_steps: usize,
}

impl TrainReporter for HeadlessReporter {
    fn on_step(&mut self, m: &StepMetrics) {
        eprintln!(
            "step {:>5}/{}  reward {:.4}  ndcg {:.4}  softmax {:.2e}  len {:>6.1}  loss {:+.4} \
             (token {:+.4}, item {:+.4})  clip {:.3}  lr {:.2e}  |g| {:.3}  {:.1} s",
            m.step,
            self.total_steps,
            m.reward,
            m.ndcg,
            m.softmax,
            m.reasoning_len,
            m.loss,
            m.token_loss,
            m.item_loss,
            m.clip_frac,
            m.lr,
            m.grad_norm,
            m.step_secs
        );
    }

    fn on_eval(&mut self, m: &EvalMetrics) {
        eprintln!(
            "eval at step {}: {} (reasoning {}) in {:.1} s",
            m.step, m.eval, m.reasoning_len, m.eval_secs
        );
    }

    fn on_rollouts(&mut self, samples: &[RolloutSample]) {
        if let Some(s) = samples.first() {
            if let Some(c) = s.chains.iter().find(|c| c.top) {
                let text: String = c.text.chars().take(160).collect();
                eprintln!(
                    "  sample (user {}, reward {:.4}): {}",
                    s.user_id,
                    c.reward,
                    text.replace('\n', " ")
                );
            }
        }
    }

    fn on_status(&mut self, text: &str) {
        eprintln!("{text}");
    }

    fn on_end(&mut self, end: &TrainEnd) {
        match end {
            TrainEnd::Finished { step } => eprintln!("training finished at step {step}"),
            TrainEnd::Stopped { step } => eprintln!("training stopped at step {step}"),
        }
    }
}

/// Keeps everything it is told; for tests and for callers that poll.
#[derive(Debug, Default)]
pub struct CollectingReporter {
    pub steps: Vec<StepMetrics>,
    pub evals: Vec<EvalMetrics>,
    pub rollouts: Vec<RolloutSample>,
    pub end: Option<TrainEnd>,
}

impl TrainReporter for CollectingReporter {
    fn on_step(&mut self, m: &StepMetrics) {
        self.steps.push(m.clone());
    }
    fn on_eval(&mut self, m: &EvalMetrics) {
        self.evals.push(m.clone());
    }
    fn on_rollouts(&mut self, samples: &[RolloutSample]) {
        self.rollouts.extend_from_slice(samples);
    }
    fn on_end(&mut self, end: &TrainEnd) {
        self.end = Some(end.clone());
    }
}
