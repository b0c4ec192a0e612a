//! `r2ec data prepare` end to end: the real binary on hand-written MovieLens and Amazon
//! fixtures (exact examples and splits), the error text of bad inputs, and the real
//! ml-100k when `r2ec setup` has fetched it.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use r2ec::data::{PreparedDataset, Split};
use support::bin::{r2ec, stderr};
use support::fixture;
use support::home::install_movielens;

fn tiny_movielens(home: &Path, name: &str) {
    let inter = fs::read(fixture("movielens/tiny.inter")).unwrap();
    let item = fs::read(fixture("movielens/tiny.item")).unwrap();
    install_movielens(home, name, &inter, &item);
}

/// Each example as (user, target item, target time, history item ids).
fn summary(ds: &PreparedDataset, split: Split) -> Vec<(String, String, i64, Vec<String>)> {
    ds.split(split)
        .iter()
        .map(|e| {
            let hist = e.history.iter().map(|h| h.item_id.clone()).collect();
            (
                e.user_id.clone(),
                e.target.item_id.clone(),
                e.target.timestamp,
                hist,
            )
        })
        .collect()
}

fn ex(user: &str, target: &str, t: i64, hist: &[&str]) -> (String, String, i64, Vec<String>) {
    (
        user.into(),
        target.into(),
        t,
        hist.iter().map(|s| s.to_string()).collect(),
    )
}

/// No prepared folder and no temporary file anywhere under `datasets/`.
fn assert_nothing_written(home: &Path, name: &str) {
    assert!(
        !home.join("datasets").join(name).exists(),
        "datasets/{name} must not exist"
    );
    let mut stack = vec![home.join("datasets")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            assert!(
                !p.to_string_lossy().contains(".tmp-"),
                "leftover {}",
                p.display()
            );
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
}

#[test]
fn movielens_examples_and_split_are_exact() {
    let home = tempfile::tempdir().unwrap();
    tiny_movielens(home.path(), "ml-1m");
    let out = r2ec(home.path(), &["data", "prepare", "ml-1m"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("examples      train 4, valid 1, test 1 (history window 20)"),
        "{printed}"
    );
    assert!(
        printed.contains("items         4 with interactions (5 in the source)"),
        "{printed}"
    );

    let ds = PreparedDataset::load(&home.path().join("datasets/ml-1m")).unwrap();
    let ids: Vec<&str> = ds
        .catalog
        .items()
        .iter()
        .map(|i| i.item_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["m1", "m2", "m3", "m5"],
        "unrated m4 is left out, file order kept"
    );
    let m2 = ds.catalog.get("m2").unwrap();
    assert_eq!(m2.title, "Misérables, Les");
    assert_eq!(m2.year, Some(1995));
    assert_eq!(m2.genres, ["Drama", "Musical"]);
    assert_eq!(m2.domain, "movies");
    // Users by first appearance (u2, u1, u3); u2's tie at 250 keeps file order m1, m3.
    assert_eq!(
        summary(&ds, Split::Train),
        [
            ex("u1", "m2", 200, &["m1"]),
            ex("u2", "m1", 250, &["m2"]),
            ex("u2", "m3", 250, &["m2", "m1"]),
            ex("u1", "m3", 300, &["m1", "m2"]),
        ]
    );
    assert_eq!(
        summary(&ds, Split::Valid),
        [ex("u1", "m5", 400, &["m1", "m2", "m3"])]
    );
    assert_eq!(
        summary(&ds, Split::Test),
        [ex("u2", "m5", 500, &["m2", "m1", "m3"])]
    );
    assert_eq!(ds.train[0].history[0].rating, 5.0);
    assert_eq!(ds.train[0].target.rating, 4.5);
    assert_eq!(ds.stats.users, 3);
    assert_eq!(ds.stats.test_targets_unseen_in_train, 1.0);

    // The exact line format: Example serialized by serde_json.
    let line = fs::read_to_string(home.path().join("datasets/ml-1m/valid.jsonl")).unwrap();
    assert_eq!(
        line,
        concat!(
            r#"{"user_id":"u1","history":[{"item_id":"m1","rating":5.0,"timestamp":100},"#,
            r#"{"item_id":"m2","rating":4.5,"timestamp":200},{"item_id":"m3","rating":3.0,"timestamp":300}],"#,
            r#""target":{"item_id":"m5","rating":4.0,"timestamp":400}}"#,
            "\n"
        )
    );
}

#[test]
fn history_window_and_name_options() {
    let home = tempfile::tempdir().unwrap();
    tiny_movielens(home.path(), "ml-100k");
    let out = r2ec(
        home.path(),
        &[
            "data",
            "prepare",
            "ml-100k",
            "--history",
            "2",
            "--name",
            "short",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ds = PreparedDataset::load(&home.path().join("datasets/short")).unwrap();
    assert_eq!(
        summary(&ds, Split::Test),
        [ex("u2", "m5", 500, &["m1", "m3"])]
    );
    assert_eq!(ds.stats.history_window, 2);
    assert!(!home.path().join("datasets/ml-100k").exists());
}

fn amazon(home: &Path, reviews: &str, meta: &str, extra: &[&str]) -> Output {
    let (reviews, meta) = (fixture(reviews), fixture(meta));
    let mut args = vec![
        "data",
        "prepare",
        "amazon",
        "--category",
        "Musical_Instruments",
    ];
    args.extend([
        "--reviews",
        reviews.to_str().unwrap(),
        "--meta",
        meta.to_str().unwrap(),
    ]);
    args.extend(extra);
    r2ec(home, &args)
}

#[test]
fn amazon_window_widens_once_and_gzip_reads_the_same() {
    for (reviews, meta) in [
        ("amazon/reviews.csv", "amazon/meta.jsonl"),
        ("amazon/reviews.csv.gz", "amazon/meta.jsonl.gz"),
    ] {
        let home = tempfile::tempdir().unwrap();
        let out = amazon(home.path(), reviews, meta, &["--min-items", "4"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            printed.contains("time window   2022-07-01 .. 2024-01-01"),
            "{printed}"
        );
        let ds = PreparedDataset::load(&home.path().join("datasets/amazon-Musical_Instruments"))
            .unwrap();
        let ids: Vec<&str> = ds
            .catalog
            .items()
            .iter()
            .map(|i| i.item_id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["B1", "B2", "B3", "B4"],
            "meta order; B5 is outside the window, B9 unrated"
        );
        let b1 = ds.catalog.get("B1").unwrap();
        assert_eq!(
            b1.description.as_deref(),
            Some("Classical strings. Normal tension.")
        );
        assert_eq!(b1.rating_number, Some(1520));
        assert_eq!(b1.domain, "Musical_Instruments");
        assert_eq!(ds.catalog.get("B4").unwrap().average_rating, None);
        let t = |d: i64| d; // timestamps are milliseconds / 1000, noon UTC of each date
        assert_eq!(
            summary(&ds, Split::Train),
            [
                ex("A1", "B2", t(1_669_896_000), &["B1"]),
                ex("A2", "B3", t(1_675_252_800), &["B1"]),
                ex("A1", "B3", t(1_677_672_000), &["B1", "B2"]),
            ]
        );
        assert!(ds.valid.is_empty());
        assert_eq!(
            summary(&ds, Split::Test),
            [ex("A3", "B1", 1_683_288_000, &["B4"])]
        );
        assert_eq!(ds.domain().singular, "instrument");
    }
}

#[test]
fn amazon_default_window_covers_all_and_k_core_filters() {
    let home = tempfile::tempdir().unwrap();
    let out = amazon(
        home.path(),
        "amazon/reviews.csv",
        "amazon/meta.jsonl",
        &["--name", "all"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ds = PreparedDataset::load(&home.path().join("datasets/all")).unwrap();
    assert_eq!(ds.catalog.len(), 5);
    assert_eq!(ds.stats.window.as_ref().unwrap().start_date, "2019-01-01");

    let out = amazon(
        home.path(),
        "amazon/reviews.csv",
        "amazon/meta.jsonl",
        &["--min-items", "4", "--k-core", "2", "--name", "k2"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ds = PreparedDataset::load(&home.path().join("datasets/k2")).unwrap();
    let all: Vec<_> = [Split::Train, Split::Valid, Split::Test]
        .into_iter()
        .flat_map(|s| summary(&ds, s))
        .collect();
    assert_eq!(
        all,
        [
            ex("A2", "B3", 1_675_252_800, &["B1"]),
            ex("A1", "B3", 1_677_672_000, &["B1"])
        ]
    );
    assert_eq!(ds.catalog.len(), 2);
}

/// Run a MovieLens preparation on bad files; it must fail with `expected` in its error
/// and write nothing.
fn bad_movielens(inter: &[u8], item: &[u8], expected: &str) {
    let home = tempfile::tempdir().unwrap();
    install_movielens(home.path(), "ml-100k", inter, item);
    let out = r2ec(home.path(), &["data", "prepare", "ml-100k"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(expected), "expected `{expected}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_nothing_written(home.path(), "ml-100k");
}

const INTER_HEAD: &str = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n";
const ITEM: &[u8] = b"item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tA\t1990\tDrama\n2\tB\t1991\tComedy\n";

#[test]
fn bad_movielens_inputs_name_file_line_and_field() {
    let inter = |body: &str| format!("{INTER_HEAD}{body}").into_bytes();
    bad_movielens(
        &inter("u\t1\t5\t10\nu\t2\t4\n"),
        ITEM,
        "ml-100k.inter:3: field `timestamp`: missing",
    );
    bad_movielens(
        &inter("u\t1\t5\t10\nu\t2\tfive\t11\n"),
        ITEM,
        "ml-100k.inter:3: field `rating`: expected a number, found `five`",
    );
    bad_movielens(
        &inter("u\t1\t5\t10\nu\t7\t4\t11\n"),
        ITEM,
        "ml-100k.inter:3: field `item_id`: unknown item id `7`",
    );
    bad_movielens(b"", ITEM, "ml-100k.inter:1: empty file");
    bad_movielens(&inter("u\t1\t5\t10\n"), b"", "ml-100k.item:1: empty file");
    bad_movielens(
        b"user_id:token\titem_id:token\ttimestamp:float\nu\t1\t10\n",
        ITEM,
        "ml-100k.inter:1: field `rating`: missing column",
    );
    bad_movielens(
        &inter("u\t1\t5\t10\n"),
        b"item_id:token\tmovie_title:token_seq\n1\tA\n2\tCaf\xe9\n",
        "ml-100k.item:3: field `movie_title`: invalid UTF-8 (byte 0xE9)",
    );
    bad_movielens(
        &inter("u\t1\t5\t10\n"),
        b"item_id:token\tclass:token_seq\n1\tDrama\n",
        "ml-100k.item:1: field `movie_title`: missing column",
    );
}

#[test]
fn a_failed_run_leaves_the_previous_data_set_untouched() {
    let home = tempfile::tempdir().unwrap();
    tiny_movielens(home.path(), "ml-100k");
    assert!(r2ec(home.path(), &["data", "prepare", "ml-100k"])
        .status
        .success());
    let dir = home.path().join("datasets/ml-100k");
    let before: Vec<Vec<u8>> = ["items.jsonl", "train.jsonl", "stats.json"]
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect();
    install_movielens(
        home.path(),
        "ml-100k",
        format!("{INTER_HEAD}u\t1\t5\n").as_bytes(),
        ITEM,
    );
    assert!(!r2ec(home.path(), &["data", "prepare", "ml-100k"])
        .status
        .success());
    let after: Vec<Vec<u8>> = ["items.jsonl", "train.jsonl", "stats.json"]
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        5,
        "no temporary files beside the data set"
    );
}

#[test]
fn bad_amazon_inputs_and_unknown_sources() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("in");
    fs::create_dir_all(&dir).unwrap();
    let reviews = fs::read_to_string(fixture("amazon/reviews.csv")).unwrap();
    let meta = fs::read_to_string(fixture("amazon/meta.jsonl")).unwrap();
    let check = |name: &str, reviews: &[u8], meta: &[u8], expected: &str| {
        let (r, m) = (
            dir.join(format!("{name}.csv")),
            dir.join(format!("{name}.jsonl")),
        );
        fs::write(&r, reviews).unwrap();
        fs::write(&m, meta).unwrap();
        let out = amazon(home.path(), r.to_str().unwrap(), m.to_str().unwrap(), &[]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(expected), "expected `{expected}` in: {err}");
        assert_nothing_written(home.path(), "amazon-Musical_Instruments");
    };
    let no_b3: String = meta
        .lines()
        .filter(|l| !l.contains("\"B3\""))
        .map(|l| format!("{l}\n"))
        .collect();
    check(
        "no-b3",
        reviews.as_bytes(),
        no_b3.as_bytes(),
        "no-b3.csv:5: field `parent_asin`: unknown item id `B3`",
    );
    let broken = meta.replacen("\"rating_number\": 1520", "\"rating_number\": \"many\"", 1);
    check(
        "type",
        reviews.as_bytes(),
        broken.as_bytes(),
        "type.jsonl:1: field `rating_number`: invalid type: string \"many\"",
    );
    let truncated = format!(
        "{}\n{{\"parent_asin\": \"B2\", \n",
        meta.lines().next().unwrap()
    );
    check(
        "json",
        reviews.as_bytes(),
        truncated.as_bytes(),
        "json.jsonl:2: malformed JSON",
    );
    check("empty", b"", meta.as_bytes(), "empty.csv:1: empty file");
    check(
        "emptymeta",
        reviews.as_bytes(),
        b"",
        "emptymeta.jsonl:1: empty file",
    );
    let cols = reviews.replacen("rating,", "stars,", 1);
    check(
        "cols",
        cols.as_bytes(),
        meta.as_bytes(),
        "cols.csv:1: field `rating`: missing column",
    );
    let short = reviews.replacen("A2,B1,3.0,", "A2,B1,", 1);
    check(
        "short",
        short.as_bytes(),
        meta.as_bytes(),
        "short.csv:4: field `timestamp`: the line has 3 comma-separated fields",
    );
    let mut latin1 = reviews.into_bytes();
    let at = latin1.iter().position(|&b| b == b'B').unwrap();
    latin1[at] = 0xC9;
    check(
        "latin1",
        &latin1,
        meta.as_bytes(),
        "latin1.csv:2: field `parent_asin`: invalid UTF-8",
    );

    let out = r2ec(home.path(), &["data", "prepare", "ml-20m"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown source `ml-20m` (expected ml-100k, ml-1m or amazon)"),
        "{}",
        stderr(&out)
    );
    let out = r2ec(
        home.path(),
        &["data", "prepare", "amazon", "--category", "X"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--reviews"), "{}", stderr(&out));
    let out = r2ec(home.path(), &["data", "prepare", "ml-100k"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ml-100k.inter is missing: run `r2ec setup` to fetch it"),
        "{}",
        stderr(&out)
    );
}

/// The real ml-100k, when `r2ec setup` has fetched it (CI does); skipped otherwise.
#[test]
fn real_ml_100k() {
    let root = std::env::var_os("R2EC_HOME")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let raw = root.join("datasets/raw/ml-100k");
    let (inter, item) = (raw.join("ml-100k.inter"), raw.join("ml-100k.item"));
    if !inter.is_file() || !item.is_file() {
        eprintln!("skipped: {} not present (run `r2ec setup`)", raw.display());
        return;
    }
    let home = tempfile::tempdir().unwrap();
    install_movielens(
        home.path(),
        "ml-100k",
        &fs::read(inter).unwrap(),
        &fs::read(item).unwrap(),
    );
    let out = r2ec(home.path(), &["data", "prepare", "ml-100k"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ds = PreparedDataset::load(&home.path().join("datasets/ml-100k")).unwrap();
    assert_eq!(
        (ds.stats.users, ds.catalog.len(), ds.stats.interactions),
        (943, 1682, 100_000)
    );
    assert_eq!(
        (ds.train.len(), ds.valid.len(), ds.test.len()),
        (79_245, 9_906, 9_906)
    );
    let times: Vec<i64> = ds
        .train
        .iter()
        .chain(&ds.valid)
        .chain(&ds.test)
        .map(|e| e.target.timestamp)
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "examples in target-time order"
    );
    assert!(ds
        .train
        .iter()
        .all(|e| !e.history.is_empty() && e.history.len() <= 20));
    assert_eq!(ds.catalog.get("1").unwrap().title, "Toy Story");
}
