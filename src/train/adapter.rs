//! What the trainer needs from an adapter: the hook it puts into the differentiable
//! path, its trainable variables, and a switch for training-only behaviour (dropout).
//! LoRA is the adapter R²ec uses; tests may train simpler ones through the same trait.

use std::path::Path;

use candle_core::Var;

use crate::model::backbone::LinearHook;

pub trait TrainableAdapter: LinearHook + Send + Sync {
    /// Every trainable tensor, in a fixed order (the optimizer state follows it).
    fn vars(&self) -> Vec<Var>;
    /// Dropout and other training-only noise on (rollout scoring and evaluation run
    /// with it off).
    fn set_training(&self, on: bool);
    /// Restarts training-only noise from `seed`. The trainer calls it with a seed mixed
    /// from the run's seed and the step, so a resumed run draws the same dropout masks
    /// as one that never stopped. Adapters without noise ignore it.
    fn reseed(&self, _seed: u64) {}
    /// Writes the adapter's files into `dir` (atomically, file by file).
    fn save(&self, dir: &Path) -> Result<(), super::error::TrainError>;
    /// Reads weights written by `save` back into the same variables.
    fn load(&self, dir: &Path) -> Result<(), super::error::TrainError>;
}
