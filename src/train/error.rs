//! What can stop a training run; callers branch on data and checkpoint problems
//! (tell the user which file) versus model and tensor failures.

use super::checkpoint::CheckpointError;
use super::config::ConfigError;
use super::metrics_log::LogError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Model(#[from] crate::model::error::ModelError),
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    History(#[from] crate::data::HistoryError),
    #[error(transparent)]
    Rec(#[from] crate::rec::error::RecError),
    #[error(transparent)]
    Table(#[from] crate::rec::TableError),
    #[error(transparent)]
    Score(#[from] crate::rec::ScoreError),
    #[error(transparent)]
    Centre(#[from] crate::rec::CentreError),
    #[error(transparent)]
    Adapter(#[from] crate::model::lora::LoraError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
}
