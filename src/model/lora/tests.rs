//! LoRA on tiny seeded models: gradients (every variable, finite differences), the
//! frozen base, merge against hook, PEFT files round trip and bad files.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::model::backbone::{Backbone, KvCache, LoadOptions, WeightFormat};
use crate::model::config::Family;
use crate::model::random::{random_weights, tiny_config};

const IDS: [u32; 6] = [3, 17, 42, 5, 9, 60];

fn ids(dev: &Device) -> Tensor {
    Tensor::from_vec(IDS.to_vec(), (1, IDS.len()), dev).expect("ids")
}

fn f32_opts() -> LoadOptions {
    LoadOptions {
        format: WeightFormat::F32,
        dense_prefill: false,
    }
}

fn small_cfg() -> LoraConfig {
    LoraConfig {
        r: 2,
        alpha: 4.0,
        dropout: 0.0,
        ..Default::default()
    }
}

/// A fixed random direction to turn hidden states into a scalar loss.
fn probe(shape: &[usize], dev: &Device) -> Tensor {
    let mut rng = StdRng::seed_from_u64(99);
    let n = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.random_range(-1f32..1.0)).collect();
    Tensor::from_vec(data, shape, dev).expect("probe")
}

fn loss(bb: &Backbone, lora: &Lora, probe: &Tensor) -> candle_core::Result<Tensor> {
    let h = bb.forward_hidden_train(&ids(bb.device()), None, Some(lora))?;
    (h * probe)?.sum_all()
}

pub(super) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let d = (a - b).and_then(|d| d.abs()?.max_all()?.to_scalar::<f32>());
    d.expect("comparable tensors")
}

fn set_entry(var: &Var, idx: usize, value: f32) -> candle_core::Result<()> {
    let mut data = var.flatten_all()?.to_vec1::<f32>()?;
    data[idx] = value;
    var.set(&Tensor::from_vec(data, var.shape(), var.device())?)
}

#[test]
fn fresh_adapter_changes_nothing_and_vars_are_ordered() -> Result<(), LoraError> {
    let dev = Device::Cpu;
    let cfg = tiny_config(Family::Llama);
    let bb = Backbone::new(&cfg, &random_weights(&cfg, 1, &dev)?, &f32_opts())?;
    let lora = Lora::new(LoraConfig::default(), &cfg, &dev, 7)?;
    let plain = bb.forward_hidden_train(&ids(&dev), None, None)?;
    let hooked = bb.forward_hidden_train(&ids(&dev), None, Some(&lora))?;
    assert_eq!(max_diff(&plain, &hooked), 0.0);

    let vars = lora.vars();
    assert_eq!(vars.len(), 2 * 7 * cfg.num_hidden_layers);
    // Layer 0 q A, q B, k A, ..., then layer 1: the order the optimizer state follows.
    assert_eq!(vars[0].dims(), [4, cfg.hidden_size]);
    assert_eq!(vars[1].dims(), [cfg.num_attention_heads * cfg.head_dim, 4]);
    assert_eq!(vars[13].dims(), [cfg.hidden_size, 4], "layer 0 down B");
    assert_eq!(vars[14].dims(), [4, cfg.hidden_size], "layer 1 q A");
    // PEFT's kaiming-uniform bound for A is 1/sqrt(in).
    let bound = 1.0 / (cfg.hidden_size as f32).sqrt();
    let a = vars[0].flatten_all()?.to_vec1::<f32>()?;
    assert!(a.iter().all(|v| v.abs() <= bound) && a.iter().any(|v| v.abs() > bound / 2.0));
    assert_eq!(vars[1].abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
    Ok(())
}

/// With B non-zero every factor gets a non-zero gradient, and none of the frozen base
/// weights does.
#[test]
fn every_variable_gets_a_gradient() -> Result<(), LoraError> {
    let dev = Device::Cpu;
    for family in [Family::Llama, Family::Qwen2, Family::Gemma2] {
        let cfg = tiny_config(family);
        let bb = Backbone::new(&cfg, &random_weights(&cfg, 2, &dev)?, &f32_opts())?;
        let lora = Lora::with_init(LoraConfig::default(), &cfg, &dev, 3, LoraInit::NonZero)?;
        lora.set_training(true);
        let grads = loss(&bb, &lora, &probe(&[1, IDS.len(), cfg.hidden_size], &dev))?.backward()?;
        for (i, v) in lora.vars().iter().enumerate() {
            let g = grads
                .get(v.as_tensor())
                .expect("gradient for every LoRA variable");
            let norm = g.sqr()?.sum_all()?.to_scalar::<f32>()?;
            assert!(norm > 0.0 && norm.is_finite(), "{family:?} var {i}: {norm}");
        }
        assert!(
            grads.get(bb.embed_tokens()).is_none(),
            "embedding stays frozen"
        );
    }
    Ok(())
}

/// Analytic gradients of a scalar loss match central differences for entries of A and B
/// across layers and targets.
#[test]
fn gradients_match_finite_differences() -> Result<(), LoraError> {
    let dev = Device::Cpu;
    let cfg = tiny_config(Family::Qwen2);
    let bb = Backbone::new(&cfg, &random_weights(&cfg, 4, &dev)?, &f32_opts())?;
    let lora = Lora::with_init(small_cfg(), &cfg, &dev, 5, LoraInit::NonZero)?;
    let probe = probe(&[1, IDS.len(), cfg.hidden_size], &dev);
    let grads = loss(&bb, &lora, &probe)?.backward()?;
    let vars = lora.vars();
    let eps = 1e-2f32;
    // (var index, entry): q A and B of layer 0, v B, o A, gate A, down B of layer 1.
    let picks = [(0, 5), (1, 9), (5, 3), (6, 17), (14 + 8, 30), (14 + 13, 11)];
    for (vi, idx) in picks {
        let var = &vars[vi];
        let g = grads.get(var.as_tensor()).expect("gradient");
        let analytic = g.flatten_all()?.to_vec1::<f32>()?[idx];
        let orig = var.flatten_all()?.to_vec1::<f32>()?[idx];
        set_entry(var, idx, orig + eps)?;
        let up = loss(&bb, &lora, &probe)?.to_scalar::<f32>()?;
        set_entry(var, idx, orig - eps)?;
        let down = loss(&bb, &lora, &probe)?.to_scalar::<f32>()?;
        set_entry(var, idx, orig)?;
        let numeric = (up - down) / (2.0 * eps);
        let tol = 1e-3 + 2e-2 * analytic.abs().max(numeric.abs());
        assert!(
            (analytic - numeric).abs() <= tol,
            "var {vi}[{idx}]: analytic {analytic}, numeric {numeric}"
        );
        assert!(analytic.abs() > 1e-4, "var {vi}[{idx}]: vanishing gradient");
    }
    Ok(())
}

/// Dropout only while training, reproducible from the seed.
#[test]
fn dropout_only_while_training() -> Result<(), LoraError> {
    let dev = Device::Cpu;
    let cfg = tiny_config(Family::Llama);
    let bb = Backbone::new(&cfg, &random_weights(&cfg, 1, &dev)?, &f32_opts())?;
    let lora_cfg = LoraConfig {
        dropout: 0.5,
        ..Default::default()
    };
    let run = |training: bool| -> Result<Tensor, LoraError> {
        let lora = Lora::with_init(lora_cfg.clone(), &cfg, &dev, 11, LoraInit::NonZero)?;
        lora.set_training(training);
        Ok(bb.forward_hidden_train(&ids(&dev), None, Some(&lora))?)
    };
    let (eval_a, eval_b) = (run(false)?, run(false)?);
    let (train_a, train_b) = (run(true)?, run(true)?);
    assert_eq!(max_diff(&eval_a, &eval_b), 0.0);
    assert_eq!(max_diff(&train_a, &train_b), 0.0, "same seed, same masks");
    assert!(max_diff(&eval_a, &train_a) > 1e-3, "dropout had no effect");
    Ok(())
}

/// After `reseed`, the masks depend only on the seed, not on what was drawn before: a
/// resumed run (fresh adapter) and an uninterrupted one (masks drawn in earlier steps)
/// train on the same noise.
#[test]
fn reseed_restarts_the_dropout_stream() -> Result<(), LoraError> {
    let dev = Device::Cpu;
    let cfg = tiny_config(Family::Llama);
    let bb = Backbone::new(&cfg, &random_weights(&cfg, 1, &dev)?, &f32_opts())?;
    let lora_cfg = LoraConfig {
        dropout: 0.5,
        ..Default::default()
    };
    let long_run = Lora::with_init(lora_cfg.clone(), &cfg, &dev, 11, LoraInit::NonZero)?;
    let resumed = Lora::with_init(lora_cfg, &cfg, &dev, 11, LoraInit::NonZero)?;
    long_run.set_training(true);
    resumed.set_training(true);
    let earlier = bb.forward_hidden_train(&ids(&dev), None, Some(&long_run))?;
    long_run.reseed(99);
    resumed.reseed(99);
    let a = bb.forward_hidden_train(&ids(&dev), None, Some(&long_run))?;
    let b = bb.forward_hidden_train(&ids(&dev), None, Some(&resumed))?;
    assert_eq!(max_diff(&a, &b), 0.0, "same seed after reseed, same masks");
    assert!(max_diff(&earlier, &a) > 1e-4, "a new seed draws new masks");
    Ok(())
}

fn quantized(w: &Weights) -> candle_core::Result<Weights> {
    let mut q = w.clone();
    for (name, t) in q.tensors.iter_mut() {
        if name.ends_with("proj.weight") {
            let dense = t.to_f32(&w.device)?;
            *t = WeightTensor::Quantized(Arc::new(QTensor::quantize(&dense, GgmlDType::Q4_0)?));
        }
    }
    Ok(q)
}

/// The merged fast path computes what the hooked differentiable path does: exactly in
/// f32, within the rounding of the re-quantized (Q8_0) merged weights when the base is
/// quantized. Both run on dequantized weights there, so the quantized kernels' own
/// rounding of activations does not blur the comparison.
#[test]
fn merged_fast_path_matches_hooked_path() -> Result<(), LoraError> {
    let dev = Device::Cpu;
    for family in [Family::Llama, Family::Qwen2, Family::Gemma2] {
        let cfg = tiny_config(family);
        let dense = random_weights(&cfg, 6, &dev)?;
        let lora = Lora::with_init(small_cfg(), &cfg, &dev, 8, LoraInit::NonZero)?;
        // (base, format merged for, format both run in, tolerance)
        for (weights, merge_for, run_in, tol) in [
            (
                dense.clone(),
                WeightFormat::Auto,
                WeightFormat::F32,
                1e-4f32,
            ),
            (
                quantized(&dense)?,
                WeightFormat::F32,
                WeightFormat::F32,
                1e-4,
            ),
            (
                quantized(&dense)?,
                WeightFormat::Auto,
                WeightFormat::F32,
                6e-2,
            ),
        ] {
            let opts = LoadOptions {
                format: run_in,
                dense_prefill: false,
            };
            let base = Backbone::new(&cfg, &weights, &opts)?;
            let hooked = base.forward_hidden_train(&ids(&dev), None, Some(&lora))?;
            let mut merged_w = weights.clone();
            lora.merge_into(&mut merged_w, merge_for)?;
            let requantized = merged_w
                .tensors
                .values()
                .filter(|t| matches!(t, WeightTensor::Quantized(q) if q.dtype() == GgmlDType::Q8_0))
                .count();
            let was_quantized = matches!(
                weights.get("model.layers.0.mlp.up_proj.weight")?,
                WeightTensor::Quantized(_)
            );
            let requantizes = was_quantized && merge_for != WeightFormat::F32;
            assert_eq!(requantized, if requantizes { 14 } else { 0 });
            let merged = Backbone::new(&cfg, &merged_w, &opts)?;
            let mut cache = KvCache::new(&cfg, 1);
            let fast = merged.forward_hidden(&ids(&dev), &mut cache, None)?;
            let diff = max_diff(&fast, &hooked);
            assert!(
                diff < tol,
                "{family:?} {merge_for:?}: merged differs by {diff}"
            );
            let plain = base.forward_hidden(&ids(&dev), &mut KvCache::new(&cfg, 1), None)?;
            let effect = max_diff(&fast, &plain);
            assert!(
                effect > 10.0 * diff.max(1e-3),
                "adapter effect {effect} vs merge error {diff}"
            );
        }
    }
    Ok(())
}

#[test]
fn save_load_round_trip() -> Result<(), LoraError> {
    let dev = Device::Cpu;
    let cfg = tiny_config(Family::Llama);
    let bb = Backbone::new(&cfg, &random_weights(&cfg, 1, &dev)?, &f32_opts())?;
    let dir = tempfile::tempdir().map_err(|source| LoraError::Io {
        path: "tempdir".into(),
        source,
    })?;
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let saved = Lora::with_init(LoraConfig::default(), &cfg, &dev, 21, LoraInit::NonZero)?
        .with_base_model("tiny");
    saved.save_dir(&one)?;
    let loaded = Lora::new(LoraConfig::default(), &cfg, &dev, 99)?.with_base_model("tiny");
    loaded.load_weights(&one)?;
    loaded.save_dir(&two)?;
    for file in [CONFIG_FILE, WEIGHTS_FILE] {
        let read = |d: &Path| std::fs::read(d.join(file)).expect("saved file");
        assert_eq!(read(&one), read(&two), "{file} differs after a round trip");
    }
    let from_dir = Lora::from_dir(&one, &cfg, &dev)?;
    let h = |l: &Lora| bb.forward_hidden_train(&ids(&dev), None, Some(l));
    assert_eq!(max_diff(&h(&saved)?, &h(&loaded)?), 0.0);
    assert_eq!(max_diff(&h(&saved)?, &h(&from_dir)?), 0.0);
    Ok(())
}

/// Writes an adapter of `lora_cfg` for `model` into `dir`.
fn write_adapter(dir: &Path, model: &ModelConfig, lora_cfg: LoraConfig) {
    let lora =
        Lora::with_init(lora_cfg, model, &Device::Cpu, 1, LoraInit::NonZero).expect("adapter");
    lora.save_dir(dir).expect("saved");
}

#[test]
fn bad_adapter_files_are_named() {
    let dev = Device::Cpu;
    let cfg = tiny_config(Family::Llama);
    let dir = tempfile::tempdir().expect("tempdir");
    let err_of = |d: &Path| {
        Lora::from_dir(d, &cfg, &dev)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "loaded".into())
    };

    let missing = dir.path().join("missing");
    assert!(err_of(&missing).contains("adapter_config.json: LoRA adapter config not found"));

    let wider = dir.path().join("wider");
    let mut other = cfg.clone();
    other.hidden_size = 48;
    write_adapter(&wider, &other, LoraConfig::default());
    let err = err_of(&wider);
    assert!(
        err.contains("adapter_model.safetensors: adapter for another model: layers.0.self_attn.q_proj.lora_A has [4, 48], this model wants [4, 32]"),
        "{err}"
    );

    let deeper = dir.path().join("deeper");
    let mut other = cfg.clone();
    other.num_hidden_layers = 3;
    write_adapter(&deeper, &other, LoraConfig::default());
    let err = err_of(&deeper);
    assert!(
        err.contains("`base_model.model.model.layers.2.mlp.down_proj.lora_A.weight` is not part"),
        "{err}"
    );

    let shallow = dir.path().join("shallow");
    let mut other = cfg.clone();
    other.num_hidden_layers = 1;
    write_adapter(&shallow, &other, LoraConfig::default());
    let err = err_of(&shallow);
    assert!(
        err.contains(
            "missing tensor `base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight`"
        ),
        "{err}"
    );

    let garbage = dir.path().join("garbage");
    write_adapter(&garbage, &cfg, LoraConfig::default());
    std::fs::write(garbage.join(WEIGHTS_FILE), b"not a safetensors file").expect("write");
    let err = err_of(&garbage);
    assert!(
        err.contains("adapter_model.safetensors: cannot read safetensors"),
        "{err}"
    );

    // Weights of one rank under a config of another.
    let rank = dir.path().join("rank");
    write_adapter(&rank, &cfg, LoraConfig::default());
    let lora8 = Lora::new(
        LoraConfig {
            r: 8,
            ..Default::default()
        },
        &cfg,
        &dev,
        0,
    )
    .expect("lora");
    let err = lora8.load_weights(&rank).unwrap_err().to_string();
    assert!(
        err.contains("field `r` is 4 in the file, the adapter was built with 8"),
        "{err}"
    );

    let unsupported = dir.path().join("rslora");
    write_adapter(&unsupported, &cfg, LoraConfig::default());
    let path = unsupported.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).expect("config");
    std::fs::write(
        &path,
        text.replace("\"use_rslora\": false", "\"use_rslora\": true"),
    )
    .expect("write");
    let err = err_of(&unsupported);
    assert!(
        err.contains("adapter_config.json: field `use_rslora`"),
        "{err}"
    );
}

/// Adapters saved in half precision (as PEFT does for bf16 models) load as f32.
#[test]
fn half_precision_weights_load() -> Result<(), LoraError> {
    let dev = Device::Cpu;
    let cfg = tiny_config(Family::Llama);
    let dir = tempfile::tempdir().expect("tempdir");
    let lora = Lora::with_init(LoraConfig::default(), &cfg, &dev, 2, LoraInit::NonZero)?;
    lora.save_dir(dir.path())?;
    let half: Vec<(String, Tensor)> = lora
        .named_tensors()
        .into_iter()
        .map(|(n, t)| t.to_dtype(candle_core::DType::BF16).map(|t| (n, t)))
        .collect::<candle_core::Result<_>>()?;
    let named: std::collections::HashMap<_, _> = half.into_iter().collect();
    candle_core::safetensors::save(&named, dir.path().join(WEIGHTS_FILE))?;
    let back = Lora::from_dir(dir.path(), &cfg, &dev)?;
    for (a, b) in lora.vars().iter().zip(back.vars()) {
        assert!(max_diff(a, &b) < 1e-2);
    }
    Ok(())
}

/// LoRA on the top layer only (PEFT's `layers_to_transform`): variables for that layer
/// alone, each with a gradient; the adapted output matches an all-layer adapter whose
/// lower layer is zeroed; the folder round-trips with `layers_to_transform`.
#[test]
fn top_layers_only() -> Result<(), LoraError> {
    let dev = Device::Cpu;
    let cfg = tiny_config(Family::Llama);
    let top = cfg.num_hidden_layers - 1;
    let bb = Backbone::new(&cfg, &random_weights(&cfg, 4, &dev)?, &f32_opts())?;
    let only_top = LoraConfig {
        layers: LoraConfig::top_layers(1, cfg.num_hidden_layers),
        ..small_cfg()
    };
    let lora = Lora::with_init(only_top.clone(), &cfg, &dev, 5, LoraInit::NonZero)?;
    assert_eq!(lora.vars().len(), 2 * 7);
    // The same factors in an all-layer adapter, its lower layers' B set to zero.
    let all = Lora::with_init(small_cfg(), &cfg, &dev, 5, LoraInit::NonZero)?;
    let all_vars = all.vars();
    for (i, v) in all_vars.iter().enumerate() {
        if i < 2 * 7 * top {
            if i % 2 == 1 {
                v.set(&v.zeros_like()?)?;
            }
        } else {
            v.set(lora.vars()[i - 2 * 7 * top].as_tensor())?;
        }
    }
    let p = probe(&[1, IDS.len(), cfg.hidden_size], &dev);
    let (a, b) = (loss(&bb, &lora, &p)?, loss(&bb, &all, &p)?);
    assert!(max_diff(&a, &b) < 1e-4, "same function");
    let grads = a.backward()?;
    for (i, v) in lora.vars().iter().enumerate() {
        assert!(grads.get(v.as_tensor()).is_some(), "var {i} has a gradient");
    }
    let dir = tempfile::tempdir().map_err(|source| LoraError::Io {
        path: "tempdir".into(),
        source,
    })?;
    lora.save_dir(dir.path())?;
    let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap_or_default();
    assert!(
        text.contains("\"layers_to_transform\": [\n    1\n  ]"),
        "{text}"
    );
    let back = Lora::from_dir(dir.path(), &cfg, &dev)?;
    assert_eq!(back.config(), lora.config());
    for (x, y) in lora.vars().iter().zip(back.vars()) {
        assert_eq!(max_diff(x.as_tensor(), y.as_tensor()), 0.0);
    }
    let beyond = LoraConfig {
        layers: Some(vec![cfg.num_hidden_layers]),
        ..small_cfg()
    };
    assert!(Lora::new(beyond, &cfg, &dev, 1).is_err());
    Ok(())
}
