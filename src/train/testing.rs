//! Test helpers of the trainer: a low-rank adapter of its own (LoRA's math, none of its
//! files), beside the pipeline's tiny model and paired data set (`rec::testing`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::adapter::TrainableAdapter;
use super::error::TrainError;
use crate::model::backbone::{LinearHook, LoraTarget};
use crate::model::config::ModelConfig;
// The tiny model and data set are the pipeline's fixtures; the trainer's tests use them too.
pub use crate::rec::testing::{paired_dataset, tiny_model};

/// LoRA's delta `scale * B(A x)` on every projection; A seeded, B zero (so the adapter
/// starts as the identity), no dropout.
pub struct TinyLora {
    pairs: Vec<((usize, LoraTarget), Var, Var)>,
    scale: f64,
    pub training: AtomicBool,
}

impl TinyLora {
    pub fn new(cfg: &ModelConfig, r: usize, scale: f64, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let (q, kv) = (
            cfg.num_attention_heads * cfg.head_dim,
            cfg.num_key_value_heads * cfg.head_dim,
        );
        let mut pairs = Vec::new();
        for layer in 0..cfg.num_hidden_layers {
            for t in LoraTarget::ALL {
                let (out, inp) = match t {
                    LoraTarget::Q => (q, h),
                    LoraTarget::K | LoraTarget::V => (kv, h),
                    LoraTarget::O => (h, q),
                    LoraTarget::Gate | LoraTarget::Up => (i, h),
                    LoraTarget::Down => (h, i),
                };
                let a: Vec<f32> = (0..r * inp)
                    .map(|_| rng.random_range(-0.3f32..0.3))
                    .collect();
                let a = Var::from_vec(a, (r, inp), &Device::Cpu).expect("lora A");
                let b = Var::zeros((out, r), DType::F32, &Device::Cpu).expect("lora B");
                pairs.push(((layer, t), a, b));
            }
        }
        Self {
            pairs,
            scale,
            training: AtomicBool::new(false),
        }
    }

    /// The same adapter on the top `n` layers only (PEFT's `layers_to_transform`).
    pub fn top_layers(mut self, n: usize, num_layers: usize) -> Self {
        let first = num_layers.saturating_sub(n);
        self.pairs.retain(|((layer, _), _, _)| *layer >= first);
        self
    }

    /// Every variable's values, for exact comparisons.
    pub fn values(&self) -> Vec<Vec<f32>> {
        self.vars()
            .iter()
            .map(|v| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    }
}

impl LinearHook for TinyLora {
    fn adapt(
        &self,
        layer: usize,
        target: LoraTarget,
        x: &Tensor,
        base: Tensor,
    ) -> candle_core::Result<Tensor> {
        let Some((_, a, b)) = self.pairs.iter().find(|(k, _, _)| *k == (layer, target)) else {
            return Ok(base);
        };
        let dims = x.dims().to_vec();
        let inp = dims[dims.len() - 1];
        let rows = x.elem_count() / inp;
        let d = x
            .reshape((rows, inp))?
            .matmul(&a.as_tensor().t()?)?
            .matmul(&b.as_tensor().t()?)?;
        let mut out = dims.clone();
        *out.last_mut().expect("input has a last dim") = b.dim(0)?;
        base + (d.reshape(out)? * self.scale)?
    }

    fn first_adapted_layer(&self) -> usize {
        self.pairs
            .iter()
            .map(|((layer, _), _, _)| *layer)
            .min()
            .unwrap_or(usize::MAX)
    }
}

impl TrainableAdapter for TinyLora {
    fn vars(&self) -> Vec<Var> {
        self.pairs
            .iter()
            .flat_map(|(_, a, b)| [a.clone(), b.clone()])
            .collect()
    }

    fn set_training(&self, on: bool) {
        self.training.store(on, Ordering::Relaxed);
    }

    fn save(&self, dir: &Path) -> Result<(), TrainError> {
        let map: HashMap<String, Tensor> = self
            .vars()
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("w.{i}"), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&map, dir.join("adapter.safetensors"))?;
        Ok(())
    }

    fn load(&self, dir: &Path) -> Result<(), TrainError> {
        let map = candle_core::safetensors::load(dir.join("adapter.safetensors"), &Device::Cpu)?;
        for (i, v) in self.vars().iter().enumerate() {
            let t = map
                .get(&format!("w.{i}"))
                .ok_or_else(|| TrainError::Input(format!("missing w.{i}")))?;
            v.set(t)?;
        }
        Ok(())
    }
}

/// Largest |value| of a tensor: the scale gradient comparisons are measured against.
pub fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}
