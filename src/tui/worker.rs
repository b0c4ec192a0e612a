//! The model thread: loads the data set, the model and its item table (reporting
//! progress at a bounded rate), then runs one job at a time: a recommendation (with the
//! ranking so far while its chain is written, its rank trace and no-reasoning ranking),
//! or a group of G sampled chains with RecPO's rewards. Model compute never runs on the
//! UI thread (STYLE.md §8); cancellation is an `AtomicBool` the generator checks at
//! every token. What it reports are `msg::WorkerEvent`s on the one event channel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::effect::{RunRequest, TrainSettings};
use super::event::EventSender;
use super::msg::{Msg, WorkerEvent};
use crate::data::prepared::PreparedDataset;
use crate::model::backbone::LoadOptions;
use crate::model::device::{pick_device, DeviceChoice};
use crate::model::loaded::LoadedModel;
use crate::rec::items::load_item_table;
use crate::rec::ItemTable;

mod jobs;
pub mod train_job;

/// Progress reports while loading are sent at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub model_path: PathBuf,
    /// A LoRA adapter (PEFT folder) merged into the model at load.
    pub adapter: Option<PathBuf>,
    pub device: DeviceChoice,
    pub load_options: LoadOptions,
    pub data_dir: PathBuf,
    pub data_name: String,
}

/// Jobs for the worker.
#[derive(Debug)]
pub enum Job {
    Run(Box<RunRequest>),
    /// A RecPO run into `out`, stopped at a step boundary when `stop` is set.
    Train {
        settings: TrainSettings,
        out: PathBuf,
        stop: Arc<AtomicBool>,
    },
}

pub(crate) struct Loaded {
    pub(crate) model: LoadedModel,
    pub(crate) data: Arc<PreparedDataset>,
    pub(crate) table: ItemTable,
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
        .spawn(move || {
            // A panic must not leave the UI waiting forever: it is caught here and
            // reported; the panic hook kept its message (the screen is not written to).
            let ev = events.clone();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                worker_main(cfg, events, cancel, rx)
            }));
            if r.is_err() {
                let msg = super::terminal::take_thread_panic()
                    .map(|(_, m)| m)
                    .unwrap_or_else(|| "panicked".into());
                send(&ev, WorkerEvent::Crashed(msg));
            }
        })
        // Invariant: spawning fails only when the OS is out of threads; nothing to show then.
        .expect("spawn the model thread");
    (tx, handle)
}

pub(crate) fn send(events: &EventSender, e: WorkerEvent) -> bool {
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
        let req = match job {
            Job::Run(req) => req,
            Job::Train {
                settings,
                out,
                stop,
            } => {
                let r = train_job::train(&loaded, settings, &out, &events, &stop);
                if !send(&events, WorkerEvent::TrainEnded(r)) {
                    return;
                }
                continue;
            }
        };
        cancel.store(false, Ordering::SeqCst);
        let id = req.id;
        let out = if req.group.is_some() {
            jobs::run_group(&loaded, &req, &events, &cancel).map(|r| {
                r.map(|g| WorkerEvent::GroupDone {
                    id,
                    result: Box::new(g),
                })
            })
        } else {
            jobs::run_one(&loaded, &req, &events, &cancel).map(|r| {
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

/// Test hook: `R2EC_TEST_PANIC=worker` makes the model thread panic as it starts
/// loading, so tests can check the UI reports it and stays usable.
pub const TEST_PANIC_ENV: &str = "R2EC_TEST_PANIC";

fn load(cfg: &WorkerConfig, events: &EventSender) -> Result<Loaded, String> {
    if std::env::var(TEST_PANIC_ENV).as_deref() == Ok("worker") {
        panic!("test panic in the model thread ({TEST_PANIC_ENV}=worker)");
    }
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
    let model = LoadedModel::load_with_adapter(
        &cfg.model_path,
        cfg.adapter.as_deref(),
        &device,
        &cfg.load_options,
    )
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
