//! A model ready to use: backbone, tokenizer and chat template from one GGUF file or one
//! Hugging Face folder, optionally with a LoRA adapter merged into its weights, and the
//! files it came from (item-table caches are keyed by them).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::backbone::{Backbone, KvCache, LinearHook, LoadOptions, SharedHook, WeightFormat};
use super::config::ModelConfig;
use super::error::ModelError;
use super::lower::LowerStates;
use super::tokenizer::Tokenizer;
use crate::model::chat_template::ChatTemplate;
use crate::model::lora::Lora;

pub struct LoadedModel {
    pub backbone: Backbone,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub path: PathBuf,
    /// Short human name: the file or folder name.
    pub name: String,
    /// The files the weights came from (the GGUF file, or the folder's safetensors).
    pub files: Vec<PathBuf>,
    /// The LoRA adapter folder merged into the weights, if any.
    pub adapter: Option<PathBuf>,
    /// The adapter's files (config and weights); empty without an adapter.
    pub adapter_files: Vec<PathBuf>,
}

impl LoadedModel {
    /// Load a `.gguf` file or a Hugging Face folder.
    pub fn load(path: &Path, device: &Device, opts: &LoadOptions) -> Result<Self, ModelError> {
        Self::load_with_adapter(path, None, device, opts)
    }

    /// Load a model with the LoRA adapter saved in `adapter` (PEFT layout): merged into
    /// dense f32 weights, or applied beside quantized ones on every fast-path forward.
    pub fn load_with_adapter(
        path: &Path,
        adapter: Option<&Path>,
        device: &Device,
        opts: &LoadOptions,
    ) -> Result<Self, ModelError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !path.exists() {
            return Err(ModelError::MissingFile {
                path: path.to_path_buf(),
                what: missing_what(path),
            });
        }
        let (config, mut weights, tokenizer, template, files) = if path.is_dir() {
            let (folder, config, weights) = super::hf::load_hf_folder(path, device)?;
            let (tokenizer, template) = super::tokenizer::load_hf_tokenizer(path)?;
            (config, weights, tokenizer, template, folder.weight_files)
        } else {
            let g = super::gguf::load_gguf(path, device)?;
            (
                g.config,
                g.weights,
                g.tokenizer,
                g.chat_template,
                vec![path.to_path_buf()],
            )
        };
        // Dense f32 weights (asked for, or `Auto` on a GPU) take the adapter merged
        // (exact, and no extra matmuls). Quantized and bf16 weights keep it beside them
        // as a hook: merging would round `W + scale B A` again, and the rounding of Q8_0
        // or bf16 is larger than a trained update.
        let (adapter_files, hook) = match adapter {
            Some(dir) => {
                let lora = Lora::from_dir(dir, &config, device)?;
                let format = opts.format.on(device);
                let hook = if format == WeightFormat::F32 {
                    lora.merge_into(&mut weights, format)?;
                    None
                } else {
                    Some(SharedHook(std::sync::Arc::new(lora)))
                };
                (Lora::files(dir), hook)
            }
            None => (Vec::new(), None),
        };
        let mut backbone = Backbone::new(&config, &weights, opts)?;
        backbone.set_adapter(hook);
        Ok(Self {
            backbone,
            tokenizer,
            template,
            path: path.to_path_buf(),
            name,
            files,
            adapter: adapter.map(Path::to_path_buf),
            adapter_files,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        self.backbone.config()
    }

    pub fn device(&self) -> &Device {
        self.backbone.device()
    }

    /// The final-norm hidden state at the last token of each prompt, `batch` prompts per
    /// forward pass (left-padded). This is how item vectors (and no-reasoning user
    /// vectors) are read.
    pub fn last_hidden(
        &self,
        prompts: &[Vec<u32>],
        batch: usize,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        self.last_hidden_hooked(prompts, batch, None)
    }

    /// [`LoadedModel::last_hidden`] through an adapter (`hook`) on the fast path.
    pub fn last_hidden_hooked(
        &self,
        prompts: &[Vec<u32>],
        batch: usize,
        hook: Option<&dyn LinearHook>,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        self.last_hidden_reusing(prompts, batch, hook, None)
    }

    /// [`LoadedModel::last_hidden_hooked`], the layers below `lower`'s taken from (or
    /// added to) it when they are the base model's (see [`Backbone::lower_is_base`]).
    pub fn last_hidden_reusing(
        &self,
        prompts: &[Vec<u32>],
        batch: usize,
        hook: Option<&dyn LinearHook>,
        lower: Option<&LowerStates>,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let lower = lower.filter(|s| self.backbone.lower_is_base(hook, s.layer()));
        let mut out = Vec::with_capacity(prompts.len());
        for chunk in prompts.chunks(batch.max(1)) {
            let (ids, _) = left_pad(chunk, self.device())?;
            let max_len = ids.dim(1)?;
            // The padding as host flags: nothing read back from a GPU before the forward.
            let real = left_pad_flags(chunk);
            let h = match lower {
                Some(states) => {
                    let layer = states.layer();
                    let x = states.get_or_compute(chunk, || {
                        self.backbone.forward_lower_flags(&ids, &real, layer, hook)
                    })?;
                    self.backbone.forward_upper_flags(&x, &real, layer, hook)?
                }
                None => {
                    let mut cache = KvCache::new(self.config(), chunk.len());
                    self.backbone
                        .forward_hidden_flags(&ids, &mut cache, &real, hook)?
                }
            };
            let last = h
                .narrow(1, max_len - 1, 1)?
                .squeeze(1)?
                .to_dtype(candle_core::DType::F32)?;
            out.extend(last.to_vec2::<f32>()?);
        }
        Ok(out)
    }
}

fn missing_what(path: &Path) -> &'static str {
    if path.extension().is_some_and(|e| e == "gguf") {
        "model file (run `r2ec setup` to fetch the default model, `r2ec setup --all` for Qwen2.5-Coder-0.5B)"
    } else {
        "model (give a .gguf file or a Hugging Face folder with config.json, *.safetensors, tokenizer.json)"
    }
}

/// Host flags of [`left_pad`]'s batch: `real[b][j]` is true for a real token.
pub fn left_pad_flags<P: AsRef<[u32]>>(prompts: &[P]) -> Vec<Vec<bool>> {
    let max_len = prompts.iter().map(|p| p.as_ref().len()).max().unwrap_or(0);
    prompts
        .iter()
        .map(|p| {
            (0..max_len)
                .map(|j| j >= max_len - p.as_ref().len())
                .collect()
        })
        .collect()
}

/// Prompts of different lengths as one left-padded batch: token ids `[B, L]` (padding id
/// 0) and the mask `[B, L]` (1 = real token), so every prompt ends at the last column.
pub fn left_pad<P: AsRef<[u32]>>(
    prompts: &[P],
    device: &Device,
) -> Result<(Tensor, Tensor), ModelError> {
    let max_len = prompts.iter().map(|p| p.as_ref().len()).max().unwrap_or(0);
    if max_len == 0 || prompts.iter().any(|p| p.as_ref().is_empty()) {
        return Err(ModelError::Input("empty prompt".into()));
    }
    let mut ids = Vec::with_capacity(prompts.len() * max_len);
    let mut pad = Vec::with_capacity(prompts.len() * max_len);
    for p in prompts {
        let p = p.as_ref();
        let n = max_len - p.len();
        ids.extend(std::iter::repeat_n(0u32, n));
        ids.extend_from_slice(p);
        pad.extend(std::iter::repeat_n(0u8, n));
        pad.extend(std::iter::repeat_n(1u8, p.len()));
    }
    let ids = Tensor::from_vec(ids, (prompts.len(), max_len), device)?;
    let pad = Tensor::from_vec(pad, (prompts.len(), max_len), device)?;
    Ok((ids, pad))
}
