//! The RecPO training loop (SPEC §5): per step, a batch of users in a seeded order,
//! rollouts, rewards and advantages, the losses and their gradient, the global norm
//! clip, AdamW with warm-up, the refresh of the batch targets' item-table rows; every
//! so often the whole table rebuilt and an evaluation. Every step ends with a
//! checkpoint and then its log lines, so a killed run resumes where it stood.
//! The loop reports through [`TrainReporter`] and stops between steps when asked.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Map, Value};

use super::adapter::TrainableAdapter;
use super::checkpoint::{
    list_checkpoints, load_checkpoint, save_best, save_checkpoint, BestSoFar, TrainState,
};
use super::config::RecPoConfig;
use super::error::TrainError;
use super::evaluate::{evaluate_split, rebuild_table};
use super::metrics_log::JsonLines;
use super::optim::{clip_grad_norm, AdamW, AdamWParams};
use super::report::{
    ChainSample, EvalMetrics, RolloutSample, StepMetrics, TrainEnd, TrainReporter,
};
use super::rollout::{rows_of, sample_groups, user_prompt_ids};
use super::step::{contrastive_loss, recpo_loss, StepLoss};
use crate::data::prepared::{PreparedDataset, Split};
use crate::data::Example;
use crate::model::loaded::LoadedModel;
use crate::rec::{batch_user_scores, mask_history, ItemTable};
use crate::util::atomic::write_atomic;

/// Per chain: reward, R_d, R_c, advantage, sampled tokens.
type ChainStats = (f64, f64, f64, f64, usize);

pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const ROLLOUTS_FILE: &str = "rollouts.jsonl";

pub struct RecPo<'a> {
    model: &'a LoadedModel,
    adapter: &'a dyn TrainableAdapter,
    data: &'a PreparedDataset,
    cfg: RecPoConfig,
    run_dir: PathBuf,
    table: ItemTable,
    optim: AdamW,
    state: TrainState,
    metrics: JsonLines,
    rollouts: JsonLines,
}

impl<'a> RecPo<'a> {
    /// Start a run in `run_dir` from `table` (the item table of the adapter as it is),
    /// or, with `resume`, continue from the run's latest checkpoint (log lines past it
    /// are dropped). A fresh start refuses a folder that already holds a run.
    pub fn open(
        model: &'a LoadedModel,
        adapter: &'a dyn TrainableAdapter,
        data: &'a PreparedDataset,
        cfg: RecPoConfig,
        run_dir: &Path,
        table: ItemTable,
        resume: bool,
    ) -> Result<Self, TrainError> {
        cfg.validate()?;
        if data.train.is_empty() {
            return Err(TrainError::Input(format!(
                "{}: the train split is empty",
                data.dir.display()
            )));
        }
        std::fs::create_dir_all(run_dir).map_err(|source| TrainError::Io {
            path: run_dir.to_path_buf(),
            source,
        })?;
        let params = AdamWParams {
            beta1: cfg.adam_beta1,
            beta2: cfg.adam_beta2,
            eps: cfg.adam_eps,
            weight_decay: cfg.weight_decay,
        };
        let mut optim = AdamW::new(adapter.vars(), params)?;
        let metrics = JsonLines::new(run_dir.join(METRICS_FILE));
        let rollouts = JsonLines::new(run_dir.join(ROLLOUTS_FILE));
        let checkpoints = list_checkpoints(run_dir)?;
        if !resume && (!checkpoints.is_empty() || metrics.path().exists()) {
            return Err(TrainError::Input(format!(
                "{} already holds a run; pass --resume to continue it or choose another folder",
                run_dir.display()
            )));
        }
        let fresh = TrainState {
            step: 0,
            epoch: 0,
            cursor: 0,
            seed: cfg.seed,
            optimizer_steps: 0,
            best: None,
        };
        let (state, table) = match checkpoints.last() {
            Some((_, dir)) if resume => {
                let ids = table.ids().to_vec();
                load_checkpoint(dir, adapter, &mut optim, ids, model.device())?
            }
            _ => (fresh, table),
        };
        metrics.truncate_after(state.step)?;
        rollouts.truncate_after(state.step)?;
        let text =
            serde_json::to_string_pretty(&cfg).map_err(|e| TrainError::Input(e.to_string()))?;
        let cfg_path = run_dir.join(CONFIG_FILE);
        write_atomic(&cfg_path, text.as_bytes()).map_err(|source| TrainError::Io {
            path: cfg_path,
            source,
        })?;
        Ok(Self {
            model,
            adapter,
            data,
            cfg,
            run_dir: run_dir.to_path_buf(),
            table,
            optim,
            state,
            metrics,
            rollouts,
        })
    }

    pub fn state(&self) -> &TrainState {
        &self.state
    }

    pub fn table(&self) -> &ItemTable {
        &self.table
    }

    pub fn config(&self) -> &RecPoConfig {
        &self.cfg
    }

    /// Steps until `cfg.steps` or until `stop` is set (checked between steps).
    pub fn run(
        &mut self,
        reporter: &mut dyn TrainReporter,
        stop: &AtomicBool,
    ) -> Result<TrainEnd, TrainError> {
        while self.state.step < self.cfg.steps {
            if stop.load(Ordering::Relaxed) {
                let end = TrainEnd::Stopped {
                    step: self.state.step,
                };
                reporter.on_end(&end);
                return Ok(end);
            }
            self.step(reporter)?;
        }
        let end = TrainEnd::Finished {
            step: self.state.step,
        };
        reporter.on_end(&end);
        Ok(end)
    }

    /// The next B training examples in the epoch's seeded order.
    fn next_batch(&mut self) -> Vec<Example> {
        let train = &self.data.train;
        let mut order = epoch_order(train.len(), self.state.seed, self.state.epoch);
        let mut out = Vec::with_capacity(self.cfg.users_per_step);
        while out.len() < self.cfg.users_per_step {
            if self.state.cursor >= train.len() {
                self.state.epoch += 1;
                self.state.cursor = 0;
                order = epoch_order(train.len(), self.state.seed, self.state.epoch);
            }
            out.push(train[order[self.state.cursor]].clone());
            self.state.cursor += 1;
        }
        out
    }

    /// One optimizer step, its evaluation when due, its checkpoint and its log lines.
    pub fn step(&mut self, reporter: &mut dyn TrainReporter) -> Result<StepMetrics, TrainError> {
        let start = Instant::now();
        let examples = self.next_batch();
        let lr = self.cfg.lr_at(self.state.step);
        let step_seed = mix(self.state.seed, self.state.step as u64);
        self.adapter.reseed(step_seed);
        self.adapter.set_training(false);
        let (loss, chains, rollout_secs, scoring_secs, rollout_tokens, samples) =
            if self.cfg.no_reasoning {
                self.contrastive_step(&examples)?
            } else {
                let (groups, timing) = sample_groups(
                    self.model,
                    self.adapter,
                    self.data,
                    &self.table,
                    &examples,
                    &self.cfg,
                    step_seed,
                )?;
                self.adapter.set_training(true);
                let loss = recpo_loss(self.model, self.adapter, self.data, &groups, &self.cfg);
                self.adapter.set_training(false);
                let loss = loss?;
                let mut chains = Vec::new();
                let mut samples = Vec::new();
                for g in &groups {
                    let mut cs = Vec::new();
                    for (i, c) in g.chains.iter().enumerate() {
                        let r = g.rewards[i];
                        chains.push((
                            r.reward,
                            r.ndcg,
                            r.softmax,
                            g.advantages[i],
                            c.sampled_tokens,
                        ));
                        cs.push(ChainSample {
                            text: c.text.clone(),
                            tokens: c.sampled_tokens,
                            reward: r.reward,
                            ndcg: r.ndcg,
                            softmax: r.softmax,
                            rank: r.rank,
                            advantage: g.advantages[i],
                            top: g.top.contains(&i),
                        });
                    }
                    samples.push(RolloutSample {
                        step: self.state.step + 1,
                        user_id: g.example.user_id.clone(),
                        target: g.example.target.item_id.clone(),
                        chains: cs,
                    });
                }
                let tokens = timing.sampled_tokens;
                (
                    loss,
                    chains,
                    timing.generate_secs,
                    timing.scoring_secs,
                    tokens,
                    samples,
                )
            };
        let StepLoss {
            loss: loss_value,
            token_loss,
            item_loss,
            clip_frac,
            mut grads,
            target_vectors,
            train_tokens,
            secs: backward_secs,
        } = loss;
        let grad_norm = clip_grad_norm(&mut grads, self.cfg.max_grad_norm)?;
        self.optim.step(&grads, lr)?;
        for (e, v) in examples.iter().zip(&target_vectors) {
            self.table.set(&e.target.item_id, v)?;
        }
        self.state.step += 1;
        self.state.optimizer_steps = self.optim.steps_taken();
        let n = chains.len().max(1) as f64;
        let mean = |f: &dyn Fn(&ChainStats) -> f64| chains.iter().map(f).sum::<f64>() / n;
        let metrics = StepMetrics {
            step: self.state.step,
            reward: mean(&|c| c.0),
            ndcg: mean(&|c| c.1),
            softmax: mean(&|c| c.2),
            advantage: mean(&|c| c.3),
            advantage_abs: mean(&|c| c.3.abs()),
            reasoning_len: mean(&|c| c.4 as f64),
            loss: loss_value,
            token_loss,
            item_loss,
            clip_frac,
            lr,
            grad_norm,
            step_secs: start.elapsed().as_secs_f64(),
            rollout_secs,
            scoring_secs,
            backward_secs,
            rollout_tokens,
            train_tokens,
        };
        let s = self.state.step;
        // `eval_every = 0` turns evaluation off entirely (it rebuilds the item table
        // and generates for every example, hours on a CPU); otherwise the last step is
        // always evaluated so the run ends with a best checkpoint.
        let eval_due = self.cfg.eval_every > 0
            && (s.is_multiple_of(self.cfg.eval_every) || s == self.cfg.steps);
        let eval = if eval_due {
            Some(self.evaluate(reporter)?)
        } else {
            None
        };
        let improved = eval
            .as_ref()
            .and_then(EvalMetrics::valid_ndcg10)
            .filter(|&v| self.state.best.as_ref().is_none_or(|b| v > b.valid_ndcg10));
        if let Some(v) = improved {
            self.state.best = Some(BestSoFar {
                step: s,
                valid_ndcg10: v,
            });
        }
        // The step's log lines go first and its checkpoint last: a kill in between
        // resumes from the previous checkpoint, which drops these lines and redoes the
        // step, so the logs and the checkpoint never disagree.
        let mut lines =
            vec![serde_json::to_value(&metrics).map_err(|e| TrainError::Input(e.to_string()))?];
        if let Some(e) = &eval {
            lines.push(serde_json::to_value(e).map_err(|e| TrainError::Input(e.to_string()))?);
        }
        self.metrics.append(&lines)?;
        let log_rollouts =
            self.cfg.rollout_log_every > 0 && s.is_multiple_of(self.cfg.rollout_log_every);
        if log_rollouts && !samples.is_empty() {
            self.rollouts.append(&samples)?;
        }
        let ckpt = save_checkpoint(
            &self.run_dir,
            &self.state,
            self.adapter,
            &self.optim,
            &self.table,
        )?;
        if improved.is_some() {
            save_best(&self.run_dir, &ckpt)?;
        }
        reporter.on_step(&metrics);
        if log_rollouts && !samples.is_empty() {
            reporter.on_rollouts(&samples);
        }
        if let Some(e) = &eval {
            reporter.on_eval(e);
        }
        Ok(metrics)
    }

    /// The "w/o reasoning" step: no rollouts; the rewards of the prompt-only user
    /// vectors are logged for comparison.
    #[allow(clippy::type_complexity)]
    fn contrastive_step(
        &mut self,
        examples: &[Example],
    ) -> Result<
        (
            StepLoss,
            Vec<ChainStats>,
            f64,
            f64,
            usize,
            Vec<RolloutSample>,
        ),
        TrainError,
    > {
        let prompts = examples
            .iter()
            .map(|e| user_prompt_ids(self.model, self.data, e, self.cfg.history_window, true))
            .collect::<Result<Vec<_>, _>>()?;
        self.adapter.set_training(true);
        let out = contrastive_loss(
            self.model,
            self.adapter,
            self.data,
            examples,
            &prompts,
            &self.cfg,
        );
        self.adapter.set_training(false);
        let (loss, users) = out?;
        let t = Instant::now();
        let mut scores = batch_user_scores(&self.table, &users, self.cfg.tau)?;
        let mut chains = Vec::new();
        for (e, s) in examples.iter().zip(scores.iter_mut()) {
            let (target, masked) = rows_of(&self.table, e)?;
            mask_history(s, &masked);
            let r = super::reward::fused_reward(&self.cfg.reward, s, target, &masked);
            chains.push((r.reward, r.ndcg, r.softmax, 0.0, 0));
        }
        Ok((loss, chains, 0.0, t.elapsed().as_secs_f64(), 0, Vec::new()))
    }

    /// Rebuild the whole item table with the current adapter, then evaluate valid and
    /// test (first `eval_limit` examples each).
    pub fn evaluate(
        &mut self,
        reporter: &mut dyn TrainReporter,
    ) -> Result<EvalMetrics, TrainError> {
        let start = Instant::now();
        reporter.on_status("rebuilding the item table with the current adapter");
        let mut last = Instant::now();
        self.table = rebuild_table(
            self.model,
            Some(self.adapter),
            self.data,
            self.cfg.encode_batch,
            &mut |done, total| {
                if last.elapsed().as_secs() >= 10 || done == total {
                    last = Instant::now();
                    reporter.on_status(&format!("  items {done}/{total}"));
                }
            },
        )?;
        let (mut eval, mut lens) = (Map::new(), Map::new());
        for split in [Split::Valid, Split::Test] {
            let r = evaluate_split(
                self.model,
                Some(self.adapter),
                self.data,
                &self.table,
                split,
                &self.cfg,
                &mut |done, total| {
                    reporter.on_status(&format!("  {} {done}/{total}", split.name()))
                },
            )?;
            eval.insert(split.name().into(), r.metrics.to_json());
            lens.insert(split.name().into(), json!(r.reasoning_len));
        }
        Ok(EvalMetrics {
            step: self.state.step,
            eval: Value::Object(eval),
            reasoning_len: Value::Object(lens),
            eval_secs: start.elapsed().as_secs_f64(),
        })
    }
}

/// The seeded shuffle of the train examples for one epoch.
fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(mix(seed, epoch)));
    order
}

/// A seed for (run seed, counter): splitmix64's finaliser, so nearby counters give
/// unrelated streams.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
