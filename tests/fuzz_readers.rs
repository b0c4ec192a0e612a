//! Property-based fuzzing of everything that reads user-supplied files: the MovieLens
//! atomic files, Amazon review CSVs and metadata JSONL, the prepared data set files and
//! the `--history` JSON. Inputs are valid files (the fixtures) with random byte edits
//! (insert, delete, replace, cut), plus pure random bytes. Properties: no panic, and
//! every error names the file it read (and a line within it where it gives one).
//!
//! The default case count keeps CI fast; a longer run is
//! `PROPTEST_CASES=20000 cargo test --release --test fuzz_readers`. Failures found are
//! saved by proptest in `tests/fuzz_readers.proptest-regressions` and replayed first.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use r2ec::data::amazon::{read_amazon, read_reviews, AmazonOptions};
use r2ec::data::movielens::read_movielens;
use r2ec::data::prepared::{read_examples, read_items, read_stats};
use r2ec::data::PreparedDataset;

fn fixture(rel: &str) -> Vec<u8> {
    fs::read(support::fixture(rel)).unwrap()
}

/// The tiny MovieLens fixture prepared once (by the real binary) for the readers of
/// prepared files and of histories.
fn prepared() -> &'static (tempfile::TempDir, PreparedDataset) {
    static P: OnceLock<(tempfile::TempDir, PreparedDataset)> = OnceLock::new();
    P.get_or_init(|| {
        let home = support::home::tiny_prepared(None);
        let data = PreparedDataset::load(&home.path().join("datasets/ml-100k")).unwrap();
        (home, data)
    })
}

fn prepared_file(name: &str) -> Vec<u8> {
    fs::read(prepared().0.path().join("datasets/ml-100k").join(name)).unwrap()
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    /// Cut the file at this point (a half-written file).
    Cut(usize),
    /// Repeat a stretch (long lines, duplicated records).
    Repeat(usize, usize, usize),
}

/// Bytes that matter to the formats: separators, quotes, brackets, digits, UTF-8 lead
/// bytes, plus any byte at all.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"\t\n\r,\"{}[]:-.0123456789e \\".to_vec()),
        Just(0xC3u8),
        Just(0xFFu8),
        any::<u8>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), byte()).prop_map(|(p, b)| Edit::Insert(p, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte()).prop_map(|(p, b)| Edit::Replace(p, b)),
        any::<usize>().prop_map(Edit::Cut),
        (any::<usize>(), 1usize..64, 1usize..200).prop_map(|(p, l, n)| Edit::Repeat(p, l, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match *e {
            Edit::Insert(p, b) => bytes.insert(p % (n + 1), b),
            Edit::Delete(p) if n > 0 => {
                bytes.remove(p % n);
            }
            Edit::Replace(p, b) if n > 0 => bytes[p % n] = b,
            Edit::Cut(p) => bytes.truncate(p % (n + 1)),
            Edit::Repeat(p, l, k) if n > 0 => {
                let start = p % n;
                let piece: Vec<u8> = bytes[start..(start + l).min(n)].to_vec();
                let at = (start + l).min(n);
                let rep: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece.len() * k)
                    .collect();
                bytes.splice(at..at, rep);
            }
            _ => {}
        }
    }
    bytes
}

/// A mutated copy of `seed`, or (now and then) random bytes.
fn damaged(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(edit(), 1..8).prop_map(move |e| mutate(seed.clone(), &e)),
        1 => prop::collection::vec(byte(), 0..400),
    ]
}

/// The error names the file; where it gives `file:LINE`, the line exists.
fn check_error(msg: &str, path: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let name = path.to_string_lossy();
    prop_assert!(
        msg.contains(name.as_ref()),
        "error does not name {name}: {msg}"
    );
    if let Some(rest) = msg
        .split(name.as_ref())
        .nth(1)
        .and_then(|r| r.strip_prefix(':'))
    {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(line) = digits.parse::<usize>() {
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
            prop_assert!(line >= 1 && line <= lines, "line {line} of {lines}: {msg}");
        }
    }
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

proptest! {
    #[test]
    fn movielens_interactions(bytes in damaged(fixture("movielens/tiny.inter"))) {
        let dir = tempfile::tempdir().unwrap();
        let inter = write(dir.path(), "x.inter", &bytes);
        let item = write(dir.path(), "x.item", &fixture("movielens/tiny.item"));
        if let Err(e) = read_movielens(&inter, &item) {
            check_error(&e.to_string(), &inter, &bytes)?;
        }
    }

    #[test]
    fn movielens_items(bytes in damaged(fixture("movielens/tiny.item"))) {
        let dir = tempfile::tempdir().unwrap();
        let inter = write(dir.path(), "x.inter", &fixture("movielens/tiny.inter"));
        let item = write(dir.path(), "x.item", &bytes);
        if let Err(e) = read_movielens(&inter, &item) {
            check_error(&e.to_string(), &item, &bytes)?;
        }
    }

    #[test]
    fn amazon_reviews(bytes in damaged(fixture("amazon/reviews.csv"))) {
        let dir = tempfile::tempdir().unwrap();
        let reviews = write(dir.path(), "r.csv", &bytes);
        if let Err(e) = read_reviews(&reviews) {
            check_error(&e.to_string(), &reviews, &bytes)?;
        }
    }

    #[test]
    fn amazon_metadata(bytes in damaged(fixture("amazon/meta.jsonl"))) {
        let dir = tempfile::tempdir().unwrap();
        let opts = AmazonOptions {
            reviews: write(dir.path(), "r.csv", &fixture("amazon/reviews.csv")),
            meta: write(dir.path(), "m.jsonl", &bytes),
            category: "Musical_Instruments".into(),
            min_items: 1,
            k_core: 0,
        };
        if let Err(e) = read_amazon(&opts) {
            check_error(&e.to_string(), &opts.meta, &bytes)?;
        }
    }

    #[test]
    fn prepared_examples(bytes in damaged(prepared_file("train.jsonl"))) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "train.jsonl", &bytes);
        if let Err(e) = read_examples(&p, &prepared().1.catalog) {
            check_error(&e.to_string(), &p, &bytes)?;
        }
    }

    #[test]
    fn prepared_items_and_stats(
        items in damaged(prepared_file("items.jsonl")),
        stats in damaged(prepared_file("stats.json")),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "items.jsonl", &items);
        if let Err(e) = read_items(&p) {
            check_error(&e.to_string(), &p, &items)?;
        }
        let p = write(dir.path(), "stats.json", &stats);
        if let Err(e) = read_stats(&p) {
            check_error(&e.to_string(), &p, &stats)?;
        }
    }

    #[test]
    fn history_files(bytes in damaged(br#"{"user_id": "u1", "history": [{"item_id": "m1", "rating": 5, "timestamp": 100}, {"item_id": "m3", "rating": 3.5, "timestamp": 300}], "target": {"item_id": "m2", "rating": 4, "timestamp": 400}, "now": 500}"#.to_vec())) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "history.json", &bytes);
        if let Err(e) = r2ec::data::history::read_history_file(&p, &prepared().1.catalog) {
            check_error(&format!("{e:#}"), &p, &bytes)?;
        }
    }
}
