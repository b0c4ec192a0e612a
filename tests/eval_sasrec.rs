//! SASRec learns a sequential pattern that popularity cannot see: every user walks the
//! same hidden cycle of items from a random start, so the next item is the successor
//! of the last one. Test NDCG@10 must be far above most-popular's, and a saved model
//! must score exactly as the one in memory.

use candle_core::Device;
use r2ec::data::{Catalog, Example, Interaction, Item};
use r2ec::eval::baselines::sasrec::{train_sasrec, SasRecScorer};
use r2ec::eval::baselines::{Popularity, SasRec, SasRecConfig};
use r2ec::eval::{evaluate, EvalOptions, Scorer};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const ITEMS: usize = 40;
const LEN: usize = 12;

fn item(i: usize) -> Item {
    Item {
        item_id: format!("i{i}"),
        title: format!("Item {i}"),
        domain: "movies".into(),
        year: None,
        genres: vec![],
        average_rating: None,
        rating_number: None,
        description: None,
    }
}

/// Examples of one user who walks `cycle` from `start` for LEN steps.
fn user_examples(user: usize, cycle: &[usize], start: usize) -> Vec<Example> {
    let seq: Vec<Interaction> = (0..LEN)
        .map(|k| Interaction {
            item_id: format!("i{}", cycle[(start + k) % ITEMS]),
            rating: 4.0,
            timestamp: (user * 100 + k) as i64,
        })
        .collect();
    (1..LEN)
        .map(|i| Example {
            user_id: format!("u{user}"),
            history: seq[i.saturating_sub(20)..i].to_vec(),
            target: seq[i].clone(),
        })
        .collect()
}

fn ndcg10(scorer: &mut dyn Scorer, catalog: &Catalog, test: &[Example]) -> f64 {
    let chosen: Vec<(usize, &Example)> = test.iter().enumerate().collect();
    let opts = EvalOptions {
        batch: 16,
        batch1_samples: 0,
    };
    evaluate(catalog, &chosen, scorer, &opts, &mut |_, _| {})
        .unwrap()
        .metrics()
        .ndcg[1]
}

#[test]
fn sasrec_learns_a_sequence_that_popularity_cannot() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut cycle: Vec<usize> = (0..ITEMS).collect();
    cycle.shuffle(&mut rng);
    let catalog = Catalog::new((0..ITEMS).map(item).collect());
    let mut train = Vec::new();
    let (mut valid, mut test) = (Vec::new(), Vec::new());
    for u in 0..260 {
        let ex = user_examples(u, &cycle, rng.random_range(0..ITEMS));
        match u {
            0..200 => train.extend(ex),
            200..230 => valid.extend(ex.into_iter().skip(LEN - 2)),
            _ => test.extend(ex.into_iter().skip(LEN - 2)),
        }
    }
    let cfg = SasRecConfig {
        hidden: 32,
        blocks: 1,
        heads: 1,
        dropout: 0.1,
        max_len: 16,
        lr: 5e-3,
        batch: 64,
        max_epochs: 25,
        patience: 25,
        valid_limit: 100,
        seed: 3,
    };
    let mut epochs = Vec::new();
    let device = Device::Cpu;
    let sasrec = train_sasrec(&cfg, &train, &valid, &catalog, &device, &mut |e| {
        epochs.push(e.clone())
    })
    .unwrap();
    assert!(!epochs.is_empty());
    assert!(
        epochs.last().unwrap().loss < epochs[0].loss,
        "loss did not fall: {epochs:?}"
    );
    let mut scorer = SasRecScorer {
        sasrec: &sasrec,
        catalog: &catalog,
    };
    let sas = ndcg10(&mut scorer, &catalog, &test);
    let mut pop = Popularity::from_train(&train, &catalog);
    let popular = ndcg10(&mut pop, &catalog, &test);
    eprintln!("test NDCG@10: SASRec {sas:.4}, most popular {popular:.4}");
    assert!(sas > 0.6, "SASRec test NDCG@10 {sas} (popular {popular})");
    assert!(sas > popular + 0.4, "SASRec {sas} vs popular {popular}");

    // Saved and loaded, the model scores the same.
    let dir = tempfile::tempdir().unwrap();
    sasrec.save(dir.path(), &catalog).unwrap();
    let back = SasRec::load(dir.path(), &catalog, &device).unwrap();
    assert_eq!(back.best_epoch, sasrec.best_epoch);
    let refs: Vec<&Example> = test.iter().take(3).collect();
    let a = scorer.score(&refs).unwrap();
    let b = SasRecScorer {
        sasrec: &back,
        catalog: &catalog,
    }
    .score(&refs)
    .unwrap();
    assert_eq!(a, b);

    // Another catalogue is refused with the file named.
    let other = Catalog::new((0..ITEMS + 1).map(item).collect());
    let err = SasRec::load(dir.path(), &other, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("sasrec.json") && err.contains("another catalogue"),
        "{err}"
    );
}
