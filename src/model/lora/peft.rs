//! PEFT's file layout for LoRA weights: `adapter_model.safetensors` with tensors named
//! `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight` (`mlp.gate_proj`
//! etc. for the MLP), A `[r, in]` and B `[out, r]` as `nn.Linear` stores them, and the
//! header metadata `{"format": "pt"}` that transformers' loaders look for.
//! See peft/utils/save_and_load.py (`get_peft_model_state_dict`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::error::LoraError;
use crate::model::backbone::LoraTarget;
use crate::util::atomic::write_atomic;

pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// The prefix `PeftModelForCausalLM` puts before the wrapped model's module names.
const PEFT_PREFIX: &str = "base_model.model.";

/// The Hugging Face module a target is, e.g. `model.layers.3.self_attn.q_proj`.
pub fn module_path(layer: usize, target: LoraTarget) -> String {
    let block = match target {
        LoraTarget::Q | LoraTarget::K | LoraTarget::V | LoraTarget::O => "self_attn",
        LoraTarget::Gate | LoraTarget::Up | LoraTarget::Down => "mlp",
    };
    format!("model.layers.{layer}.{block}.{}", target.peft_name())
}

/// Which of the two factors a tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    A,
    B,
}

impl Factor {
    fn peft_name(self) -> &'static str {
        match self {
            Self::A => "lora_A",
            Self::B => "lora_B",
        }
    }
}

/// The tensor name PEFT saves a factor under.
pub fn tensor_name(layer: usize, target: LoraTarget, factor: Factor) -> String {
    format!(
        "{PEFT_PREFIX}{}.{}.weight",
        module_path(layer, target),
        factor.peft_name()
    )
}

/// A short name for errors: `layers.3.self_attn.q_proj.lora_A`.
pub fn short_name(layer: usize, target: LoraTarget, factor: Factor) -> String {
    let module = module_path(layer, target);
    let module = module.strip_prefix("model.").unwrap_or(&module);
    format!("{module}.{}", factor.peft_name())
}

/// Writes `tensors` as f32 into `path` atomically; the file's bytes depend only on the
/// names and values (safetensors orders tensors itself).
pub fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), LoraError> {
    let mut data = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        data.push((name.clone(), t.dims().to_vec(), bytes));
    }
    let views = data
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (name.as_str(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| safetensors_error(path, e))?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes =
        safetensors::serialize(views, Some(metadata)).map_err(|e| safetensors_error(path, e))?;
    write_atomic(path, &bytes).map_err(|source| LoraError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Every tensor of `path` as f32 on `device` (PEFT saves in the model's dtype, often
/// bf16 or f16).
pub fn read_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>, LoraError> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            LoraError::MissingFile {
                path: path.to_path_buf(),
                what: "LoRA adapter weights",
            }
        } else {
            LoraError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| safetensors_error(path, e))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let dtype = match view.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            other => {
                return Err(LoraError::BadDtype {
                    path: path.to_path_buf(),
                    name,
                    dtype: format!("{other:?}"),
                })
            }
        };
        let t = Tensor::from_raw_buffer(view.data(), dtype, view.shape(), device)?
            .to_dtype(DType::F32)?;
        out.insert(name, t);
    }
    Ok(out)
}

fn safetensors_error(path: &Path, e: safetensors::SafeTensorError) -> LoraError {
    LoraError::Safetensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
