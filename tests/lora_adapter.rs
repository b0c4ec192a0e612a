//! LoRA adapters on the real SmolLM2 GGUF (skipped with a notice where `r2ec setup` has
//! not fetched it): merging into the file's weights agrees with the hooked training path
//! (so the GGUF Q/K rows and the adapter's Hugging Face rows line up), and
//! `r2ec recommend --adapter` keys its item-table cache by the adapter.

mod support;

use std::path::Path;
use std::process::Output;

use candle_core::{Device, Tensor};
use r2ec::model::backbone::{KvCache, LoadOptions, WeightFormat};
use r2ec::model::loaded::LoadedModel;
use r2ec::model::lora::{Lora, LoraConfig, LoraInit};
use support::bin::stderr;
use support::model::real_model;

/// A non-trivial adapter whose update is a modest share of the base weights.
fn gentle_config() -> LoraConfig {
    LoraConfig {
        r: 4,
        alpha: 1.0,
        dropout: 0.05,
        ..Default::default()
    }
}

fn norm(t: &Tensor) -> f32 {
    t.sqr()
        .and_then(|t| t.sum_all()?.to_scalar::<f32>())
        .unwrap()
        .sqrt()
}

#[test]
fn merged_gguf_model_matches_the_hooked_path() {
    let Some(path) = real_model() else { return };
    let dev = Device::Cpu;
    let opts = LoadOptions {
        format: WeightFormat::F32,
        dense_prefill: false,
    };
    let base = LoadedModel::load(&path, &dev, &opts).unwrap();
    let lora = Lora::with_init(gentle_config(), base.config(), &dev, 4, LoraInit::NonZero)
        .unwrap()
        .with_base_model("SmolLM2-135M-Instruct");
    let dir = tempfile::tempdir().unwrap();
    lora.save_dir(dir.path()).unwrap();
    let merged = LoadedModel::load_with_adapter(&path, Some(dir.path()), &dev, &opts).unwrap();
    assert_eq!(merged.adapter.as_deref(), Some(dir.path()));
    assert_eq!(merged.adapter_files.len(), 2);

    let prompt = base
        .tokenizer
        .encode("<|im_start|>user\nRecommend a movie like Toy Story.<|im_end|>\n")
        .unwrap();
    let ids = Tensor::from_vec(prompt.clone(), (1, prompt.len()), &dev).unwrap();
    let hooked = base
        .backbone
        .forward_hidden_train(&ids, None, Some(&lora))
        .unwrap();
    let fast = merged
        .backbone
        .forward_hidden(&ids, &mut KvCache::new(merged.config(), 1), None)
        .unwrap();
    let plain = base
        .backbone
        .forward_hidden(&ids, &mut KvCache::new(base.config(), 1), None)
        .unwrap();
    // Both in f32 (no re-quantization): equal up to rounding. Rows in the wrong rotary
    // order would leave them about as far apart as the adapter moves the model.
    let err = norm(&(&fast - &hooked).unwrap());
    let effect = norm(&(&hooked - &plain).unwrap());
    eprintln!("merged vs hooked: {err}; adapter effect: {effect}");
    assert!(effect > 1.0, "adapter effect too small: {effect}");
    assert!(
        err < 1e-3 * effect,
        "merged vs hooked: {err} (effect {effect})"
    );
}

fn recommend(home: &Path, adapter: Option<&Path>) -> Output {
    let mut args = vec![
        "recommend".to_string(),
        "--index".into(),
        "0".into(),
        "--max-new-tokens".into(),
        "4".into(),
    ];
    if let Some(a) = adapter {
        args.extend(["--adapter".into(), a.display().to_string()]);
    }
    support::bin::cmd(home, &args)
        .output()
        .expect("the r2ec binary runs")
}

#[test]
fn recommend_keys_the_item_table_by_adapter() {
    let Some(model) = real_model() else { return };
    let home = support::home::tiny_with_model(&model);

    let out = recommend(home.path(), None);
    assert!(out.status.success(), "{}", stderr(&out));

    let adapter = home.path().join("adapter");
    let dev = Device::Cpu;
    let base = LoadedModel::load(&model, &dev, &LoadOptions::default()).unwrap();
    Lora::with_init(gentle_config(), base.config(), &dev, 9, LoraInit::NonZero)
        .unwrap()
        .save_dir(&adapter)
        .unwrap();
    let out = recommend(home.path(), Some(&adapter));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("+ adapter"), "{err}");
    assert!(
        err.contains("item table built") && err.contains("adapter changed"),
        "{err}"
    );

    let again = recommend(home.path(), Some(&adapter));
    let err = stderr(&again);
    assert!(again.status.success(), "{err}");
    assert!(!err.contains("item table built"), "cache reused: {err}");

    // Another adapter (same shapes, other values) is another table.
    Lora::with_init(gentle_config(), base.config(), &dev, 10, LoraInit::NonZero)
        .unwrap()
        .save_dir(&adapter)
        .unwrap();
    let other = recommend(home.path(), Some(&adapter));
    let err = stderr(&other);
    assert!(err.contains("item table built"), "{err}");

    let out = recommend(home.path(), Some(&home.path().join("no-such-adapter")));
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("no-such-adapter/adapter_config.json: LoRA adapter config not found"),
        "{err}"
    );
}
