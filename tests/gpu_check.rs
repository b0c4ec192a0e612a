//! `r2ec bench --suite gpu`, the prepared GPU check, where there is no GPU: without a
//! CUDA device it stops with the reason and how to dry-run, and writes its record saying
//! so; with `--device cpu` it runs every part on the CPU (tiny settings, the tiny
//! MovieLens fixture, the real model and shipped adapter, skipped without the model) and
//! writes one complete record, with the RecPO run's checkpoint on disk.

mod support;

use std::fs;

use serde_json::Value;
use support::bin::{r2ec, stderr};
use support::model::real_model;

fn record(dir: &std::path::Path) -> Value {
    let text = fs::read_to_string(dir.join("gpu-check.json")).expect("the record is written");
    serde_json::from_str(&text).expect("the record is JSON")
}

#[cfg(not(feature = "cuda"))]
#[test]
fn without_cuda_it_says_why_and_how_to_dry_run() {
    let home = support::home::tiny();
    let out = home.path().join("check");
    let o = r2ec(
        home.path(),
        &["bench", "--suite", "gpu", "--out", out.to_str().unwrap()],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    for want in ["needs a CUDA device", "--features cuda", "--device cpu"] {
        assert!(err.contains(want), "missing `{want}` in: {err}");
    }
    let rec = record(&out);
    assert_eq!(rec["cuda"]["available"], false);
    assert_eq!(rec["ok"], false);
    // The same record, on one line, on stdout.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let printed: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(printed, rec);
}

#[test]
fn a_dry_run_on_the_cpu_fills_every_part() {
    let Some(model) = real_model() else { return };
    let home = support::home::tiny_with_model(&model);
    support::home::link_shipped_checkpoint(home.path());
    let out = home.path().join("check");
    let args = [
        "bench",
        "--suite",
        "gpu",
        "--device",
        "cpu",
        // f32 on both sides of the parity check: it must then be exact.
        "--weights",
        "f32",
        "--out",
        out.to_str().unwrap(),
        "--parity-tokens",
        "4",
        "--reasoning-tokens",
        "4",
        "--max-new-tokens",
        "8",
        "--batch",
        "2",
        "--new-tokens",
        "4",
        "--repeats",
        "1",
        "--items",
        "4",
        "--recpo-steps",
        "1",
        "--recpo-users",
        "1",
        "--recpo-group",
        "2",
        "--recpo-tokens",
        "4",
    ];
    let o = r2ec(home.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let rec = record(&out);
    assert_eq!(rec["ok"], true, "{rec:#}");
    assert_eq!(rec["cuda"]["used"], false);
    assert_eq!(rec["weights"]["on_device"], "f32");
    // 30 layers of 4 matrices (q/k/v and gate/up fused) and the token head.
    assert_eq!(rec["load"]["weights_in_use"], "f32 x121");

    let parity = &rec["parity"];
    assert!(parity["logits"]["cosine"].as_f64().unwrap() > 0.999_999);
    assert_eq!(parity["logits"]["positions"], 343);
    assert_eq!(parity["greedy"]["same"], true);
    assert_eq!(parity["greedy"]["tested"].as_array().unwrap().len(), 4);
    assert_eq!(parity["padded_batch"]["same"], true);
    assert_eq!(
        parity["padded_batch"]["prompt_tokens"],
        serde_json::json!([343, 228, 114])
    );
    // bf16 beside it, for the choice of the GPU's default format.
    assert!(parity["bf16"]["logits"]["cosine"].as_f64().unwrap() > 0.999);

    assert_eq!(rec["sampler"]["check"]["top_k_inside"], 256);

    let r = &rec["recommend"];
    assert!(r["adapter"]
        .as_str()
        .unwrap()
        .ends_with("r2ec-smollm2-135m-ml100k-cpu"));
    assert!(!r["top"].as_array().unwrap().is_empty());
    assert!(r["reasoning_tokens"].as_u64().unwrap() <= 8);

    let b = &rec["bench"];
    for key in [
        "prefill_tok_s",
        "decode_tok_s",
        "decode_batch_tok_s",
        "item_table_items_s",
        "s_per_recommendation_b1",
        "s_per_recommendation_batched",
    ] {
        assert!(b[key].as_f64().unwrap() > 0.0, "{key}: {b}");
    }

    let f = &rec["recpo"]["figures"];
    assert_eq!(f["steps"], 1);
    assert!(f["users_per_hour"].as_f64().unwrap() > 0.0);
    let ckpt = std::path::PathBuf::from(f["checkpoint"].as_str().unwrap());
    assert!(ckpt.starts_with(out.join("recpo")), "{}", ckpt.display());
    assert!(ckpt.join("adapter").is_dir(), "{}", ckpt.display());
    assert!(out.join("recpo/config.json").is_file());
}
