//! Named weights, whatever file they came from. Loaders (GGUF, safetensors folders)
//! produce a `Weights` map keyed by Hugging Face tensor names
//! (`model.layers.3.self_attn.q_proj.weight`, ...), with GGUF's interleaved Q/K rows
//! already put back into Hugging Face's half-split rotary order; the backbone builds
//! itself from this map and does not care where the tensors came from.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};

/// A weight as stored: dense, or still quantized (GGUF) so the backbone can choose the
/// fastest format for its matmuls.
#[derive(Debug, Clone)]
pub enum WeightTensor {
    Dense(Tensor),
    Quantized(Arc<QTensor>),
}

#[derive(Debug, Clone)]
pub struct Weights {
    pub tensors: HashMap<String, WeightTensor>,
    pub device: Device,
}
