//! Training mode: RecPO (SPEC §5), the GRPO-style RL method of R²ec, with LoRA.
//!
//! The pure math (fused reward, group advantages, clipped losses) lives apart from the
//! trainer so that the TUI's group view shows exactly the numbers the trainer optimises.

pub mod adapter;
pub mod advantage;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod contrastive;
pub mod error;
pub mod evaluate;
pub mod fork;
pub mod lora;
pub mod loss;
pub mod metrics_log;
pub mod optim;
pub mod probe;
pub mod report;
pub mod reward;
pub mod rollout;
pub mod step;
pub mod trainer;

pub use config::RecPoConfig;
pub use error::TrainError;
pub use report::{HeadlessReporter, TrainReporter};
pub use trainer::RecPo;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
