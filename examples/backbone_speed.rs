//! Fast-path speed of a random model shaped like SmolLM2-135M (30 layers, hidden 576,
//! 9/3 heads, FFN 1536, vocab 49152) in f32, Q8_0 and Q4_0: prompt prefill and batch-1
//! decode, tokens per second. Also one decode-sized matmul per stored type, to show
//! which quantized types candle runs with SIMD on this CPU.
//!
//! Run: `cargo run --release --example backbone_speed` (RAYON_NUM_THREADS sets threads).

use std::sync::Arc;
use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use r2ec::model::backbone::{Backbone, KvCache, LoadOptions, WeightFormat};
use r2ec::model::config::{Family, ModelConfig};
use r2ec::model::random::random_weights;
use r2ec::model::weights::{WeightTensor, Weights};

const PROMPT: usize = 343;
const DECODE: usize = 64;

fn smollm2_shape() -> ModelConfig {
    ModelConfig {
        family: Family::Llama,
        vocab_size: 49152,
        hidden_size: 576,
        intermediate_size: 1536,
        num_hidden_layers: 30,
        num_attention_heads: 9,
        num_key_value_heads: 3,
        head_dim: 64,
        rms_norm_eps: 1e-5,
        rope_theta: 100_000.0,
        max_position_embeddings: 8192,
        tie_word_embeddings: true,
        attention_bias: false,
        final_logit_softcapping: None,
        attn_logit_softcapping: None,
        query_pre_attn_scalar: None,
        sliding_window: None,
        bos_token_id: Some(1),
        eos_token_id: Some(2),
    }
}

/// Every matrix stored as `dtype`, as a GGUF loader would hand them over.
fn quantized(w: &Weights, dtype: GgmlDType) -> candle_core::Result<Weights> {
    let mut tensors = w.tensors.clone();
    for t in tensors.values_mut() {
        if let WeightTensor::Dense(d) = t {
            if d.rank() == 2 {
                *t = WeightTensor::Quantized(Arc::new(QTensor::quantize(d, dtype)?));
            }
        }
    }
    Ok(Weights {
        tensors,
        device: w.device.clone(),
    })
}

fn run(name: &str, cfg: &ModelConfig, w: &Weights, opts: LoadOptions) -> candle_core::Result<()> {
    let m = Backbone::new(cfg, w, &opts).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let ids: Vec<u32> = (0..PROMPT as u32).map(|i| (i * 7919) % 49152).collect();
    let ids = Tensor::new(ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    let mut cache = KvCache::new(cfg, 1);
    let t = Instant::now();
    let h = m.forward_hidden(&ids, &mut cache, None)?;
    let mut next = m.logits(&h.narrow(1, PROMPT - 1, 1)?)?.argmax(2)?;
    let prefill = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..DECODE {
        let h = m.forward_hidden(&next.to_dtype(candle_core::DType::U32)?, &mut cache, None)?;
        next = m.logits(&h)?.argmax(2)?;
    }
    let decode = t.elapsed().as_secs_f64();
    println!(
        "{name}: prefill {PROMPT} tokens {:.2} s = {:.0} tok/s; decode {DECODE} tokens {:.1} tok/s ({:.1} ms/token)",
        prefill,
        PROMPT as f64 / prefill,
        DECODE as f64 / decode,
        1000.0 * decode / DECODE as f64
    );
    Ok(())
}

fn matmul_speed() -> candle_core::Result<()> {
    let w = Tensor::randn(0f32, 0.1, (1536, 576), &Device::Cpu)?;
    for rows in [1, PROMPT] {
        let x = Tensor::randn(0f32, 1.0, (rows, 576), &Device::Cpu)?;
        for dtype in [
            GgmlDType::F32,
            GgmlDType::Q8_0,
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
        ] {
            let m = if dtype == GgmlDType::F32 {
                QMatMul::Tensor(w.clone())
            } else {
                QMatMul::from_qtensor(QTensor::quantize(&w, dtype)?)?
            };
            m.forward(&x)?;
            let n = 2000 / rows + 3;
            let t = Instant::now();
            for _ in 0..n {
                m.forward(&x)?;
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            println!("{rows} x 576 @ 576 x 1536, {dtype:?}: {us:.1} us");
        }
    }
    Ok(())
}

fn main() -> candle_core::Result<()> {
    matmul_speed()?;
    if std::env::args().any(|a| a == "--gemv-only") {
        return Ok(());
    }
    let cfg = smollm2_shape();
    let dense = random_weights(&cfg, 0, &Device::Cpu)?;
    let opts = |format| LoadOptions {
        format,
        dense_prefill: true,
    };
    run("f32", &cfg, &dense, opts(WeightFormat::F32))?;
    run("q8_0", &cfg, &dense, opts(WeightFormat::Q8_0))?;
    let q4_0 = quantized(&dense, GgmlDType::Q4_0)?;
    run("q4_0", &cfg, &q4_0, opts(WeightFormat::Auto))?;
    let quantized_prefill = LoadOptions {
        format: WeightFormat::Auto,
        dense_prefill: false,
    };
    run("q4_0 (quantized prefill)", &cfg, &q4_0, quantized_prefill)?;
    let q4_1 = quantized(&dense, GgmlDType::Q4_1)?;
    run("q4_1 (as q8_0)", &cfg, &q4_1, opts(WeightFormat::Auto))?;
    Ok(())
}
