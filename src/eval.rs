//! Evaluation (SPEC §4): ranking metrics over the full catalogue, evaluation runs of the
//! model and of the paper's baselines through one `Scorer` trait, reports (JSON,
//! Markdown, `examples.jsonl`, charts), bootstrap intervals, paired significance tests
//! between reports and the cold/warm split.

pub mod baselines;
pub mod bootstrap;
pub mod charts;
pub mod coldwarm;
pub mod compare;
pub mod distributions;
pub mod health;
pub mod metrics;
pub mod model_scorer;
pub mod protocol;
pub mod report;
pub mod run;
pub mod scorer;
pub mod significance;

pub use run::{evaluate, select_examples, EvalOptions, EvalRun, ExampleResult};
pub use scorer::{Reasoning, Scored, Scorer};

/// Errors of an evaluation run; callers branch on the source (model, data, files).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Rec(#[from] crate::rec::error::RecError),
    #[error(transparent)]
    Model(#[from] crate::model::error::ModelError),
    #[error(transparent)]
    Score(#[from] crate::rec::ScoreError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    History(#[from] crate::data::HistoryError),
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    File {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("{0}")]
    Input(String),
}

impl EvalError {
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub fn file(path: impl Into<std::path::PathBuf>, message: impl Into<String>) -> Self {
        Self::File {
            path: path.into(),
            message: message.into(),
        }
    }
}
