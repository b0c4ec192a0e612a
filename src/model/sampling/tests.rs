//! Fixed-seed tests of the sampler, after candle-transformers' `tests/generation_tests.rs`.

use super::*;

fn softmax(logits: &[f32], temperature: f64) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let e: Vec<f64> = logits
        .iter()
        .map(|&l| ((l as f64 - max) / temperature).exp())
        .collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

fn frequencies(sampler: &mut LogitsSampler, logits: &[f32], draws: usize) -> Vec<f64> {
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..draws {
        counts[sampler.sample(logits).unwrap() as usize] += 1;
    }
    counts
        .into_iter()
        .map(|c| c as f64 / draws as f64)
        .collect()
}

#[test]
fn greedy_and_temperature_zero_pick_the_lowest_index_of_the_maximum() {
    let logits = [0.1, 3.0, -1.0, 3.0, f32::NAN];
    for s in [
        Sampling::ArgMax,
        Sampling::All { temperature: 0.0 },
        Sampling::TopK {
            k: 2,
            temperature: 0.0,
        },
        Sampling::TopP {
            p: 0.5,
            temperature: -1.0,
        },
        Sampling::TopKThenTopP {
            k: 3,
            p: 0.9,
            temperature: 0.0,
        },
    ] {
        let mut sm = LogitsSampler::new(7, s);
        for _ in 0..5 {
            assert_eq!(sm.sample(&logits).unwrap(), 1, "{s:?}");
        }
    }
}

#[test]
fn bad_logits_are_errors() {
    let mut sm = LogitsSampler::new(0, Sampling::All { temperature: 1.0 });
    assert_eq!(sm.sample(&[]), Err(SamplingError::Empty));
    assert_eq!(
        sm.sample(&[f32::NAN, f32::NEG_INFINITY]),
        Err(SamplingError::NoFiniteLogit(2))
    );
    assert_eq!(argmax(&[f32::NAN]), Err(SamplingError::NoFiniteLogit(1)));
    // A masked (-inf) or NaN token is never drawn.
    let logits = [f32::NEG_INFINITY, 0.0, f32::NAN, 0.0];
    for _ in 0..200 {
        let t = sm.sample(&logits).unwrap();
        assert!(t == 1 || t == 3, "{t}");
    }
}

#[test]
fn same_seed_same_tokens_other_seed_other_tokens() {
    let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
    let run = |seed| {
        let mut sm = LogitsSampler::new(
            seed,
            Sampling::TopKThenTopP {
                k: 20,
                p: 0.9,
                temperature: 1.5,
            },
        );
        (0..64)
            .map(|_| sm.sample(&logits).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn empirical_frequencies_match_softmax() {
    let logits = [1.0f32, 2.0, 0.5, -1.0, 1.5];
    for temperature in [1.0, 0.5, 2.0] {
        let mut sm = LogitsSampler::new(1234, Sampling::All { temperature });
        let freq = frequencies(&mut sm, &logits, 40_000);
        for (f, p) in freq.iter().zip(softmax(&logits, temperature)) {
            assert!((f - p).abs() < 0.01, "t={temperature}: {f} vs {p}");
        }
    }
}

#[test]
fn top_k_never_leaves_the_k_best_and_renormalises() {
    let logits = [0.3f32, 2.0, 1.0, 1.9, -0.5, 1.0];
    let mut sm = LogitsSampler::new(
        99,
        Sampling::TopK {
            k: 3,
            temperature: 1.0,
        },
    );
    let freq = frequencies(&mut sm, &logits, 30_000);
    // The three best are 1, 3, then the lower index of the tie at 1.0 (token 2).
    let kept = softmax(&[2.0, 1.9, 1.0], 1.0);
    for (tok, p) in [(1, kept[0]), (3, kept[1]), (2, kept[2])] {
        assert!(
            (freq[tok] - p).abs() < 0.01,
            "token {tok}: {} vs {p}",
            freq[tok]
        );
    }
    assert_eq!(freq[0] + freq[4] + freq[5], 0.0);
    // k = 0 disables top-k.
    let mut all = LogitsSampler::new(
        5,
        Sampling::TopK {
            k: 0,
            temperature: 1.0,
        },
    );
    assert!(frequencies(&mut all, &logits, 5_000)[4] > 0.0);
}

#[test]
fn top_p_keeps_the_smallest_set_reaching_p() {
    let probs = [0.05f64, 0.5, 0.15, 0.3];
    let logits: Vec<f32> = probs.iter().map(|p| p.ln() as f32).collect();
    for (p, kept) in [
        (0.4, vec![1]),
        (0.75, vec![1, 3]),
        (0.85, vec![1, 3, 2]),
        (0.99, vec![1, 3, 2, 0]),
    ] {
        let mut sm = LogitsSampler::new(
            3,
            Sampling::TopP {
                p,
                temperature: 1.0,
            },
        );
        let freq = frequencies(&mut sm, &logits, 20_000);
        let mass: f64 = kept.iter().map(|&t| probs[t]).sum();
        for t in 0..4 {
            let expected = if kept.contains(&t) {
                probs[t] / mass
            } else {
                0.0
            };
            assert!(
                (freq[t] - expected).abs() < 0.012,
                "p={p} token {t}: {} vs {expected}",
                freq[t]
            );
        }
    }
}

#[test]
fn top_k_then_top_p_applies_both() {
    // Top-2 of these are tokens 0 and 1 (0.4 and 0.3 of the mass); of those, 0.4/0.7 < 0.6
    // so top-p at 0.6 keeps both, at 0.5 only token 0.
    let probs = [0.4f64, 0.3, 0.2, 0.1];
    let logits: Vec<f32> = probs.iter().map(|p| p.ln() as f32).collect();
    let mut both = LogitsSampler::new(
        11,
        Sampling::TopKThenTopP {
            k: 2,
            p: 0.6,
            temperature: 1.0,
        },
    );
    let f = frequencies(&mut both, &logits, 20_000);
    assert!(
        (f[0] - 4.0 / 7.0).abs() < 0.012 && f[2] == 0.0 && f[3] == 0.0,
        "{f:?}"
    );
    let mut one = LogitsSampler::new(
        11,
        Sampling::TopKThenTopP {
            k: 2,
            p: 0.5,
            temperature: 1.0,
        },
    );
    assert_eq!(frequencies(&mut one, &logits, 1_000)[0], 1.0);
}

#[test]
fn nucleus_on_a_large_flat_vocabulary_matches_the_full_sort() {
    // 100k tokens, nearly flat: the threshold search must fall back to small tokens.
    let logits: Vec<f32> = (0..100_000)
        .map(|i| ((i * 7919) % 1000) as f32 * 1e-3)
        .collect();
    let weights: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, (l as f64).exp()))
        .collect();
    let fast = nucleus(weights.clone(), 0.3);
    let mut sorted = weights.clone();
    sorted.sort_by(best_first);
    let total: f64 = weights.iter().map(|w| w.1).sum();
    let mut cum = 0.0;
    let n = sorted.iter().position(|w| {
        cum += w.1;
        cum >= 0.3 * total
    });
    assert_eq!(fast, sorted[..n.unwrap() + 1].to_vec());
}
