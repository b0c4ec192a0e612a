//! `r2ec eval` end to end on the tiny MovieLens fixture (prepared on first use): the
//! most-popular report folder and its JSON, `--compare`, the errors a user meets, and,
//! where `r2ec setup` has fetched it, the real model: its reasoning and target rank
//! match `r2ec recommend` for the same example.

mod support;

use std::fs;
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::bin::r2ec;
use support::model::real_model;

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn popular_report_folder_json_and_compare() {
    let home = support::home::tiny();
    let out_dir = home.path().join("reports/pop");
    let out = r2ec(
        home.path(),
        &[
            "eval",
            "--baseline",
            "popular",
            "--split",
            "train",
            "--json",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    let s = ok_json(&out);
    for key in [
        "hit@5",
        "hit@10",
        "hit@20",
        "ndcg@5",
        "ndcg@10",
        "ndcg@20",
        "n",
        "reasoning_len_mean",
        "secs_per_sample",
        "secs_per_sample_batch1",
        "ci95",
        "cold_warm",
    ] {
        assert!(s.get(key).is_some(), "missing {key}: {s}");
    }
    assert_eq!(s["method"], "popular");
    let n = s["n"].as_u64().unwrap() as usize;
    assert!(n > 0);
    let examples = lines(&out_dir.join("examples.jsonl"));
    assert_eq!(examples.len(), n);
    for f in ["report.json", "report.md", "ranks.png", "metrics.png"] {
        assert!(out_dir.join(f).is_file(), "{f}");
    }
    // Every train target was seen in train.
    assert_eq!(s["cold_warm"]["item_cold"]["n"], 0);

    let table = r2ec(
        home.path(),
        &["eval", "--compare", out_dir.to_str().unwrap()],
    );
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("| popular | ml-100k/train |"), "{table}");

    let missing = home.path().join("nowhere");
    let bad = r2ec(
        home.path(),
        &["eval", "--compare", missing.to_str().unwrap()],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("nowhere/report.json"), "{err}");

    let bad = r2ec(home.path(), &["eval", "--split", "later"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown split `later`"));
}

#[test]
fn model_eval_matches_recommend_for_the_same_example() {
    let Some(model) = real_model() else { return };
    let home = support::home::tiny_with_model(&model);
    let out_dir = home.path().join("reports/model");
    let s = ok_json(&r2ec(
        home.path(),
        &[
            "eval",
            "--split",
            "train",
            "--limit",
            "2",
            "--batch",
            "1",
            "--batch1-samples",
            "0",
            "--max-new-tokens",
            "12",
            "--json",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    ));
    assert_eq!(s["n"], 2);
    assert!(s["reasoning_len_mean"].as_f64().unwrap() > 0.0);
    assert!(s["secs_per_sample_batch1"].is_null());
    let examples = lines(&out_dir.join("examples.jsonl"));
    let top = examples[0]["top"].as_array().unwrap().len();
    assert!(top > 0 && top <= 20, "{top}");
    for ex in &examples {
        let index = ex["index"].to_string();
        let rec = ok_json(&r2ec(
            home.path(),
            &[
                "recommend",
                "--split",
                "train",
                "--index",
                &index,
                "--max-new-tokens",
                "12",
                "--json",
            ],
        ));
        assert_eq!(ex["reasoning"], rec["reasoning"], "example {index}");
        assert_eq!(ex["rank"], rec["target"]["rank"], "example {index}");
        assert_eq!(ex["top"][0]["item_id"], rec["top"][0]["item_id"]);
    }
}
