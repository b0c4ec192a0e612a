//! `r2ec recommend` end to end with the real SmolLM2 model (skipped with a notice where
//! `r2ec setup` has not fetched it) on the tiny MovieLens fixture, prepared on first use:
//! streamed text, the JSON record, the target's rank, the item-table cache, and the
//! errors a user can run into.

mod support;

use std::fs;
use std::path::PathBuf;

use serde_json::Value;
use support::bin::r2ec;
use support::model::real_model;

#[test]
fn recommends_for_a_test_example_in_text_and_json() {
    let Some(model) = real_model() else { return };
    let home = support::home::tiny_with_model(&model);
    let out = r2ec(
        home.path(),
        &[
            "recommend",
            "--split",
            "test",
            "--index",
            "0",
            "--max-new-tokens",
            "12",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stderr.contains("preparing it now"), "{stderr}");
    assert!(stderr.contains("item table built"), "{stderr}");
    assert!(stdout.contains("top "), "{stdout}");
    assert!(stdout.contains("target: "), "{stdout}");

    // Second run: the cached item table is used (the file is not rewritten), and the
    // JSON record is complete.
    let cache_dir = home.path().join("datasets/ml-100k/cache");
    let cached = || -> Vec<(PathBuf, std::time::SystemTime)> {
        fs::read_dir(&cache_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), fs::metadata(&p).unwrap().modified().unwrap()))
            .collect()
    };
    let before = cached();
    assert_eq!(before.len(), 1, "one cached item table");
    let out = r2ec(
        home.path(),
        &[
            "recommend",
            "--split",
            "test",
            "--index",
            "0",
            "--max-new-tokens",
            "12",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cached(), before, "the cache was read, not rebuilt");
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert!(v["reasoning"].is_string());
    let tokens = v["reasoning_tokens"].as_u64().unwrap();
    assert!((1..=12).contains(&tokens), "{tokens}");
    let top = v["top"].as_array().unwrap();
    assert!(!top.is_empty());
    let scores: Vec<f64> = top.iter().map(|t| t["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "sorted best first: {scores:?}"
    );
    assert!(
        scores.iter().all(|s| s.abs() <= 1.0 / 0.02 + 1e-3),
        "cosine / tau is within ±50"
    );
    for t in top {
        assert!(t["item_id"].is_string() && t["title"].is_string());
    }
    let rank = v["target"]["rank"].as_u64().unwrap();
    assert!(
        rank >= 1 && rank as usize <= 5,
        "rank {rank} among the tiny catalogue"
    );
    assert!(v["timing"]["total_secs"].as_f64().unwrap() > 0.0);
}

#[test]
fn no_reasoning_reads_the_user_vector_after_the_prompt() {
    let Some(model) = real_model() else { return };
    let home = support::home::tiny_with_model(&model);
    let out = r2ec(
        home.path(),
        &["recommend", "--user", "u2", "--no-reasoning", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reasoning"], "");
    assert_eq!(v["reasoning_tokens"], 0);
    assert!(!v["top"].as_array().unwrap().is_empty());
}

#[test]
fn the_shipped_checkpoint_is_used_unless_base_is_asked_for() {
    let Some(model) = real_model() else { return };
    let home = support::home::tiny_with_model(&model);
    support::home::link_shipped_checkpoint(home.path());
    let run = |extra: &[&str]| -> Value {
        let mut args = vec!["recommend", "--user", "u2", "--no-reasoning", "--json"];
        args.extend_from_slice(extra);
        let out = r2ec(home.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let with = run(&[]);
    let adapter = with["adapter"].as_str().expect("an adapter is named");
    assert!(
        adapter.ends_with("r2ec-smollm2-135m-ml100k-cpu"),
        "{adapter}"
    );
    let base = run(&["--base"]);
    assert!(base["adapter"].is_null(), "{}", base["adapter"]);
    // The adapter changes the ranking: the two top lists are not the same.
    assert_ne!(with["top"], base["top"]);
}

#[test]
fn user_errors_say_what_and_where() {
    let Some(model) = real_model() else { return };
    let home = support::home::tiny_with_model(&model);
    let out = r2ec(
        home.path(),
        &[
            "recommend",
            "--split",
            "test",
            "--index",
            "999",
            "--max-new-tokens",
            "4",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--index 999 is out of range"));

    let out = r2ec(
        home.path(),
        &["recommend", "--user", "nobody", "--max-new-tokens", "4"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("user `nobody` has no example"));

    let hist = home.path().join("h.json");
    fs::write(&hist, r#"{"history": [{"item_id": "m1", "rating": 5, "timestamp": 10}, {"item_id": "zzz", "rating": 1, "timestamp": 11}]}"#).unwrap();
    let out = r2ec(
        home.path(),
        &[
            "recommend",
            "--history",
            hist.to_str().unwrap(),
            "--max-new-tokens",
            "4",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("h.json") && err.contains("history[1].item_id") && err.contains("`zzz`"),
        "{err}"
    );

    fs::write(
        &hist,
        "{\"history\": [\n  {\"item_id\": \"m1\", \"rating\": }\n]}",
    )
    .unwrap();
    let out = r2ec(
        home.path(),
        &["recommend", "--history", hist.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("h.json:2:"), "names the line: {err}");

    let out = r2ec(
        home.path(),
        &[
            "recommend",
            "--model",
            "/nonexistent/m.gguf",
            "--max-new-tokens",
            "4",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("/nonexistent/m.gguf") && err.contains("r2ec setup"),
        "{err}"
    );
}
