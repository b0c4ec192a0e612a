//! The model thread: loads the data set, the model and its item table (reporting
//! progress at a bounded rate), then runs one job at a time: a recommendation with its
//! rank trace and no-reasoning ranking, or a group of G sampled chains with RecPO's
//! rewards. Model compute never runs on the UI thread (STYLE.md §8); cancellation is an
//! `AtomicBool` the generator checks at every token.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::analysis::{group_rewards, rank_trace, GroupMember, RankTrace, Ranking};
use super::effect::{RunRequest, SamplingSettings};
use super::event::EventSender;
use super::msg::Msg;
use crate::data::chat_template::Message;
use crate::data::prepared::PreparedDataset;
use crate::data::prompt::{user_prompt_text, ANSWER_TAG, HISTORY_WINDOW};
use crate::model::backbone::LoadOptions;
use crate::model::device::{pick_device, DeviceChoice};
use crate::model::error::ModelError;
use crate::model::generate::{
    generate_batch, GenEvent, GenerateOptions, GenerateRequest, StopReason, Timings,
};
use crate::model::loaded::LoadedModel;
use crate::model::sampling::Sampling;
use crate::rec::recommender::{load_item_table, RecError};
use crate::rec::ItemTable;

/// Progress reports while loading are sent at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub model_path: PathBuf,
    pub device: DeviceChoice,
    pub load_options: LoadOptions,
    pub data_dir: PathBuf,
    pub data_name: String,
}

/// Jobs for the worker.
#[derive(Debug)]
pub enum Job {
    Run(Box<RunRequest>),
}

/// One finished recommendation, with everything the inspector's screens show.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub request: RunRequest,
    pub prompt: String,
    pub reasoning: String,
    pub tokens: usize,
    pub stop: StopReason,
    pub timings: Timings,
    pub ranking: Ranking,
    /// Ranking from h_T read straight after the prompt (no reasoning).
    pub no_reasoning: Ranking,
    pub trace: RankTrace,
    /// The record as `r2ec recommend --json` would print it.
    pub record: String,
}

#[derive(Debug, Clone)]
pub struct GroupResult {
    pub request: RunRequest,
    pub sampling: String,
    pub members: Vec<GroupMember>,
    pub timings: Timings,
}

#[derive(Debug)]
pub enum WorkerEvent {
    Progress {
        stage: String,
        done: usize,
        total: usize,
    },
    DataReady(Arc<PreparedDataset>),
    ModelReady {
        model: String,
        device: String,
        table: String,
    },
    LoadFailed(String),
    RunStarted {
        id: u64,
        prompt: String,
    },
    Prefill {
        id: u64,
        secs: f64,
        prompt_tokens: usize,
    },
    Text {
        id: u64,
        sample: usize,
        piece: String,
        elapsed: f64,
    },
    RunDone {
        id: u64,
        result: Box<RunResult>,
    },
    GroupDone {
        id: u64,
        result: Box<GroupResult>,
    },
    RunCancelled {
        id: u64,
    },
    RunFailed {
        id: u64,
        error: String,
    },
}

struct Loaded {
    model: LoadedModel,
    data: Arc<PreparedDataset>,
    table: ItemTable,
}

/// Start the worker thread; it loads at once and then waits for jobs.
pub fn spawn(
    cfg: WorkerConfig,
    events: EventSender,
    cancel: Arc<AtomicBool>,
) -> (Sender<Job>, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("r2ec-model".into())
        .spawn(move || worker_main(cfg, events, cancel, rx))
        // Invariant: spawning fails only when the OS is out of threads; nothing to show then.
        .expect("spawn the model thread");
    (tx, handle)
}

fn send(events: &EventSender, e: WorkerEvent) -> bool {
    events.send(Msg::Worker(e))
}

fn worker_main(
    cfg: WorkerConfig,
    events: EventSender,
    cancel: Arc<AtomicBool>,
    jobs: Receiver<Job>,
) {
    let loaded = match load(&cfg, &events) {
        Ok(l) => l,
        Err(e) => {
            send(&events, WorkerEvent::LoadFailed(e));
            return;
        }
    };
    while let Ok(job) = jobs.recv() {
        let Job::Run(req) = job;
        cancel.store(false, Ordering::SeqCst);
        let id = req.id;
        let out = if req.group.is_some() {
            run_group(&loaded, &req, &events, &cancel).map(|r| {
                r.map(|g| WorkerEvent::GroupDone {
                    id,
                    result: Box::new(g),
                })
            })
        } else {
            run_one(&loaded, &req, &events, &cancel).map(|r| {
                r.map(|g| WorkerEvent::RunDone {
                    id,
                    result: Box::new(g),
                })
            })
        };
        let event = match out {
            Ok(Some(e)) => e,
            Ok(None) => WorkerEvent::RunCancelled { id },
            Err(e) => WorkerEvent::RunFailed {
                id,
                error: e.to_string(),
            },
        };
        if !send(&events, event) {
            return;
        }
    }
}

fn load(cfg: &WorkerConfig, events: &EventSender) -> Result<Loaded, String> {
    let progress = |stage: &str, done, total| {
        send(
            events,
            WorkerEvent::Progress {
                stage: stage.into(),
                done,
                total,
            },
        );
    };
    progress("reading data set", 0, 1);
    let data = PreparedDataset::load(&cfg.data_dir)
        .map_err(|e| format!("data set `{}`: {e}", cfg.data_name))?;
    let data = Arc::new(data);
    send(events, WorkerEvent::DataReady(data.clone()));
    progress("loading model", 0, 1);
    let (device, label) = pick_device(cfg.device).map_err(|e| e.to_string())?;
    let model = LoadedModel::load(&cfg.model_path, &device, &cfg.load_options)
        .map_err(|e| format!("model {}: {e}", cfg.model_path.display()))?;
    progress("item table", 0, data.catalog.len());
    let mut last = Instant::now();
    let (table, status) = load_item_table(&model, &data, &cfg.data_name, &mut |done, total| {
        if last.elapsed() >= PROGRESS_EVERY || done == total {
            last = Instant::now();
            progress("encoding items", done, total);
        }
    })
    .map_err(|e| format!("item table: {e}"))?;
    send(
        events,
        WorkerEvent::ModelReady {
            model: model.name.clone(),
            device: label,
            table: status.to_string(),
        },
    );
    Ok(Loaded { model, data, table })
}

fn sampling_of(s: &SamplingSettings) -> Sampling {
    match (s.temperature, s.top_k) {
        (t, _) if t <= 0.0 => Sampling::ArgMax,
        (t, None) => Sampling::All { temperature: t },
        (t, Some(k)) => Sampling::TopK { k, temperature: t },
    }
}

fn prompt_of(l: &Loaded, req: &RunRequest) -> Result<String, RecError> {
    let text = user_prompt_text(
        &l.data.domain(),
        &req.history,
        req.now,
        &l.data.catalog,
        HISTORY_WINDOW,
    )?;
    Ok(l.model.template.render(&[Message::user(text)], true))
}

fn masked_of(l: &Loaded, req: &RunRequest) -> Vec<usize> {
    req.history
        .iter()
        .filter_map(|h| l.table.position(&h.item_id))
        .collect()
}

/// Generate, streaming text as `Text` events; `None` when cancelled.
fn generate(
    l: &Loaded,
    req: &RunRequest,
    prompt: &str,
    opts: &GenerateOptions,
    samples: usize,
    events: &EventSender,
    cancel: &AtomicBool,
) -> Result<Option<(Vec<crate::model::generate::Chain>, Timings)>, RecError> {
    let start = Instant::now();
    let id = req.id;
    let request = GenerateRequest {
        prompt_ids: l.model.tokenizer.encode(prompt).map_err(ModelError::from)?,
        samples,
    };
    let mut on_event = |e: GenEvent| match e {
        GenEvent::Text { sample, piece, .. } => {
            send(
                events,
                WorkerEvent::Text {
                    id,
                    sample,
                    piece,
                    elapsed: start.elapsed().as_secs_f64(),
                },
            );
        }
        GenEvent::PrefillDone {
            secs,
            prompt_tokens,
        } => {
            send(
                events,
                WorkerEvent::Prefill {
                    id,
                    secs,
                    prompt_tokens,
                },
            );
        }
        GenEvent::Finished { .. } => {}
    };
    let (chains, timings) = generate_batch(
        &l.model.backbone,
        &l.model.tokenizer,
        &[request],
        opts,
        &mut on_event,
        Some(cancel),
    )?;
    if cancel.load(Ordering::SeqCst) || chains.iter().any(|c| c.stop == StopReason::Cancelled) {
        return Ok(None);
    }
    Ok(Some((chains, timings)))
}

fn run_one(
    l: &Loaded,
    req: &RunRequest,
    events: &EventSender,
    cancel: &AtomicBool,
) -> Result<Option<RunResult>, RecError> {
    let prompt = prompt_of(l, req)?;
    send(
        events,
        WorkerEvent::RunStarted {
            id: req.id,
            prompt: prompt.clone(),
        },
    );
    let opts = GenerateOptions {
        max_new_tokens: req.sampling.max_new_tokens,
        sampling: sampling_of(&req.sampling),
        seed: req.sampling.seed,
        keep_step_hidden: true,
        ..Default::default()
    };
    let Some((mut chains, timings)) = generate(l, req, &prompt, &opts, 1, events, cancel)? else {
        return Ok(None);
    };
    let chain = chains
        .pop()
        .ok_or_else(|| ModelError::Input("generation returned no chain".into()))?;
    let masked = masked_of(l, req);
    let target = req.target.as_ref().map(|t| t.item_id.as_str());
    let catalog = &l.data.catalog;
    let ranking = Ranking::of_user_vector(
        &l.table,
        catalog,
        &chain.user_vector,
        &masked,
        target,
        req.top_k,
    )?;
    // Without reasoning the answer tag follows the prompt directly, as for items.
    let ids = l
        .model
        .tokenizer
        .encode(&format!("{prompt}{ANSWER_TAG}"))
        .map_err(ModelError::from)?;
    let direct = l
        .model
        .last_hidden(std::slice::from_ref(&ids), 1)?
        .pop()
        .unwrap_or_default();
    let no_reasoning =
        Ranking::of_user_vector(&l.table, catalog, &direct, &masked, target, req.top_k)?;
    let target_title = target.map(|t| {
        catalog
            .get(t)
            .map_or(t.to_string(), |i| format!("target: {}", i.title))
    });
    let trace = rank_trace(
        &l.table,
        &chain.step_hidden,
        &ranking,
        &masked,
        target_title,
    )?;
    let record = json!({
        "history": req.history,
        "target": req.target,
        "now": req.now,
        "prompt": prompt,
        "reasoning": chain.text,
        "reasoning_tokens": chain.sampled_tokens,
        "stop": chain.stop,
        "top": ranking.top.iter().map(|t| json!({"item_id": t.item_id, "title": t.title, "score": t.score})).collect::<Vec<_>>(),
        "target_rank": ranking.target_rank,
        "no_reasoning_target_rank": no_reasoning.target_rank,
        "timing": timings,
    });
    Ok(Some(RunResult {
        request: req.clone(),
        prompt,
        reasoning: chain.text,
        tokens: chain.sampled_tokens,
        stop: chain.stop,
        timings,
        ranking,
        no_reasoning,
        trace,
        // Invariant: a `json!` value always serialises.
        record: serde_json::to_string_pretty(&record).unwrap_or_default(),
    }))
}

fn run_group(
    l: &Loaded,
    req: &RunRequest,
    events: &EventSender,
    cancel: &AtomicBool,
) -> Result<Option<GroupResult>, RecError> {
    let prompt = prompt_of(l, req)?;
    send(
        events,
        WorkerEvent::RunStarted {
            id: req.id,
            prompt: prompt.clone(),
        },
    );
    // Greedy chains would all be equal; a greedy setting samples as RecPO's rollouts do.
    let sampling = if req.sampling.temperature > 0.0 {
        sampling_of(&req.sampling)
    } else {
        Sampling::rollout()
    };
    let opts = GenerateOptions {
        max_new_tokens: req.sampling.max_new_tokens,
        sampling,
        seed: req.sampling.seed,
        ..Default::default()
    };
    let g = req.group.unwrap_or(1).max(1);
    let Some((mut chains, timings)) = generate(l, req, &prompt, &opts, g, events, cancel)? else {
        return Ok(None);
    };
    chains.sort_by_key(|c| c.sample);
    let masked = masked_of(l, req);
    let target = req.target.as_ref().map(|t| t.item_id.as_str());
    let rankings = chains
        .iter()
        .map(|c| {
            Ranking::of_user_vector(
                &l.table,
                &l.data.catalog,
                &c.user_vector,
                &masked,
                target,
                req.top_k,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (rewards, advantages) = group_rewards(&rankings);
    let members = chains
        .into_iter()
        .zip(&rankings)
        .zip(rewards.into_iter().zip(advantages))
        .map(|((c, r), (reward, advantage))| GroupMember {
            text: c.text,
            tokens: c.sampled_tokens,
            top_title: r.top.first().map(|t| t.title.clone()).unwrap_or_default(),
            reward,
            advantage,
        })
        .collect();
    Ok(Some(GroupResult {
        request: req.clone(),
        sampling: format!("{sampling:?}"),
        members,
        timings,
    }))
}
