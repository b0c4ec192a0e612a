//! A RecPO run started from the Training screen: the worker thread trains the loaded
//! model through the same `RecPo` as `r2ec train`, reporting each step and end as
//! events, and stops at the next step boundary when the stop flag is set. The run folder
//! is an ordinary one, so the Training screen follows it like any other.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::{send, Loaded};
use crate::model::lora::{Lora, LoraConfig};
use crate::train::report::{EvalMetrics, RolloutSample, StepMetrics, TrainEnd, TrainReporter};
use crate::train::{RecPo, RecPoConfig};
use crate::tui::effect::TrainSettings;
use crate::tui::event::EventSender;
use crate::tui::msg::WorkerEvent;

struct Reporter<'a> {
    events: &'a EventSender,
    total: usize,
}

impl TrainReporter for Reporter<'_> {
    fn on_step(&mut self, m: &StepMetrics) {
        send(
            self.events,
            WorkerEvent::TrainProgress(format!(
                "training step {}/{}: reward {:.4}, ndcg {:.4}, reasoning {:.1} tokens, {:.0} s",
                m.step, self.total, m.reward, m.ndcg, m.reasoning_len, m.step_secs
            )),
        );
    }
    fn on_eval(&mut self, _m: &EvalMetrics) {}
    fn on_rollouts(&mut self, _s: &[RolloutSample]) {}
    fn on_status(&mut self, text: &str) {
        send(self.events, WorkerEvent::TrainProgress(text.to_string()));
    }
    fn on_end(&mut self, _end: &TrainEnd) {}
}

/// Train into `out`; the result is a line for the status bar.
pub(crate) fn train(
    loaded: &Loaded,
    settings: TrainSettings,
    out: &Path,
    events: &EventSender,
    stop: &AtomicBool,
) -> Result<String, String> {
    let model = &loaded.model;
    if let Some(a) = &model.adapter {
        return Err(format!(
            "the loaded model carries the adapter {}; start the TUI with --base to train from the base model",
            a.display()
        ));
    }
    let cfg = RecPoConfig {
        steps: settings.steps,
        users_per_step: settings.users_per_step,
        group_size: settings.group_size,
        max_new_tokens: settings.max_new_tokens,
        // No full evaluation inside: on a CPU it would take longer than the run. A
        // small valid probe every 10 steps (greedy, the run's chain length) gives the
        // Training screen its curve; the whole table is not rebuilt (minutes), the
        // batch targets' rows are refreshed after every update.
        eval_every: 0,
        eval_max_new_tokens: settings.max_new_tokens,
        probe_size: 32,
        probe_every: 10,
        table_every: 0,
        ..RecPoConfig::default()
    };
    let adapter = Lora::new(
        LoraConfig::default(),
        model.config(),
        model.device(),
        cfg.seed,
    )
    .map_err(|e| e.to_string())?
    .with_base_model(model.name.clone());
    let mut trainer = RecPo::open(
        model,
        &adapter,
        &loaded.data,
        cfg,
        out,
        loaded.table.clone(),
        false,
    )
    .map_err(|e| e.to_string())?;
    let mut reporter = Reporter {
        events,
        total: settings.steps,
    };
    match trainer
        .run(&mut reporter, stop)
        .map_err(|e| e.to_string())?
    {
        TrainEnd::Finished { step } => Ok(format!(
            "training finished after step {step}: {}",
            out.display()
        )),
        TrainEnd::Stopped { step } => Ok(format!(
            "training stopped after step {step}: {}",
            out.display()
        )),
    }
}
