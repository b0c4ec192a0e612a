//! Messages into the state machine: keys, mouse scrolls, resizes, ticks, and what the
//! model worker and session files report back. Everything the app reacts to is one.
//! What those reports carry (`WorkerEvent` and its results, the runs and annotation
//! sets read from disk) lives here too, so the state machine, the worker and the
//! runtime all build on this module and it builds on none of them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyModifiers};

use super::analysis::GroupMember;
use super::effect::RunRequest;
use super::session::SessionFile;
use crate::annotate::{Chain, Record};
use crate::data::prepared::PreparedDataset;
use crate::model::generate::{StopReason, Timings};
use crate::plot::lengths::StepLength;
use crate::plot::RunSeries;
use crate::rec::ranking::Ranking;
use crate::rec::trace::RankTrace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInput {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeyInput {
    pub fn plain(code: KeyCode) -> Self {
        Self {
            code,
            mods: KeyModifiers::NONE,
        }
    }

    pub fn char(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }
}

#[derive(Debug)]
pub enum Msg {
    Key(KeyInput),
    /// Mouse wheel over the screen cell (column, row).
    Scroll {
        up: bool,
        column: u16,
        row: u16,
    },
    /// The terminal's new size (columns, rows).
    Resize {
        width: u16,
        height: u16,
    },
    /// Animation clock (spinners); changes nothing when nothing animates.
    Tick,
    Worker(WorkerEvent),
    /// A quit signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) arrived.
    Signal(i32),
    /// The files of `sessions/`, newest first.
    SessionList(Vec<PathBuf>),
    SessionOpened(Result<(PathBuf, SessionFile), String>),
    SessionSaved(Result<PathBuf, String>),
    /// The run folders and evaluation reports, as just read.
    RunsLoaded(RunsSnapshot),
    TrainingStarted(PathBuf),
    AnnotationSets(SetChoices),
    AnnotationSetOpened(Result<OpenedSet, String>),
    /// (set name, chains added) or why not.
    ChainsCollected(Result<(String, usize), String>),
    TagSaved(Result<Record, String>),
}

/// What the model thread reports.
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
    /// The model thread panicked (the message and where); it takes no more jobs.
    Crashed(String),
    /// A line about the training run under way.
    TrainProgress(String),
    /// The training run ended: a line for the status bar, or why it failed.
    TrainEnded(Result<String, String>),
    RunStarted {
        id: u64,
        prompt: String,
        /// Set when the prompt shows only the latest part of the history.
        notice: Option<String>,
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
    /// The ranking from the hidden state after `steps` tokens of a chain still being
    /// written (sent at a bounded rate while a single chain runs).
    LiveRanking {
        id: u64,
        steps: usize,
        ranking: Box<Ranking>,
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

/// One run as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRun {
    pub series: RunSeries,
    pub lengths: Vec<StepLength>,
    /// The latest sampled groups of `rollouts.jsonl`, newest first (at most
    /// `app::training::ROLLOUTS_KEPT`).
    pub rollouts: Vec<crate::train::report::RolloutSample>,
}

/// What a read of the run folders and evaluation reports gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunsSnapshot {
    pub runs: Vec<LoadedRun>,
    /// (report name, reasoning length of every example), for reports with reasoning:
    /// those under `sessions/eval/`, then those shipped with checkpoints.
    pub evals: Vec<(String, Vec<usize>)>,
    /// Folders that could not be read, with why.
    pub errors: Vec<String>,
}

/// An annotation set as opened: its chains and every annotator's latest records.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedSet {
    pub name: String,
    pub chains: Vec<Chain>,
    pub records: BTreeMap<String, BTreeMap<String, Record>>,
}

/// What can be opened: existing annotation sets, and evaluation reports not yet turned
/// into sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SetChoices {
    pub sets: Vec<String>,
    pub reports: Vec<ReportChoice>,
}

/// An evaluation report with reasoning chains, offered as a new annotation set.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportChoice {
    /// The set it becomes (the report folder's name, or the shipped checkpoint's).
    pub name: String,
    /// Its `examples.jsonl`.
    pub path: PathBuf,
    /// Shipped with a checkpoint under `assets/checkpoints/` (else under `sessions/eval/`).
    pub shipped: bool,
    /// Chains with reasoning in it.
    pub chains: usize,
}
