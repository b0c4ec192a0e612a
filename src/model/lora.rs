//! LoRA adapters (Hu et al., arXiv 2106.09685) on the backbone's projections, the way
//! PEFT does them: `y = W x + (alpha / r) B A dropout(x)` with A `[r, in]` initialised
//! kaiming-uniform (a = sqrt 5, i.e. uniform ±1/sqrt(in)) and B `[out, r]` zero, so a
//! fresh adapter changes nothing. See peft/tuners/lora/layer.py.
//!
//! On the differentiable path the adapter is a [`LinearHook`] (the base weights stay
//! frozen, see `model::linear::frozen_matmul_t`); for inference it is merged into the
//! base weights, `W' = W + (alpha / r) B A`, and the fast path never sees it. Weights
//! are in Hugging Face row order, as PEFT trains them; GGUF's interleaved Q/K rows are
//! put back into that order when a file is loaded, so merge and hook agree on both.
//! Files: PEFT's `adapter_config.json` and `adapter_model.safetensors`.

mod config;
mod error;
mod peft;
#[cfg(test)]
mod tests;
mod update;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Keeps the dropout stream apart from the initialisation stream of the same seed.
const DROPOUT_SEED_MIX: u64 = 0x5eed_d50f_0a7e_d00d;

pub use self::config::{LoraConfig, CONFIG_FILE};
pub use self::error::LoraError;
pub use self::peft::{module_path, tensor_name, Factor, WEIGHTS_FILE};
use crate::model::backbone::{LinearHook, LoraTarget, Update};
use crate::model::config::ModelConfig;
use crate::model::linear::WeightFormat;
use crate::model::weights::{WeightTensor, Weights};
use crate::util::atomic::write_atomic;

/// How B starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoraInit {
    /// PEFT's default: B = 0, the adapted model equals the base model.
    #[default]
    Peft,
    /// B drawn like A (PEFT's `init_lora_weights=False`): a non-trivial adapter from
    /// the start, for tests and for checking that an adapter reaches the model at all.
    NonZero,
}

/// The two factors of one adapted projection.
#[derive(Debug)]
struct Pair {
    layer: usize,
    target: LoraTarget,
    a: Var,
    b: Var,
}

pub struct Lora {
    cfg: LoraConfig,
    pairs: Vec<Pair>,
    index: HashMap<(usize, LoraTarget), usize>,
    training: AtomicBool,
    dropout_rng: Mutex<StdRng>,
    base_model: Option<String>,
    device: Device,
}

/// `(out, in)` of a projection in `model`.
pub fn target_dims(model: &ModelConfig, target: LoraTarget) -> (usize, usize) {
    let (h, i) = (model.hidden_size, model.intermediate_size);
    let q = model.num_attention_heads * model.head_dim;
    let kv = model.num_key_value_heads * model.head_dim;
    match target {
        LoraTarget::Q => (q, h),
        LoraTarget::K | LoraTarget::V => (kv, h),
        LoraTarget::O => (h, q),
        LoraTarget::Gate | LoraTarget::Up => (i, h),
        LoraTarget::Down => (h, i),
    }
}

/// Uniform values in `±bound`, `shape` `[rows, cols]`.
fn uniform(
    rng: &mut StdRng,
    rows: usize,
    cols: usize,
    bound: f64,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let bound = bound as f32;
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    Tensor::from_vec(data, (rows, cols), device)
}

impl Lora {
    /// A fresh adapter with PEFT's initialisation (B = 0), seeded.
    pub fn new(
        cfg: LoraConfig,
        model: &ModelConfig,
        device: &Device,
        seed: u64,
    ) -> Result<Self, LoraError> {
        Self::with_init(cfg, model, device, seed, LoraInit::Peft)
    }

    pub fn with_init(
        cfg: LoraConfig,
        model: &ModelConfig,
        device: &Device,
        seed: u64,
        init: LoraInit,
    ) -> Result<Self, LoraError> {
        let cfg = cfg.validated()?;
        if let Some(&l) = cfg
            .layers
            .iter()
            .flatten()
            .find(|&&l| l >= model.num_hidden_layers)
        {
            return Err(LoraError::BadSetting {
                field: "layers",
                reason: format!(
                    "layer {l} is beyond the model's {}",
                    model.num_hidden_layers
                ),
            });
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut pairs = Vec::new();
        for layer in (0..model.num_hidden_layers).filter(|&l| cfg.adapts_layer(l)) {
            for &target in &cfg.target_modules {
                let (out_dim, in_dim) = target_dims(model, target);
                let a = uniform(
                    &mut rng,
                    cfg.r,
                    in_dim,
                    1.0 / (in_dim as f64).sqrt(),
                    device,
                )?;
                let b = match init {
                    LoraInit::Peft => Tensor::zeros((out_dim, cfg.r), DType::F32, device)?,
                    // nn.Linear's own init of B (fan_in = r).
                    LoraInit::NonZero => uniform(
                        &mut rng,
                        out_dim,
                        cfg.r,
                        1.0 / (cfg.r as f64).sqrt(),
                        device,
                    )?,
                };
                pairs.push(Pair {
                    layer,
                    target,
                    a: Var::from_tensor(&a)?,
                    b: Var::from_tensor(&b)?,
                });
            }
        }
        let index = pairs
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.layer, p.target), i))
            .collect();
        Ok(Self {
            cfg,
            pairs,
            index,
            training: AtomicBool::new(false),
            // Its own stream, so dropout masks do not depend on how many weights were drawn.
            dropout_rng: Mutex::new(StdRng::seed_from_u64(seed ^ DROPOUT_SEED_MIX)),
            base_model: None,
            device: device.clone(),
        })
    }

    /// Reads a saved adapter (PEFT layout) for `model`; errors name the file and what
    /// does not fit.
    pub fn from_dir(dir: &Path, model: &ModelConfig, device: &Device) -> Result<Self, LoraError> {
        let cfg = LoraConfig::read(dir)?;
        let lora = Self::new(cfg, model, device, 0)?;
        lora.load_weights(dir)?;
        Ok(lora)
    }

    /// The model name written as `base_model_name_or_path`.
    pub fn with_base_model(mut self, name: impl Into<String>) -> Self {
        self.base_model = Some(name.into());
        self
    }

    pub fn config(&self) -> &LoraConfig {
        &self.cfg
    }

    /// Every trainable factor: layer-major, targets in [`LoraTarget::ALL`] order, A then B
    /// (the optimizer state follows this order).
    pub fn vars(&self) -> Vec<Var> {
        self.pairs
            .iter()
            .flat_map(|p| [p.a.clone(), p.b.clone()])
            .collect()
    }

    /// Restarts the dropout stream from `seed`, so a resumed run draws the same masks.
    pub fn reseed(&self, seed: u64) {
        let mut rng = self.dropout_rng.lock().unwrap_or_else(|e| e.into_inner());
        *rng = StdRng::seed_from_u64(seed ^ DROPOUT_SEED_MIX);
    }

    /// Dropout on (training) or off (rollout scoring, evaluation, inference).
    pub fn set_training(&self, on: bool) {
        self.training.store(on, Ordering::Relaxed);
    }

    pub fn is_training(&self) -> bool {
        self.training.load(Ordering::Relaxed)
    }

    /// The files an adapter folder consists of (what item-table caches are keyed by).
    pub fn files(dir: &Path) -> Vec<PathBuf> {
        vec![dir.join(CONFIG_FILE), dir.join(WEIGHTS_FILE)]
    }

    /// Every factor under its PEFT name, in [`Lora::vars`] order.
    fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.pairs
            .iter()
            .flat_map(|p| {
                [
                    (
                        tensor_name(p.layer, p.target, Factor::A),
                        p.a.as_tensor().clone(),
                    ),
                    (
                        tensor_name(p.layer, p.target, Factor::B),
                        p.b.as_tensor().clone(),
                    ),
                ]
            })
            .collect()
    }

    /// Writes `adapter_config.json` and `adapter_model.safetensors` into `dir`.
    pub fn save_dir(&self, dir: &Path) -> Result<(), LoraError> {
        let io = |source| LoraError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        peft::write_tensors(&dir.join(WEIGHTS_FILE), &self.named_tensors())?;
        let config = self.cfg.to_peft_json(self.base_model.as_deref());
        let path = dir.join(CONFIG_FILE);
        write_atomic(&path, config.as_bytes()).map_err(|source| LoraError::Io { path, source })
    }

    /// Reads the weights of `dir` into this adapter's variables. The file's settings
    /// must be this adapter's, and its tensors exactly the expected ones.
    pub fn load_weights(&self, dir: &Path) -> Result<(), LoraError> {
        let cfg_path = dir.join(CONFIG_FILE);
        let saved = LoraConfig::read(dir)?;
        let mismatch = |field, expected: String, found: String| LoraError::ConfigMismatch {
            path: cfg_path.clone(),
            field,
            expected,
            found,
        };
        if saved.r != self.cfg.r {
            return Err(mismatch("r", self.cfg.r.to_string(), saved.r.to_string()));
        }
        if saved.alpha != self.cfg.alpha {
            let (e, f) = (self.cfg.alpha.to_string(), saved.alpha.to_string());
            return Err(mismatch("lora_alpha", e, f));
        }
        if saved.target_modules != self.cfg.target_modules {
            let names = |c: &LoraConfig| -> String {
                let n: Vec<_> = c.target_modules.iter().map(|t| t.peft_name()).collect();
                n.join(", ")
            };
            return Err(mismatch("target_modules", names(&self.cfg), names(&saved)));
        }
        let path = dir.join(WEIGHTS_FILE);
        let mut tensors = peft::read_tensors(&path, &self.device)?;
        let mut updates = Vec::with_capacity(2 * self.pairs.len());
        for p in &self.pairs {
            for (factor, var) in [(Factor::A, &p.a), (Factor::B, &p.b)] {
                let name = tensor_name(p.layer, p.target, factor);
                let t = tensors
                    .remove(&name)
                    .ok_or_else(|| LoraError::MissingTensor {
                        path: path.clone(),
                        name: name.clone(),
                    })?;
                if t.dims() != var.dims() {
                    return Err(LoraError::ShapeMismatch {
                        path: path.clone(),
                        module: peft::short_name(p.layer, p.target, factor),
                        expected: var.dims().to_vec(),
                        found: t.dims().to_vec(),
                    });
                }
                updates.push((var, t));
            }
        }
        // Leftovers mean a deeper model, other modules, or trained biases or heads.
        if let Some(name) = tensors.keys().min() {
            return Err(LoraError::UnexpectedTensor {
                path,
                name: name.clone(),
            });
        }
        // Checked everything first, so a bad file leaves the variables untouched.
        for (var, t) in updates {
            var.set(&t)?;
        }
        Ok(())
    }

    /// `W += (alpha / r) B A` for every adapted projection of `weights` (HF names), for
    /// a backbone to be built in `format`. A merged weight is dense f32; when it was
    /// stored quantized and `format` is not [`WeightFormat::F32`], it is quantized again
    /// as Q8_0, the format `Auto` gives 4/5-bit weights anyway (fast kernels, finer steps
    /// than the types it usually comes from): an adapted model decodes as fast as its base.
    pub fn merge_into(&self, weights: &mut Weights, format: WeightFormat) -> Result<(), LoraError> {
        let scale = self.cfg.scale();
        for p in &self.pairs {
            let name = format!("{}.weight", module_path(p.layer, p.target));
            let (out_dim, in_dim) = (p.b.dim(0)?, p.a.dim(1)?);
            let w = weights.get_shaped(&name, &[out_dim, in_dim])?;
            let requantize = matches!(w, WeightTensor::Quantized(_)) && format != WeightFormat::F32;
            let base = w.to_f32(&weights.device)?;
            let delta = (p.b.as_tensor().matmul(p.a.as_tensor())? * scale)?;
            let merged = (base + delta.to_device(&weights.device)?)?;
            let merged = if requantize && in_dim % GgmlDType::Q8_0.block_size() == 0 {
                WeightTensor::Quantized(Arc::new(QTensor::quantize(&merged, GgmlDType::Q8_0)?))
            } else {
                WeightTensor::Dense(merged)
            };
            weights.tensors.insert(name, merged);
        }
        Ok(())
    }

    /// Inverted dropout of `x`. One key per call is drawn from this adapter's seeded
    /// stream (calls come in a fixed order, so a resumed run draws the same masks); the
    /// mask itself is made from that key on the tensor's device: on the CPU by a
    /// counter-based hash in parallel, on a GPU by its own generator seeded with the key,
    /// so no per-element draw waits on a lock or crosses to the host.
    fn dropout(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x * self.dropout_mask(x)?
    }

    /// The mask [`Lora::dropout`] multiplies by, in `x`'s dtype.
    fn dropout_mask(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let p = self.cfg.dropout;
        let keep = (1.0 / (1.0 - p)) as f32;
        let key: u64 = {
            // A poisoned lock only means another thread panicked mid-draw; the state is fine.
            let mut rng = self.dropout_rng.lock().unwrap_or_else(|e| e.into_inner());
            rng.random()
        };
        let mask = if x.device().is_cpu() {
            Tensor::from_vec(
                keep_mask(key, x.elem_count(), p, keep),
                x.shape(),
                x.device(),
            )?
        } else {
            x.device().set_seed(key)?;
            let u = Tensor::rand(0f32, 1f32, x.shape(), x.device())?;
            (u.ge(p as f32)?.to_dtype(DType::F32)? * f64::from(keep))?
        };
        mask.to_dtype(x.dtype())
    }
}

/// Element `i` of a dropout mask with stream `key`: 0 with probability `p`, else `keep`.
/// SplitMix64 of (key, i): independent of how the mask is split across threads.
fn keep_mask(key: u64, n: usize, p: f64, keep: f32) -> Vec<f32> {
    use rayon::prelude::*;
    // Compare 24-bit uniforms with p as an integer threshold.
    let threshold = (p * (1u64 << 24) as f64).round() as u64;
    let mut out = vec![0f32; n];
    out.par_chunks_mut(1 << 14)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (j, m) in chunk.iter_mut().enumerate() {
                let i = (c << 14) + j;
                *m = if splitmix64(key ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 40
                    < threshold
                {
                    0.0
                } else {
                    keep
                };
            }
        });
    out
}

/// The SplitMix64 finaliser (Steele et al.): a fast, well-mixed 64-bit hash.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl LinearHook for Lora {
    fn adapt(
        &self,
        layer: usize,
        target: LoraTarget,
        x: &Tensor,
        base: Tensor,
    ) -> candle_core::Result<Tensor> {
        let Some(&i) = self.index.get(&(layer, target)) else {
            return Ok(base);
        };
        if let Update::Delta(d) = self.update(layer, target, x)? {
            return base + d;
        }
        // Off the CPU f32 path (`update` is opaque there): candle's composite.
        let p = &self.pairs[i];
        let dropout = self.is_training() && self.cfg.dropout > 0.0;
        let x = if dropout { self.dropout(x)? } else { x.clone() };
        let in_dim = p.a.dim(1)?;
        let rows = x.elem_count() / in_dim.max(1);
        let update = x
            .reshape((rows, in_dim))?
            .matmul(&p.a.as_tensor().t()?)?
            .matmul(&p.b.as_tensor().t()?)?;
        let update = (update * self.cfg.scale())?.reshape(base.shape())?;
        base + update
    }

    /// On the CPU in f32, the update as one graph node, where candle's composite would
    /// be five (see `update`); elsewhere `adapt`'s composite.
    fn update(&self, layer: usize, target: LoraTarget, x: &Tensor) -> candle_core::Result<Update> {
        let Some(&i) = self.index.get(&(layer, target)) else {
            return Ok(Update::Unchanged);
        };
        if !(x.device().is_cpu() && x.dtype() == DType::F32) {
            return Ok(Update::Opaque);
        }
        let p = &self.pairs[i];
        let dropout = self.is_training() && self.cfg.dropout > 0.0;
        let mask = dropout.then(|| self.dropout_mask(x)).transpose()?;
        let (a, b) = (p.a.as_tensor(), p.b.as_tensor());
        update::lora_update(x, a, b, self.cfg.scale(), mask).map(Update::Delta)
    }

    fn first_adapted_layer(&self) -> usize {
        self.index
            .keys()
            .map(|&(layer, _)| layer)
            .min()
            .unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod mask_tests {
    use super::*;

    #[test]
    fn dropout_masks_keep_the_right_share_and_depend_only_on_the_key() {
        let (n, p) = (200_000, 0.05);
        let a = keep_mask(7, n, p, 2.0);
        let dropped = a.iter().filter(|&&m| m == 0.0).count() as f64 / n as f64;
        assert!((dropped - p).abs() < 0.003, "dropped share {dropped}");
        assert!(a.iter().all(|&m| m == 0.0 || m == 2.0));
        assert_eq!(a, keep_mask(7, n, p, 2.0), "same key, same mask");
        let b = keep_mask(8, n, p, 2.0);
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / n as f64;
        // Independent masks agree where both keep or both drop: 0.95^2 + 0.05^2.
        assert!((same - 0.905).abs() < 0.01, "agreement {same}");
        assert_eq!(
            &keep_mask(7, 1000, p, 2.0)[..],
            &a[..1000],
            "a prefix of the stream"
        );
        assert!(keep_mask(1, 1000, 0.0, 1.0).iter().all(|&m| m == 1.0));
    }
}
