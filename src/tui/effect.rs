//! Effects out of the state machine: what should happen in the world (draw, run the
//! model, cancel, file I/O, quit). The runtime carries them out and answers with `Msg`s.
//! The requests effects carry (`RunRequest`, `TrainSettings`) live here too, so the
//! state machine and the worker both build on this module and neither on the other.

use crate::data::Interaction;

use super::session::SessionFile;

/// How chains are sampled; temperature 0 is greedy (the evaluation setting).
/// `max_new_tokens` is the reasoning budget (`>`/`<` in the TUI; the CLI starts it at
/// the loaded checkpoint's evaluation budget).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingSettings {
    pub temperature: f64,
    pub top_k: Option<usize>,
    pub max_new_tokens: usize,
    pub seed: u64,
    /// Chains sampled for the group view (G of RecPO).
    pub group_size: usize,
    /// Repetition penalty (transformers' `repetition_penalty`); 1 is off.
    pub repetition_penalty: f32,
    /// Never repeat an n-gram of the prompt or chain (`no_repeat_ngram_size`); 0 is off.
    pub no_repeat_ngram: usize,
}

impl Default for SamplingSettings {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            max_new_tokens: 640,
            seed: 0,
            group_size: 4,
            repetition_penalty: 1.0,
            no_repeat_ngram: 0,
        }
    }
}

/// What the Training screen lets one choose before starting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSettings {
    pub steps: usize,
    pub users_per_step: usize,
    pub group_size: usize,
    pub max_new_tokens: usize,
}

impl Default for TrainSettings {
    /// Small enough for a CPU: a step takes about a minute on two cores.
    fn default() -> Self {
        Self {
            steps: 20,
            users_per_step: 2,
            group_size: 4,
            max_new_tokens: 48,
        }
    }
}

/// One recommendation to compute for a history.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    pub id: u64,
    pub history: Vec<Interaction>,
    pub now: i64,
    pub target: Option<Interaction>,
    pub sampling: SamplingSettings,
    /// `Some(G)`: sample a group of G chains (RecPO's view) instead of one chain.
    pub group: Option<usize>,
    pub top_k: usize,
    /// Where the history came from ("test #0, user 7"), so every screen showing the
    /// run can say whose it is.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// State changed: draw a frame (at most one per ~16 ms).
    Render,
    Run(Box<RunRequest>),
    /// Stop the running generation (the worker sees it at its next token).
    Cancel,
    /// List `sessions/` (answered with `Msg::SessionList`).
    ListSessions,
    OpenSession(std::path::PathBuf),
    /// Write `sessions/<name>.json` atomically.
    SaveSession {
        name: String,
        file: SessionFile,
    },
    /// Read the run folders and evaluation reports (answered with `Msg::RunsLoaded`).
    LoadRuns,
    /// Start a RecPO run in a new folder under `runs/` (answered with `Msg::TrainingStarted`).
    StartTraining(TrainSettings),
    /// Stop the training run at its next step boundary.
    StopTraining,
    /// List annotation sets and evaluation reports (answered with `Msg::AnnotationSets`).
    ListAnnotationSets,
    /// Open a set, first creating it from the evaluation report `from_report` (its
    /// `examples.jsonl`: under `sessions/eval/` or a shipped checkpoint's `eval/`) when
    /// that is given and no set of that name exists.
    OpenAnnotationSet {
        name: String,
        from_report: Option<std::path::PathBuf>,
    },
    /// Add sampled chains to the `live` annotation set (answered with `Msg::ChainsCollected`).
    CollectChains(Vec<crate::annotate::Chain>),
    /// Save one judgement at once, synced (answered with `Msg::TagSaved`).
    SaveTag(crate::annotate::Record),
    Quit,
}
