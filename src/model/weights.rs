//! Named weights, whatever file they came from. Loaders (GGUF, safetensors folders)
//! produce a `Weights` map keyed by Hugging Face tensor names
//! (`model.layers.3.self_attn.q_proj.weight`, ...), with GGUF's interleaved Q/K rows
//! already put back into Hugging Face's half-split rotary order; the backbone builds
//! itself from this map and does not care where the tensors came from.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use candle_core::quantized::QTensor;
use candle_core::{DType, Device, Tensor};

use super::error::ModelError;

/// A weight as stored: dense, or still quantized (GGUF) so the backbone can choose the
/// fastest format for its matmuls.
#[derive(Debug, Clone)]
pub enum WeightTensor {
    Dense(Tensor),
    Quantized(Arc<QTensor>),
}

impl WeightTensor {
    pub fn dims(&self) -> &[usize] {
        match self {
            Self::Dense(t) => t.dims(),
            Self::Quantized(q) => q.shape().dims(),
        }
    }

    /// The weight as a dense f32 tensor (dequantized when stored quantized).
    pub fn to_f32(&self, device: &Device) -> candle_core::Result<Tensor> {
        match self {
            Self::Dense(t) => t.to_dtype(DType::F32)?.to_device(device),
            Self::Quantized(q) => q.dequantize(device),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Weights {
    pub tensors: HashMap<String, WeightTensor>,
    pub device: Device,
}

impl Weights {
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Result<&WeightTensor, ModelError> {
        self.tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
            })
    }

    /// The tensor `name`, checked to have exactly `shape`.
    pub fn get_shaped(&self, name: &str, shape: &[usize]) -> Result<&WeightTensor, ModelError> {
        let w = self.get(name)?;
        if w.dims() != shape {
            return Err(ModelError::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                actual: w.dims().to_vec(),
            });
        }
        Ok(w)
    }

    /// The tensor `name` as dense f32 on this map's device, checked to have `shape`.
    pub fn dense(&self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        Ok(self.get_shaped(name, shape)?.to_f32(&self.device)?)
    }

    /// Memory-maps one or several safetensors shards and loads every tensor onto
    /// `device`, keeping the stored dtype (the backbone converts what it uses).
    pub fn from_safetensors_files(files: &[PathBuf], device: &Device) -> Result<Self, ModelError> {
        let mut tensors = HashMap::new();
        for path in files {
            if !path.is_file() {
                return Err(ModelError::MissingFile {
                    path: path.clone(),
                    what: "safetensors shard",
                });
            }
            let wrap = |source| ModelError::Safetensors {
                path: path.clone(),
                source,
            };
            // Safety: the file is mapped read-only; like every mmap user we rely on it not
            // being truncated while the map is alive (it is dropped at the end of the loop).
            let st =
                unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }.map_err(wrap)?;
            for (name, _) in st.tensors() {
                let t = st.load(&name, device).map_err(wrap)?;
                tensors.insert(name, WeightTensor::Dense(t));
            }
        }
        Ok(Self {
            tensors,
            device: device.clone(),
        })
    }
}
