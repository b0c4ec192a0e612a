//! Evaluation reports on a hand-made data set: most-popular and a fixed scorer give
//! exactly the hand-computed ranks, metrics, cold/warm split, reasoning lengths and
//! health, and `examples.jsonl` lines; the comparison table shows both.

use r2ec::data::{Catalog, Example, Interaction, Item};
use r2ec::eval::baselines::Popularity;
use r2ec::eval::coldwarm::SeenInTrain;
use r2ec::eval::compare::compare_table;
use r2ec::eval::report::{read_summary, summary_json, write_report, ReportMeta};
use r2ec::eval::{evaluate, EvalOptions, EvalRun, Reasoning, Scored, Scorer};
use r2ec::model::generate::StopReason;

fn item(id: &str) -> Item {
    Item {
        item_id: id.into(),
        title: format!("Title {id}"),
        domain: "movies".into(),
        year: None,
        genres: vec![],
        average_rating: None,
        rating_number: None,
        description: None,
    }
}

fn it(id: &str, t: i64) -> Interaction {
    Interaction {
        item_id: id.into(),
        rating: 4.0,
        timestamp: t,
    }
}

fn ex(user: &str, history: &[(&str, i64)], target: (&str, i64)) -> Example {
    Example {
        user_id: user.into(),
        history: history.iter().map(|&(i, t)| it(i, t)).collect(),
        target: it(target.0, target.1),
    }
}

/// Items a..e; train: u1 a b c, u2 a c (so counts a 2, b 1, c 2, d 0, e 0).
fn fixture() -> (Catalog, Vec<Example>, Vec<Example>) {
    let catalog = Catalog::new(["a", "b", "c", "d", "e"].map(item).to_vec());
    let train = vec![
        ex("u1", &[("a", 1)], ("b", 2)),
        ex("u1", &[("a", 1), ("b", 2)], ("c", 3)),
        ex("u2", &[("a", 1)], ("c", 4)),
    ];
    let test = vec![
        ex("u1", &[("a", 1), ("b", 2), ("c", 3)], ("d", 10)),
        ex("u2", &[("a", 1), ("c", 4)], ("b", 11)),
        ex("u3", &[("d", 5)], ("e", 12)),
        // A repeat of a history item: masked, so a miss.
        ex("u2", &[("a", 1)], ("a", 13)),
    ];
    (catalog, train, test)
}

/// Scores each item by its position (e highest) and writes a "chain" of 10 tokens per
/// history item.
struct ByPosition;

impl Scorer for ByPosition {
    fn score(&mut self, examples: &[&Example]) -> Result<Vec<Scored>, r2ec::eval::EvalError> {
        Ok(examples
            .iter()
            .map(|e| Scored {
                scores: vec![0.0, 1.0, 2.0, 3.0, 4.0],
                reasoning: Some(Reasoning {
                    text: format!("{} items seen", e.history.len()),
                    tokens: 10 * e.history.len(),
                    // The longest history writes `<answer>`, the next ends its turn, the
                    // shortest ones hit the budget.
                    stop: Some(match e.history.len() {
                        3.. => StopReason::StopString,
                        2 => StopReason::EndOfTurn,
                        _ => StopReason::MaxTokens,
                    }),
                    repeat4: 0.1 * e.history.len() as f64,
                }),
            })
            .collect())
    }
}

fn run(scorer: &mut dyn Scorer, test: &[Example], catalog: &Catalog, batch: usize) -> EvalRun {
    let chosen: Vec<(usize, &Example)> = test.iter().enumerate().collect();
    let opts = EvalOptions {
        batch,
        batch1_samples: 2,
    };
    evaluate(catalog, &chosen, scorer, &opts, &mut |_, _| {}).unwrap()
}

fn meta(name: &str) -> ReportMeta {
    ReportMeta {
        name: name.into(),
        method: name.into(),
        data: "fixture".into(),
        split: "test".into(),
        model: None,
        settings: serde_json::json!({}),
        notes: vec![format!("{name} on the fixture")],
    }
}

fn close(a: &serde_json::Value, b: f64) {
    let a = a.as_f64().unwrap_or(f64::NAN);
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn most_popular_report_equals_hand_computed_numbers() {
    let (catalog, train, test) = fixture();
    let mut pop = Popularity::from_train(&train, &catalog);
    assert_eq!(pop.counts, vec![2, 1, 2, 0, 0]);
    let r = run(&mut pop, &test, &catalog, 3);
    // d ties e at 0 and wins on position; b after masking a, c; e behind a, c, b; a masked.
    assert_eq!(r.ranks(), vec![Some(1), Some(1), Some(4), None]);
    assert_eq!(r.results[1].top, vec![(1, 1.0), (3, 0.0), (4, 0.0)]);
    let seen = SeenInTrain::from_train(&train);
    let s = summary_json(&meta("popular"), &r, &seen, 200, 1);
    let l5 = 1.0 / 5f64.log2();
    close(&s["hit@5"], 0.75);
    close(&s["hit@10"], 0.75);
    close(&s["ndcg@5"], (2.0 + l5) / 4.0);
    close(&s["ndcg@20"], (2.0 + l5) / 4.0);
    assert_eq!(s["n"], 4);
    assert!(s["reasoning_len_mean"].is_null());
    assert!(s["reasoning_health"].is_null());
    // Cold items d and e (ranks 1 and 4), warm b and a (1 and masked).
    close(&s["cold_warm"]["item_cold"]["ndcg@5"], (1.0 + l5) / 2.0);
    close(&s["cold_warm"]["item_warm"]["hit@5"], 0.5);
    assert_eq!(s["cold_warm"]["user_warm"]["n"], 3);
    assert_eq!(s["cold_warm"]["user_cold"]["n"], 1);
    close(&s["cold_warm"]["user_cold"]["ndcg@10"], l5);
    let ci = &s["ci95"]["ndcg@5"];
    assert!(ci[0].as_f64().unwrap() <= s["ndcg@5"].as_f64().unwrap());
    assert!(ci[1].as_f64().unwrap() >= s["ndcg@5"].as_f64().unwrap());
    assert_eq!(s["rank_histogram"][0]["count"], 2);
    assert_eq!(s["rank_histogram"][8]["count"], 1);
}

#[test]
fn a_fixed_scorer_report_on_disk_has_every_file_and_line() {
    let (catalog, train, test) = fixture();
    // Batch 1 and batch 3 must agree.
    let r1 = run(&mut ByPosition, &test, &catalog, 1);
    let r = run(&mut ByPosition, &test, &catalog, 3);
    assert_eq!(r1.results, r.results);
    assert_eq!(r.ranks(), vec![Some(2), Some(3), Some(1), None]);
    assert!(r.secs_per_sample_batch1.is_some());
    let seen = SeenInTrain::from_train(&train);
    let s = summary_json(&meta("fixed"), &r, &seen, 200, 1);
    close(&s["ndcg@5"], (1.0 / 3f64.log2() + 0.5 + 1.0) / 4.0);
    close(&s["hit@5"], 0.75);
    close(&s["reasoning_len_mean"], 17.5);
    assert_eq!(s["reasoning_len"]["p50"], 20);
    assert_eq!(s["reasoning_len"]["max"], 30);
    // Histories of 3, 2, 1 and 1 items: two chains answered, repeat4 0.3, 0.2, 0.1, 0.1.
    assert_eq!(s["reasoning_health"]["chains"], 4);
    close(&s["reasoning_health"]["answered"], 0.5);
    // Of those two, one wrote `<answer>` and one ended its turn.
    close(&s["reasoning_health"]["wrote_answer"], 0.25);
    // It wrote something before `<answer>`: not at once.
    close(&s["reasoning_health"]["wrote_at_once"], 0.0);
    close(&s["reasoning_health"]["repeat4"], 0.175);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixed");
    let mut warnings = Vec::new();
    let files = write_report(&out, &s, &r, &catalog, &seen, &mut |w| warnings.push(w)).unwrap();
    for name in ["report.json", "report.md", "examples.jsonl"] {
        assert!(out.join(name).is_file(), "{name}");
    }
    assert!(
        files.iter().any(|f| f.ends_with("reasoning_len.png")),
        "{warnings:?}"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("examples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["rank"], 2);
    assert_eq!(lines[0]["target"]["title"], "Title d");
    assert_eq!(lines[0]["reasoning"], "3 items seen");
    assert_eq!(lines[0]["stop"], "stop_string");
    close(&lines[0]["repeat4"], 0.3);
    assert_eq!(lines[2]["stop"], "max_tokens");
    assert_eq!(lines[0]["top"][0]["item_id"], "e");
    assert_eq!(lines[0]["top"].as_array().unwrap().len(), 2);
    assert_eq!(lines[2]["user_seen_in_train"], false);
    assert!(lines[3]["rank"].is_null());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| ndcg@10 |"), "{md}");
    assert!(
        md.contains(
            "end by themselves: 50.0% (25.0% wrote `<answer>`, 25.0% ended their turn and had \
             `<answer>` placed after); 0.0% wrote `<answer>` at once, with nothing before it; \
             repeated 4-gram share: mean 0.175"
        ),
        "{md}"
    );
    let back = read_summary(&out).unwrap();
    assert_eq!(back["name"], "fixed");
    close(&back["ndcg@5"], s["ndcg@5"].as_f64().unwrap());

    let pop_dir = dir.path().join("popular");
    let mut pop = Popularity::from_train(&train, &catalog);
    let rp = run(&mut pop, &test, &catalog, 2);
    let sp = summary_json(&meta("popular"), &rp, &seen, 200, 1);
    write_report(&pop_dir, &sp, &rp, &catalog, &seen, &mut |_| {}).unwrap();
    let table = compare_table(&[out.clone(), pop_dir]).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| fixed") || l.starts_with("| popular"))
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    // Mean length 17.5, half the chains ended by themselves (a quarter wrote `<answer>`,
    // none at once), repeat4 0.175 (printed to 2 places).
    assert!(
        rows[0].contains("| 18 (50% [25.0%; 0.0% at once], 0.1"),
        "{table}"
    );
    assert!(rows[1].contains("| - |"), "{table}");
    assert!(
        table.contains("- popular: popular on the fixture"),
        "{table}"
    );
    let err = compare_table(&[dir.path().join("missing")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("report.json"), "{err}");
}
