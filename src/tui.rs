//! The inspector TUI (`r2ec`, `r2ec tui`): pick or write a history, watch the reasoning
//! stream, read the rec_head's ranking, the rank trace over the chain, rankings with and
//! without reasoning, counterfactual edits and RecPO's view of a sampled group.
//!
//! Architecture (STYLE.md §7–10): a pure state machine (`app::update`, messages in,
//! effects out), the model on its own thread (`worker`), one event channel (`event`),
//! drawing from `&State` only (`ui`), and a frame only when something changed: at once
//! after a key, otherwise at most one per `FRAME` (token streams do not flood the
//! terminal).

pub mod analysis;
pub mod annotations;
pub mod app;
pub mod effect;
pub mod event;
pub mod fuzzy;
pub mod highlight;
pub mod keys;
pub mod latency;
pub mod msg;
pub mod session;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod ui;
pub mod worker;

#[cfg(test)]
pub(crate) mod testing;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::{update, Header, State};
use effect::Effect;
use keys::KeyMap;
use latency::{LatencyLog, Summary};
use msg::Msg;
use worker::{Job, WorkerConfig};

/// Shortest time between two frames (about 60 per second).
pub const FRAME: Duration = Duration::from_millis(16);

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("cannot drive the terminal (the TUI needs an interactive one)")]
    Terminal(#[from] std::io::Error),
    #[error("latency log {path}")]
    LatencyLog {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Everything the TUI needs to start.
pub struct Launch {
    pub worker: WorkerConfig,
    pub header: Header,
    pub keys: KeyMap,
    /// Starting sampling settings (adjustable in the TUI).
    pub sampling: effect::SamplingSettings,
    pub sessions: PathBuf,
    /// Run folders the Training screen shows (followed while it is open).
    pub runs: Vec<PathBuf>,
    /// Where runs started from the Training screen go (`runs/`).
    pub runs_root: PathBuf,
    /// Evaluation report folders shipped with the checkpoints (`<checkpoint>/eval/`),
    /// offered on the Annotate screen and drawn on the Lengths screen beside those under
    /// `sessions/eval/`.
    pub reports: Vec<PathBuf>,
    /// Whose tags the Annotate screen saves.
    pub annotator: String,
    pub latency_log: Option<PathBuf>,
}

/// Key-to-frame latency measured during the session.
#[derive(Debug, Clone, Default)]
pub struct LatencyReport {
    pub generating: Summary,
    pub idle: Summary,
    /// The signal that ended the session, if one did.
    pub signal: Option<i32>,
    /// A panic of the model thread during the session: (thread, message).
    pub thread_panic: Option<String>,
}

/// Open the TUI and run it until the user quits; the terminal is restored on every path.
pub fn run(launch: Launch) -> Result<LatencyReport, TuiError> {
    let log_file = match &launch.latency_log {
        Some(p) => Some(
            std::fs::File::create(p).map_err(|source| TuiError::LatencyLog {
                path: p.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let (tx, rx) = event::channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let mut guard = terminal::setup()?;
    let signal = Arc::new(std::sync::atomic::AtomicI32::new(0));
    {
        let tx = tx.clone();
        let signal = signal.clone();
        terminal::watch_signals(move |sig| {
            signal.store(sig, Ordering::SeqCst);
            tx.send(Msg::Signal(sig));
        })?;
    }
    let (jobs, _worker) = worker::spawn(launch.worker, tx.clone(), cancel.clone());
    event::spawn_input_and_ticks(tx.clone());
    let mut state = State::new(launch.header, launch.keys);
    if let Ok(size) = guard.terminal.size() {
        state.viewport = (size.width, size.height);
    }
    state.annotate.annotator = launch.annotator.clone();
    state.sampling = launch.sampling;
    let theme = theme::Theme::default();
    let mut latency = LatencyLog::new(log_file);
    let train_stop = Arc::new(AtomicBool::new(false));
    let mut dirty = true;
    // A key's frame is drawn at once; only streamed updates wait for the frame clock.
    let mut urgent = false;
    let mut last_frame = Instant::now() - FRAME;
    let mut crashed = None;
    loop {
        if dirty && (urgent || last_frame.elapsed() >= FRAME) {
            let view = ui::Extras {
                latency: latency.summary(true),
            };
            guard
                .terminal
                .draw(|f| ui::draw(f, &state, &theme, &view))?;
            let now = Instant::now();
            latency.frame_drawn(now, state.run.live.is_some());
            last_frame = now;
            dirty = false;
            urgent = false;
        }
        if state.quit {
            break;
        }
        let first = if dirty && !urgent {
            match rx.recv_timeout(FRAME.saturating_sub(last_frame.elapsed())) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(e) => e,
                Err(_) => break,
            }
        };
        // Everything already queued is handled before the next frame (token bursts).
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        for ev in batch {
            let is_key = matches!(ev.msg, Msg::Key(_));
            if is_key && std::env::var(worker::TEST_PANIC_ENV).as_deref() == Ok("ui") {
                // Test hook (`R2EC_TEST_PANIC=ui`): the UI thread panics on a key.
                panic!(
                    "test panic in the UI thread ({}=ui)",
                    worker::TEST_PANIC_ENV
                );
            }
            if let Msg::Worker(msg::WorkerEvent::Crashed(m)) = &ev.msg {
                crashed = Some(m.clone());
            }
            let effects = update(&mut state, ev.msg);
            if is_key && effects.contains(&Effect::Render) {
                latency.key_handled(ev.at);
                urgent = true;
            }
            for effect in effects {
                match effect {
                    Effect::Render => dirty = true,
                    Effect::Quit => {}
                    Effect::Run(req) => {
                        let _ = jobs.send(Job::Run(req));
                    }
                    Effect::Cancel => cancel.store(true, Ordering::SeqCst),
                    Effect::ListSessions => {
                        tx.send(Msg::SessionList(session::list(&launch.sessions)));
                    }
                    Effect::OpenSession(path) => {
                        let r = match &state.data {
                            Some(d) => session::open(&path, &d.catalog)
                                .map(|f| (path, f))
                                .map_err(|e| e.to_string()),
                            None => Err("the data set is not loaded yet".into()),
                        };
                        tx.send(Msg::SessionOpened(r));
                    }
                    Effect::StartTraining(settings) => {
                        let secs = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs());
                        let out = launch.runs_root.join(format!("tui-{secs}"));
                        train_stop.store(false, Ordering::SeqCst);
                        let _ = jobs.send(Job::Train {
                            settings,
                            out: out.clone(),
                            stop: train_stop.clone(),
                        });
                        tx.send(Msg::TrainingStarted(out));
                    }
                    Effect::StopTraining => train_stop.store(true, Ordering::SeqCst),
                    Effect::LoadRuns => {
                        // Off the UI thread: a run folder may be large or on a slow disk.
                        let mut runs = launch.runs.clone();
                        runs.extend(state.training.started.iter().cloned());
                        let tx = tx.clone();
                        let sessions = launch.sessions.clone();
                        let shipped = launch.reports.clone();
                        std::thread::spawn(move || {
                            let reports: Vec<(String, PathBuf)> =
                                annotations::report_files(&sessions, &shipped)
                                    .into_iter()
                                    .map(|(name, path, _)| (name, path))
                                    .collect();
                            tx.send(Msg::RunsLoaded(app::training::read_runs(&runs, &reports)));
                        });
                    }
                    Effect::ListAnnotationSets => {
                        // Off the UI thread: every report is read to count its chains.
                        let tx = tx.clone();
                        let sessions = launch.sessions.clone();
                        let shipped = launch.reports.clone();
                        std::thread::spawn(move || {
                            tx.send(Msg::AnnotationSets(annotations::choices(
                                &sessions, &shipped,
                            )));
                        });
                    }
                    Effect::OpenAnnotationSet { name, from_report } => {
                        let r = annotations::open(&launch.sessions, &name, from_report.as_deref());
                        tx.send(Msg::AnnotationSetOpened(r));
                    }
                    Effect::CollectChains(chains) => {
                        tx.send(Msg::ChainsCollected(annotations::collect(
                            &launch.sessions,
                            chains,
                        )));
                    }
                    Effect::SaveTag(rec) => {
                        let r = match &state.annotate.set {
                            Some(set) => annotations::save(
                                &launch.sessions,
                                &set.name,
                                &state.annotate.annotator,
                                rec,
                            ),
                            None => Err("no annotation set is open".into()),
                        };
                        tx.send(Msg::TagSaved(r));
                    }
                    Effect::SaveSession { name, file } => {
                        let r = session::save(&launch.sessions, &name, &file)
                            .map_err(|e| e.to_string());
                        tx.send(Msg::SessionSaved(r));
                    }
                }
            }
        }
    }
    // A generation still running stops at its next token, a training run at its next
    // step (its checkpoints are whole); the thread ends with the app.
    cancel.store(true, Ordering::SeqCst);
    train_stop.store(true, Ordering::SeqCst);
    drop(jobs);
    drop(guard);
    let sig = signal.load(Ordering::SeqCst);
    Ok(LatencyReport {
        generating: latency.summary(true),
        idle: latency.summary(false),
        signal: (sig != 0).then_some(sig),
        thread_panic: crashed,
    })
}
