//! The RecPO training loop (SPEC §5): per step, a batch of users in a seeded order,
//! rollouts, rewards and advantages, the losses and their gradient, the global norm
//! clip, AdamW with warm-up, the refresh of the batch targets' item-table rows; every
//! so often the whole table rebuilt and an evaluation. Every step writes its log
//! lines and then its checkpoint, so a killed run resumes from its last checkpoint
//! with logs that agree with it.
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
use super::contrastive::{contrastive_loss, UserBatch};
use super::error::TrainError;
use super::evaluate::{encode_items, evaluate_split, rebuild_table};
use super::loss::{run_scoring, ItemScoring};
use super::metrics_log::JsonLines;
use super::optim::{clip_grad_norm, AdamW, AdamWParams};
use super::probe::{popular_ranks, probe_indices, run_probe, Probe};
use super::report::{
    ChainSample, EvalMetrics, RolloutSample, StepMetrics, TrainEnd, TrainReporter,
};
use super::reward::{fused_reward, Reward};
use super::rollout::{
    history_of, policy_encoder, rows_of, sample_groups, user_prompt_ids, Group, RolloutTiming,
};
use super::step::{recpo_loss, StepLoss};
use crate::data::prepared::{PreparedDataset, Split};
use crate::data::Example;
use crate::eval::health::{answered_at_once, repeated_ngram_share, ReasoningHealth, REPEAT_N};
use crate::model::generate::events::StopReason;
use crate::model::loaded::LoadedModel;
use crate::model::lower::LowerStates;
use crate::rec::{Centre, ItemTable};
use crate::util::atomic::write_atomic;

/// One chain's numbers that the step's metrics average (one per user without
/// reasoning, where the user vector read after the prompt stands in for a chain).
#[derive(Debug, Clone, Copy)]
struct ChainStats {
    /// The fused reward R (SPEC §5.3).
    reward: f64,
    /// R_d: NDCG@k of the target's rank.
    ndcg: f64,
    /// R_c: softmax probability of the target.
    softmax: f64,
    /// The chain's advantage within its group (0 without reasoning).
    advantage: f64,
    /// Tokens the chain sampled (0 without reasoning).
    sampled_tokens: usize,
    /// How the chain stopped (None without reasoning) and its repeated-4-gram share.
    stop: Option<StopReason>,
    repeat4: f64,
    /// Wrote `<answer>` with nothing before it (`eval::health::answered_at_once`).
    at_once: bool,
    /// Decoded greedily (`greedy_chains`).
    greedy: bool,
}

impl ChainStats {
    fn new(r: &Reward, advantage: f64, sampled_tokens: usize) -> Self {
        Self {
            reward: r.reward,
            ndcg: r.ndcg,
            softmax: r.softmax,
            advantage,
            sampled_tokens,
            stop: None,
            repeat4: 0.0,
            at_once: false,
            greedy: false,
        }
    }

    /// With a chain's health (how it stopped, its sampled tokens, its text).
    fn with_chain(mut self, stop: StopReason, tokens: &[u32], text: &str, greedy: bool) -> Self {
        self.stop = Some(stop);
        self.repeat4 = repeated_ngram_share(tokens, REPEAT_N);
        self.at_once = answered_at_once(text, Some(stop));
        self.greedy = greedy;
        self
    }
}

/// What a step's rollout and loss leave for the update and the logs.
struct BatchLoss {
    /// The losses and the gradient of their sum.
    loss: StepLoss,
    /// One entry per chain, in batch order.
    chains: Vec<ChainStats>,
    /// Rollout time, scoring time and sampled tokens (no generation without
    /// reasoning: only the scoring of the prompt-only user vectors is timed).
    timing: RolloutTiming,
    /// The groups as rollouts.jsonl logs them (none without reasoning).
    samples: Vec<RolloutSample>,
}

impl BatchLoss {
    /// Logging: the metrics line of step `step` (already counted), chain numbers
    /// averaged over the step's chains; `start` is when the step began.
    fn metrics(&self, step: usize, lr: f64, grad_norm: f64, start: Instant) -> StepMetrics {
        let n = self.chains.len().max(1) as f64;
        let mean = |f: &dyn Fn(&ChainStats) -> f64| self.chains.iter().map(f).sum::<f64>() / n;
        let greedy: Vec<&ChainStats> = self.chains.iter().filter(|c| c.greedy).collect();
        let greedy_mean = |f: &dyn Fn(&ChainStats) -> f64| {
            (!greedy.is_empty())
                .then(|| greedy.iter().map(|c| f(c)).sum::<f64>() / greedy.len() as f64)
        };
        let health = |chains: &mut dyn Iterator<Item = &ChainStats>| {
            ReasoningHealth::of_measured(
                chains.map(|c| (c.sampled_tokens, c.stop, c.repeat4, c.at_once)),
            )
        };
        let all = health(&mut self.chains.iter());
        let greedy_health = (!greedy.is_empty()).then(|| health(&mut greedy.iter().copied()));
        let loss = &self.loss;
        StepMetrics {
            step,
            reward: mean(&|c| c.reward),
            ndcg: mean(&|c| c.ndcg),
            softmax: mean(&|c| c.softmax),
            advantage: mean(&|c| c.advantage),
            advantage_abs: mean(&|c| c.advantage.abs()),
            reasoning_len: all.mean_len,
            answered: all.answered,
            wrote_answer: all.wrote_answer,
            wrote_at_once: all.wrote_at_once,
            repeat4: all.repeat4,
            greedy_reward: greedy_mean(&|c| c.reward),
            greedy_answered: greedy_health.map(|h| h.answered),
            greedy_wrote_answer: greedy_health.map(|h| h.wrote_answer),
            greedy_wrote_at_once: greedy_health.map(|h| h.wrote_at_once),
            greedy_repeat4: greedy_health.map(|h| h.repeat4),
            loss: loss.loss,
            token_loss: loss.token_loss,
            item_loss: loss.item_loss,
            item_ce: loss.item_ce,
            item_negatives: loss.item_negatives,
            table_ce: loss.table_ce,
            ending_ce: loss.ending_ce,
            endings: loss.ending_ce.map(|_| loss.endings),
            clip_frac: loss.clip_frac,
            lr,
            tau: 0.0,
            grad_norm,
            step_secs: start.elapsed().as_secs_f64(),
            rollout_secs: self.timing.generate_secs,
            scoring_secs: self.timing.scoring_secs,
            backward_secs: loss.secs,
            table_secs: None,
            rollout_tokens: self.timing.sampled_tokens,
            train_tokens: loss.train_tokens,
        }
    }
}

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
    /// The valid probe's examples (fixed for the run).
    probe: Vec<Example>,
    /// Most popular's ranks on the probe's examples: fixed for the run, logged beside
    /// every probe.
    probe_popular: Vec<Option<usize>>,
    /// The run's centre (with `cfg.centre`), applied to every table it builds.
    centre: Option<Centre>,
    /// How the item loss scores (tau, the centre, logQ).
    scoring: ItemScoring,
    /// The base model's layers below the adapter's, kept for the item and probe
    /// prompts that every table rebuild and probe encodes again.
    lower: LowerStates,
    /// The step after which the whole table was last rebuilt in this process.
    table_rebuilt_at: Option<usize>,
}

/// Memory the kept lower-layer states may take. ml-100k's item prompts take 300 MiB
/// (measured); a probe prompt with reasoning keeps 22 layers' keys and values too, about
/// 16 MB, so a 128-example probe fits and a larger one keeps what fits.
const LOWER_STATES_BUDGET: usize = 3 << 30;

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
        let lower = LowerStates::new(adapter.first_adapted_layer(), LOWER_STATES_BUDGET);
        let (state, table) = match checkpoints.last() {
            Some((_, dir)) if resume => {
                let ids = table.ids().to_vec();
                match load_checkpoint(dir, adapter, &mut optim, ids, model.device())? {
                    (state, Some(table)) => (state, table),
                    // A compact checkpoint: its table was the adapter's own.
                    (state, None) => {
                        adapter.set_training(false);
                        let table = rebuild_table(
                            model,
                            Some(adapter),
                            Some(&lower),
                            data,
                            cfg.encode_batch,
                            &mut |_, _| {},
                        )?;
                        (state, table)
                    }
                }
            }
            _ => (fresh, table),
        };
        let centre = run_centre(&cfg, run_dir, &table, state.step > 0)?;
        let table = table.with_centre(centre.clone())?;
        let scoring = run_scoring(&cfg, data, &table, model.device())?;
        metrics.truncate_after(state.step)?;
        rollouts.truncate_after(state.step)?;
        let text =
            serde_json::to_string_pretty(&cfg).map_err(|e| TrainError::Input(e.to_string()))?;
        let cfg_path = run_dir.join(CONFIG_FILE);
        write_atomic(&cfg_path, text.as_bytes()).map_err(|source| TrainError::Io {
            path: cfg_path,
            source,
        })?;
        let probe = probe_indices(
            data.valid.len(),
            cfg.probe_size,
            cfg.probe_seed.unwrap_or(cfg.seed),
        )
        .into_iter()
        .map(|i| data.valid[i].clone())
        .collect::<Vec<_>>();
        let probe_popular = popular_ranks(data, &probe.iter().collect::<Vec<_>>())?;
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
            probe,
            probe_popular,
            centre,
            scoring,
            lower,
            table_rebuilt_at: None,
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
        let users = self.cfg.users_at(self.state.step);
        let mut out = Vec::with_capacity(users);
        while out.len() < users {
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

    /// One optimizer step, its evaluation when due, its log lines and its checkpoint.
    pub fn step(&mut self, reporter: &mut dyn TrainReporter) -> Result<StepMetrics, TrainError> {
        self.probe_start(reporter)?;
        let start = Instant::now();
        let examples = self.next_batch();
        let lr = self.cfg.lr_at(self.state.step);
        let step_seed = mix(self.state.seed, self.state.step as u64);
        self.adapter.reseed(step_seed);
        self.adapter.set_training(false);
        // This step's settings: tau as its schedule has it.
        let cfg = self.cfg.at_step(self.state.step);
        let mut batch = if cfg.contrastive_at(self.state.step) {
            self.contrastive_step(&cfg, &examples, step_seed)?
        } else {
            self.rollout_step(&cfg, &examples, step_seed)?
        };
        let grad_norm = self.update(&mut batch.loss, &examples, lr)?;
        let mut metrics = batch.metrics(self.state.step, lr, grad_norm, start);
        metrics.tau = f64::from(cfg.tau);
        let t = Instant::now();
        self.rebuild_table_if_due(reporter)?;
        if self.table_rebuilt_at == Some(self.state.step) {
            metrics.table_secs = Some(t.elapsed().as_secs_f64());
        }
        let probe = self.probe_if_due(reporter)?;
        let eval = self.evaluate_if_due(reporter)?;
        let improved = self.note_best(probe.as_ref(), eval.as_ref());
        let probe_line = probe.as_ref().map(Probe::to_json);
        self.log_step(
            reporter,
            &metrics,
            probe_line,
            eval.as_ref(),
            &batch.samples,
            improved,
        )?;
        Ok(metrics)
    }

    /// Rollout and loss (SPEC §5.1–5.5): G chains per user sampled, scored and rewarded,
    /// then the token and item losses and their gradient.
    fn rollout_step(
        &mut self,
        cfg: &RecPoConfig,
        examples: &[Example],
        seed: u64,
    ) -> Result<BatchLoss, TrainError> {
        let (groups, timing) = sample_groups(
            self.model,
            self.adapter,
            self.data,
            &self.table,
            examples,
            cfg,
            seed,
        )?;
        // Training-only noise (dropout) in the differentiable pass alone, and off again
        // even when the loss fails.
        // The full-table term (if any) scores against the table as it is now.
        let mut scoring = self.scoring.clone().with_table(
            &self.table,
            cfg.recpo_table_loss,
            self.model.device(),
        )?;
        scoring.tau = f64::from(cfg.tau);
        self.adapter.set_training(true);
        let loss = recpo_loss(
            self.model,
            self.adapter,
            self.data,
            &groups,
            cfg,
            &scoring,
            seed,
        );
        self.adapter.set_training(false);
        let loss = loss?;
        let (chains, samples) = chain_logs(&groups, self.state.step + 1, self.cfg.greedy_chains);
        Ok(BatchLoss {
            loss,
            chains,
            timing,
            samples,
        })
    }

    /// Loss of the "w/o reasoning" ablation: no rollouts, the contrastive item loss on
    /// prompt-only user vectors, whose full-catalogue rewards are logged for comparison.
    fn contrastive_step(
        &mut self,
        cfg: &RecPoConfig,
        examples: &[Example],
        seed: u64,
    ) -> Result<BatchLoss, TrainError> {
        let encoder = policy_encoder(self.model, None, self.data, cfg);
        let prompts = examples
            .iter()
            .map(|e| user_prompt_ids(&encoder, e, 0, true))
            .collect::<Result<Vec<_>, _>>()?;
        // The full-table term scores against the table as it is now.
        let mut scoring =
            self.scoring
                .clone()
                .with_table(&self.table, cfg.table_loss, self.model.device())?;
        scoring.tau = f64::from(cfg.tau);
        self.adapter.set_training(true);
        let out = contrastive_loss(
            self.model,
            self.adapter,
            self.data,
            UserBatch {
                examples,
                prompts: &prompts,
            },
            cfg,
            &scoring,
            seed,
        );
        self.adapter.set_training(false);
        let (loss, users) = out?;
        let t = Instant::now();
        let histories = examples
            .iter()
            .map(|e| history_of(self.data, e))
            .collect::<Result<Vec<_>, _>>()?;
        let owners: Vec<_> = histories.iter().collect();
        let mut chains = Vec::new();
        for (e, r) in examples
            .iter()
            .zip(encoder.rank(&self.table, &users, &owners, 0)?)
        {
            let (target, _) = rows_of(&self.table, e)?;
            let reward = fused_reward(&cfg.reward, &r.scores, target, &r.masked);
            chains.push(ChainStats::new(&reward, 0.0, 0));
        }
        let timing = RolloutTiming {
            scoring_secs: t.elapsed().as_secs_f64(),
            ..RolloutTiming::default()
        };
        Ok(BatchLoss {
            loss,
            chains,
            timing,
            samples: Vec::new(),
        })
    }

    /// Optimizer update: the global gradient-norm clip, AdamW at `lr`, and the refresh
    /// of the batch targets' item-table rows (SPEC §5.7). Returns the norm before the
    /// clip.
    fn update(
        &mut self,
        loss: &mut StepLoss,
        examples: &[Example],
        lr: f64,
    ) -> Result<f64, TrainError> {
        let grad_norm = clip_grad_norm(&mut loss.grads, self.cfg.max_grad_norm)?;
        self.optim.step(&loss.grads, lr)?;
        // The targets' rows as the updated adapter encodes them, dropout off, exactly
        // as a table rebuild would.
        self.adapter.set_training(false);
        let ids: Vec<&str> = examples.iter().map(|e| e.target.item_id.as_str()).collect();
        let vectors = encode_items(self.model, Some(self.adapter), self.data, &ids)?;
        for (id, v) in ids.iter().zip(&vectors) {
            self.table.set(id, v)?;
        }
        self.state.step += 1;
        self.state.optimizer_steps = self.optim.steps_taken();
        Ok(grad_norm)
    }

    /// Evaluation (SPEC §4, §5.7), when the step just taken is due for one.
    fn evaluate_if_due(
        &mut self,
        reporter: &mut dyn TrainReporter,
    ) -> Result<Option<EvalMetrics>, TrainError> {
        let s = self.state.step;
        // `eval_every = 0` turns evaluation off entirely (it rebuilds the item table
        // and generates for every example, hours on a CPU); otherwise the last step is
        // always evaluated so the run ends with a best checkpoint.
        let due = self.cfg.eval_every > 0
            && (s.is_multiple_of(self.cfg.eval_every) || s == self.cfg.steps);
        if !due {
            return Ok(None);
        }
        Ok(Some(self.evaluate(reporter)?))
    }

    /// Model selection (SPEC §4): the step becomes the best so far when its probe N@10
    /// (else, with no probe this step, its valid N@10) beats the best's; returns
    /// whether it did.
    fn note_best(&mut self, probe: Option<&Probe>, eval: Option<&EvalMetrics>) -> bool {
        let score = probe
            .map(Probe::ndcg10)
            .or_else(|| eval.and_then(EvalMetrics::valid_ndcg10));
        let improved =
            score.filter(|&v| self.state.best.as_ref().is_none_or(|b| v > b.valid_ndcg10));
        if let Some(v) = improved {
            self.state.best = Some(BestSoFar {
                step: self.state.step,
                valid_ndcg10: v,
            });
        }
        improved.is_some()
    }

    /// Table schedule: the whole item table rebuilt through the current adapter when
    /// the step just taken is due (`table_every`).
    fn rebuild_table_if_due(&mut self, reporter: &mut dyn TrainReporter) -> Result<(), TrainError> {
        let s = self.state.step;
        if self.cfg.table_every == 0 || !s.is_multiple_of(self.cfg.table_every) {
            return Ok(());
        }
        self.encode_whole_table(reporter)
    }

    /// The whole item table encoded again through the current adapter.
    fn encode_whole_table(&mut self, reporter: &mut dyn TrainReporter) -> Result<(), TrainError> {
        reporter.on_status("rebuilding the item table with the current adapter");
        let mut last = Instant::now();
        self.table = rebuild_table(
            self.model,
            Some(self.adapter),
            Some(&self.lower),
            self.data,
            self.cfg.encode_batch,
            &mut |done, total| {
                if last.elapsed().as_secs() >= 10 || done == total {
                    last = Instant::now();
                    reporter.on_status(&format!("  items {done}/{total}"));
                }
            },
        )?
        .with_centre(self.centre.clone())?;
        self.table_rebuilt_at = Some(self.state.step);
        Ok(())
    }

    /// The probe of the starting adapter (step 0), once per run: where its curve
    /// starts, and what learning is measured against.
    fn probe_start(&mut self, reporter: &mut dyn TrainReporter) -> Result<(), TrainError> {
        if self.state.step != 0 || self.cfg.probe_every == 0 || self.probe.is_empty() {
            return Ok(());
        }
        if !self.metrics.read()?.is_empty() {
            return Ok(());
        }
        reporter.on_status(&format!(
            "valid probe before training: {} examples",
            self.probe.len()
        ));
        let examples: Vec<&Example> = self.probe.iter().collect();
        let probe = run_probe(
            self.model,
            Some(self.adapter),
            Some(&self.lower),
            self.data,
            &self.table,
            &examples,
            &self.cfg,
            0,
        )?
        .with_popular(self.probe_popular.clone());
        self.metrics.append(&[probe.to_json()])?;
        Ok(())
    }

    /// The valid probe when the step just taken is due (every `probe_every` steps and
    /// at the last one).
    fn probe_if_due(
        &mut self,
        reporter: &mut dyn TrainReporter,
    ) -> Result<Option<Probe>, TrainError> {
        let s = self.state.step;
        let every = self.cfg.probe_every;
        if every == 0 || self.probe.is_empty() || !(s.is_multiple_of(every) || s == self.cfg.steps)
        {
            return Ok(None);
        }
        reporter.on_status(&format!("valid probe: {} examples", self.probe.len()));
        let examples: Vec<&Example> = self.probe.iter().collect();
        let probe = run_probe(
            self.model,
            Some(self.adapter),
            Some(&self.lower),
            self.data,
            &self.table,
            &examples,
            &self.cfg,
            s,
        )?
        .with_popular(self.probe_popular.clone());
        Ok(Some(probe))
    }

    /// Logging: the step's log lines, its checkpoint (and best copy), then the reporter.
    fn log_step(
        &mut self,
        reporter: &mut dyn TrainReporter,
        metrics: &StepMetrics,
        probe: Option<Value>,
        eval: Option<&EvalMetrics>,
        samples: &[RolloutSample],
        improved: bool,
    ) -> Result<(), TrainError> {
        // The step's log lines go first and its checkpoint last: a kill in between
        // resumes from the previous checkpoint, which drops these lines and redoes the
        // step, so the logs and the checkpoint never disagree.
        let mut lines =
            vec![serde_json::to_value(metrics).map_err(|e| TrainError::Input(e.to_string()))?];
        lines.extend(probe);
        if let Some(e) = eval {
            lines.push(serde_json::to_value(e).map_err(|e| TrainError::Input(e.to_string()))?);
        }
        self.metrics.append(&lines)?;
        let s = self.state.step;
        let log_rollouts = self.cfg.rollout_log_every > 0
            && s.is_multiple_of(self.cfg.rollout_log_every)
            && !samples.is_empty();
        if log_rollouts {
            self.rollouts.append(samples)?;
        }
        let ckpt = save_checkpoint(
            &self.run_dir,
            &self.state,
            self.adapter,
            &self.optim,
            &self.table,
            self.table_rebuilt_at == Some(s),
        )?;
        if improved {
            save_best(&self.run_dir, &ckpt)?;
        }
        reporter.on_step(metrics);
        if log_rollouts {
            reporter.on_rollouts(samples);
        }
        if let Some(e) = eval {
            reporter.on_eval(e);
        }
        Ok(())
    }

    /// Rebuild the whole item table with the current adapter, then evaluate valid and
    /// test (first `eval_limit` examples each).
    pub fn evaluate(
        &mut self,
        reporter: &mut dyn TrainReporter,
    ) -> Result<EvalMetrics, TrainError> {
        let start = Instant::now();
        self.encode_whole_table(reporter)?;
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

/// The run's centre with `cfg.centre`: read back from the run folder when continuing
/// from a checkpoint (whose table is no longer the one the run started from, so a
/// missing file is an error, not a new centre); on a fresh start the one the starting
/// table already has (a checkpoint trained with centring), else the mean of its rows,
/// written to the run folder. None without.
fn run_centre(
    cfg: &RecPoConfig,
    run_dir: &Path,
    table: &ItemTable,
    continuing: bool,
) -> Result<Option<Centre>, TrainError> {
    if !cfg.centre {
        return Ok(None);
    }
    if continuing {
        return match Centre::load(run_dir)? {
            Some(c) => Ok(Some(c)),
            None => Err(TrainError::Input(format!(
                "{}: the run trains with `centre` but has no {}",
                run_dir.display(),
                crate::rec::centre::CENTRE_FILE
            ))),
        };
    }
    let c = match table.centre() {
        Some(c) => c.clone(),
        None => Centre::of_rows(table.rows(), table.dim()),
    };
    c.save(run_dir)?;
    Ok(Some(c))
}

/// Logging: each chain's numbers for the step's means, and each group as
/// rollouts.jsonl logs it at `step`.
/// The first `greedy` chains of each group were decoded greedily (`greedy_first`).
fn chain_logs(
    groups: &[Group],
    step: usize,
    greedy: usize,
) -> (Vec<ChainStats>, Vec<RolloutSample>) {
    let mut chains = Vec::new();
    let mut samples = Vec::new();
    for g in groups {
        let mut cs = Vec::new();
        for (i, c) in g.chains.iter().enumerate() {
            let r = g.rewards[i];
            let tokens = c.sampled_ids();
            let is_greedy = i < greedy;
            chains.push(
                ChainStats::new(&r, g.advantages[i], c.sampled_tokens)
                    .with_chain(c.stop, tokens, &c.text, is_greedy),
            );
            cs.push(ChainSample {
                text: c.text.clone(),
                tokens: c.sampled_tokens,
                reward: r.reward,
                ndcg: r.ndcg,
                softmax: r.softmax,
                rank: r.rank,
                advantage: g.advantages[i],
                top: g.top.contains(&i),
                greedy: is_greedy,
            });
        }
        samples.push(RolloutSample {
            step,
            user_id: g.example.user_id.clone(),
            target: g.example.target.item_id.clone(),
            chains: cs,
        });
    }
    (chains, samples)
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
