//! LoRA as the trainer's adapter: the adapter itself (hook, merge, PEFT files) lives in
//! `model::lora`; this is only what training adds, the [`TrainableAdapter`] view of it.

use std::path::Path;

use candle_core::Var;

use super::adapter::TrainableAdapter;
use super::error::TrainError;
use crate::model::lora::Lora;

impl TrainableAdapter for Lora {
    fn vars(&self) -> Vec<Var> {
        Lora::vars(self)
    }

    fn reseed(&self, seed: u64) {
        Lora::reseed(self, seed)
    }

    fn set_training(&self, on: bool) {
        Lora::set_training(self, on)
    }

    fn save(&self, dir: &Path) -> Result<(), TrainError> {
        Ok(self.save_dir(dir)?)
    }

    fn load(&self, dir: &Path) -> Result<(), TrainError> {
        Ok(self.load_weights(dir)?)
    }
}
