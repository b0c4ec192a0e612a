//! The device sampler on the CPU device against the host sampler: the same greedy
//! token, the same token for the same uniform where the draw order is the same (no
//! top-k/top-p), the same support and frequencies where it is not, and the repetition
//! processors exactly as the host applies them.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::model::sampling::repetition::RepetitionState;
use crate::model::sampling::{argmax, LogitsSampler};

fn random_logits(rows: usize, vocab: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..rows)
        .map(|_| {
            (0..vocab)
                .map(|_| rng.random::<f32>() * 8.0 - 4.0)
                .collect()
        })
        .collect()
}

fn tensor(rows: &[Vec<f32>]) -> Tensor {
    let v = rows[0].len();
    Tensor::from_vec(rows.concat(), (rows.len(), v), &Device::Cpu).unwrap()
}

fn sampler(sampling: Sampling, rows: usize, vocab: usize) -> DeviceSampler {
    let prompts: Vec<&[u32]> = vec![&[]; rows];
    DeviceSampler::new(sampling, Repetition::OFF, &prompts, vocab, &Device::Cpu).unwrap()
}

fn uniforms(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f64>()).collect()
}

fn none(rows: usize) -> Vec<&'static [u32]> {
    vec![&[]; rows]
}

/// The host's draw without top-k/top-p: the first token, in token order, whose
/// cumulative weight exceeds `u` times the total.
fn inverse_cdf(logits: &[f32], t: f64, u: f64) -> u32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> = logits
        .iter()
        .map(|&l| ((l as f64 - max) / t).exp())
        .collect();
    let mut target = u * w.iter().sum::<f64>();
    for (i, &x) in w.iter().enumerate() {
        if target < x {
            return i as u32;
        }
        target -= x;
    }
    (w.len() - 1) as u32
}

/// The k best tokens of a row (lowest index first among ties).
fn best(logits: &[f32], k: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    idx.sort_by(|&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    });
    idx.truncate(k);
    idx
}

#[test]
fn greedy_picks_the_host_argmax_and_flags_rows_without_a_finite_logit() {
    for vocab in [7, 3000] {
        let mut rows = random_logits(16, vocab, 1);
        rows[3][vocab / 2] = f32::NAN;
        rows[4] = vec![f32::NEG_INFINITY; vocab];
        rows[5] = vec![f32::NAN; vocab];
        rows[6][1] = f32::INFINITY;
        let mut s = sampler(Sampling::ArgMax, 16, vocab);
        let got = s.sample(&tensor(&rows), &[0.5; 16], &none(16)).unwrap();
        for (r, row) in rows.iter().enumerate() {
            assert_eq!(got[r], argmax(row).ok(), "row {r}");
        }
        assert_eq!(got[4], None);
        assert_eq!(got[6], Some(1));
    }
}

#[test]
fn all_tokens_draw_the_host_token_for_the_same_uniform() {
    // 3000 tokens take the blocked cumulative sum, 50 the single one.
    for (vocab, t) in [(50, 1.0), (3000, 0.7), (3000, 2.0)] {
        let rows = random_logits(64, vocab, vocab as u64);
        let u = uniforms(64, 9);
        let mut s = sampler(Sampling::All { temperature: t }, 64, vocab);
        let got = s.sample(&tensor(&rows), &u, &none(64)).unwrap();
        let same = rows
            .iter()
            .zip(&u)
            .zip(&got)
            .filter(|((row, &u), g)| **g == Some(inverse_cdf(row, t, u)))
            .count();
        // f32 against f64 sums may differ right at a boundary, nowhere else.
        assert!(same >= 62, "vocab {vocab}, t {t}: {same} of 64 the same");
    }
}

#[test]
fn the_host_sampler_draw_is_the_same_inverse_cdf() {
    // The device path takes its uniforms from the rows' LogitsSamplers: with the same
    // seed, the host sampler draws exactly `inverse_cdf` of the same uniform.
    let row = &random_logits(1, 40, 3)[0];
    let mut host = LogitsSampler::new(5, Sampling::All { temperature: 1.3 });
    let mut twin = LogitsSampler::new(5, Sampling::All { temperature: 1.3 });
    for _ in 0..50 {
        let u = twin.uniform();
        assert_eq!(host.sample(row).unwrap(), inverse_cdf(row, 1.3, u));
    }
}

/// Frequencies of `draws` draws of one row, all in one call.
fn frequencies(sampling: Sampling, row: &[f32], draws: usize, seed: u64) -> Vec<f64> {
    let rows = vec![row.to_vec(); draws];
    let mut s = sampler(sampling, draws, row.len());
    let got = s
        .sample(&tensor(&rows), &uniforms(draws, seed), &none(draws))
        .unwrap();
    let mut f = vec![0.0; row.len()];
    for g in got {
        f[g.expect("a token") as usize] += 1.0 / draws as f64;
    }
    f
}

fn softmax_over(row: &[f32], keep: &[u32], t: f64) -> Vec<f64> {
    let mut p = vec![0.0; row.len()];
    let max = keep
        .iter()
        .map(|&i| row[i as usize])
        .fold(f32::MIN, f32::max) as f64;
    for &i in keep {
        p[i as usize] = ((row[i as usize] as f64 - max) / t).exp();
    }
    let s: f64 = p.iter().sum();
    p.iter().map(|x| x / s).collect()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if *w == 0.0 {
            assert_eq!(*g, 0.0, "{what}: token {i} is outside the support");
        } else {
            assert!((g - w).abs() < tol, "{what}: token {i}: {g} vs {w}");
        }
    }
}

#[test]
fn top_k_keeps_the_k_best_across_chunks_and_renormalises() {
    // 5000 tokens: one round of chunks, then the last sort.
    for k in [5, 256] {
        let vocab = 5000;
        let mut row = random_logits(1, vocab, 11)[0].clone();
        // Lift a few tokens far apart so the kept set is spread over chunks.
        for (j, i) in (0..vocab).step_by(vocab / 7).enumerate() {
            row[i] = 6.0 + j as f32 * 0.1;
        }
        let keep = best(&row, k);
        let f = frequencies(
            Sampling::TopK {
                k,
                temperature: 1.0,
            },
            &row,
            3000,
            k as u64,
        );
        let tol = if k > 50 { 0.01 } else { 0.03 };
        assert_close(&f, &softmax_over(&row, &keep, 1.0), tol, "top-k");
    }
    // 70000 tokens: two rounds of chunks; every draw among the 50 best.
    let vocab = 70_000;
    let mut row = random_logits(1, vocab, 12)[0].clone();
    for (j, i) in (0..vocab).step_by(vocab / 60).enumerate() {
        row[i] = 5.0 + (j % 13) as f32 * 0.05;
    }
    let keep: std::collections::HashSet<u32> = best(&row, 50).into_iter().collect();
    let f = frequencies(
        Sampling::TopK {
            k: 50,
            temperature: 2.0,
        },
        &row,
        64,
        1,
    );
    let drawn: Vec<usize> = (0..vocab).filter(|&i| f[i] > 0.0).collect();
    assert!(drawn.len() > 10, "{drawn:?}");
    assert!(
        drawn.iter().all(|&i| keep.contains(&(i as u32))),
        "{drawn:?}"
    );
}

#[test]
fn top_k_beyond_the_sort_limit_is_cut_by_bisection() {
    let vocab = 3000;
    let row = random_logits(1, vocab, 12)[0].clone();
    let k = 400;
    assert!(k > SORT_K_MAX);
    let keep = best(&row, k);
    let f = frequencies(
        Sampling::TopK {
            k,
            temperature: 0.5,
        },
        &row,
        3000,
        4,
    );
    let allowed: std::collections::HashSet<u32> = keep.iter().copied().collect();
    for (i, x) in f.iter().enumerate() {
        assert!(
            *x == 0.0 || allowed.contains(&(i as u32)),
            "token {i} drawn"
        );
    }
    assert_close(&f, &softmax_over(&row, &keep, 0.5), 0.02, "top-k 400");
}

/// The host's nucleus: the smallest prefix of the sorted tokens reaching `p`.
fn nucleus_of(row: &[f32], t: f64, p: f64) -> Vec<u32> {
    let order = best(row, row.len());
    let probs = softmax_over(row, &order, t);
    let mut cum = 0.0;
    let mut out = Vec::new();
    for i in order {
        out.push(i);
        cum += probs[i as usize];
        if cum >= p {
            break;
        }
    }
    out
}

#[test]
fn top_p_alone_keeps_the_smallest_set_reaching_p() {
    let probs = [0.05f64, 0.5, 0.15, 0.3];
    let row: Vec<f32> = probs.iter().map(|p| p.ln() as f32).collect();
    for (p, kept) in [(0.4, vec![1u32]), (0.75, vec![1, 3]), (0.85, vec![1, 3, 2])] {
        let f = frequencies(
            Sampling::TopP {
                p,
                temperature: 1.0,
            },
            &row,
            4000,
            8,
        );
        assert_close(&f, &softmax_over(&row, &kept, 1.0), 0.03, &format!("p={p}"));
    }
    // A large flat vocabulary: the nucleus holds hundreds of tokens.
    let row = random_logits(1, 3000, 13)[0].clone();
    let kept = nucleus_of(&row, 2.0, 0.3);
    assert!(kept.len() > 200, "{}", kept.len());
    let f = frequencies(
        Sampling::TopP {
            p: 0.3,
            temperature: 2.0,
        },
        &row,
        2000,
        2,
    );
    let allowed: std::collections::HashSet<u32> = kept.iter().copied().collect();
    let outside: f64 = f
        .iter()
        .enumerate()
        .filter(|(i, _)| !allowed.contains(&(*i as u32)))
        .map(|(_, x)| x)
        .sum();
    assert_eq!(outside, 0.0, "drawn outside the nucleus");
}

#[test]
fn top_k_then_top_p_applies_both() {
    // Top-2 of these are 0 and 1 (0.4 and 0.3); p = 0.6 keeps both, p = 0.5 only 0.
    let probs = [0.4f64, 0.3, 0.2, 0.1];
    let row: Vec<f32> = probs.iter().map(|p| p.ln() as f32).collect();
    let both = Sampling::TopKThenTopP {
        k: 2,
        p: 0.6,
        temperature: 1.0,
    };
    let f = frequencies(both, &row, 4000, 3);
    assert_close(&f, &softmax_over(&row, &[0, 1], 1.0), 0.03, "k=2 p=0.6");
    let one = Sampling::TopKThenTopP {
        k: 2,
        p: 0.5,
        temperature: 1.0,
    };
    assert!((frequencies(one, &row, 500, 3)[0] - 1.0).abs() < 1e-9);
    // p <= 0 keeps the best token, as the host's nucleus does.
    let zero = Sampling::TopP {
        p: 0.0,
        temperature: 1.0,
    };
    assert!((frequencies(zero, &row, 200, 3)[0] - 1.0).abs() < 1e-9);
}

#[test]
fn masked_tokens_are_never_drawn_and_empty_rows_are_flagged() {
    let mut rows = random_logits(3, 2000, 21);
    for (i, l) in rows[0].iter_mut().enumerate() {
        if i % 3 != 0 {
            *l = if i % 2 == 0 {
                f32::NEG_INFINITY
            } else {
                f32::NAN
            };
        }
    }
    rows[1] = vec![f32::NEG_INFINITY; 2000];
    for sampling in [
        Sampling::All { temperature: 1.0 },
        Sampling::TopK {
            k: 40,
            temperature: 1.0,
        },
        Sampling::TopP {
            p: 0.9,
            temperature: 1.0,
        },
    ] {
        let mut s = sampler(sampling, 3, 2000);
        for seed in 0..20 {
            let got = s
                .sample(&tensor(&rows), &uniforms(3, seed), &none(3))
                .unwrap();
            let t = got[0].expect("row 0 has tokens");
            assert_eq!(t % 3, 0, "{sampling:?}: masked token {t}");
            assert_eq!(got[1], None, "{sampling:?}");
            assert!(got[2].is_some());
        }
    }
}

/// The device's greedy choice after the repetition processors equals the host's argmax
/// of the logits the host processed, step after step (the device keeps its own record
/// of the tokens it returned).
#[test]
fn repetition_processors_match_the_host() {
    let vocab = 1500;
    let rows = 6;
    let settings = Repetition {
        penalty: 1.8,
        no_repeat_ngram: 2,
    };
    let prompts: Vec<Vec<u32>> = (0..rows)
        .map(|r| {
            (0..5)
                .map(|i| ((r * 37 + i * 101) % vocab) as u32)
                .collect()
        })
        .collect();
    let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let mut dev =
        DeviceSampler::new(Sampling::ArgMax, settings, &refs, vocab, &Device::Cpu).unwrap();
    let mut host: Vec<RepetitionState> = prompts
        .iter()
        .map(|p| RepetitionState::new(settings, p))
        .collect();
    // Logits that favour a few tokens strongly, so repeats would happen unprocessed.
    let mut rng = StdRng::seed_from_u64(4);
    for step in 0..12 {
        let logits: Vec<Vec<f32>> = (0..rows)
            .map(|r| {
                (0..vocab)
                    .map(|i| {
                        let base = if i % 97 == r { 5.0 } else { 0.0 };
                        base + rng.random::<f32>() - if i % 2 == 0 { 0.0 } else { 3.0 }
                    })
                    .collect()
            })
            .collect();
        let banned: Vec<Vec<u32>> = host.iter().map(|h| h.banned().to_vec()).collect();
        let banned_refs: Vec<&[u32]> = banned.iter().map(Vec::as_slice).collect();
        let got = dev
            .sample(&tensor(&logits), &vec![0.5; rows], &banned_refs)
            .unwrap();
        for r in 0..rows {
            let mut row = logits[r].clone();
            host[r].apply(&mut row);
            let want = argmax(&row).unwrap();
            assert_eq!(got[r], Some(want), "step {step}, row {r}");
            host[r].push(want);
        }
    }
}

#[test]
fn a_penalty_turns_a_repeat_into_the_runner_up() {
    // Token 2 leads but was in the prompt: 3.0 / 2 = 1.5 < 2.0 of token 0.
    let row = vec![2.0f32, -1.0, 3.0, 0.5];
    let settings = Repetition {
        penalty: 2.0,
        no_repeat_ngram: 0,
    };
    let mut s = DeviceSampler::new(Sampling::ArgMax, settings, &[&[2]], 4, &Device::Cpu).unwrap();
    let t = tensor(std::slice::from_ref(&row));
    assert_eq!(s.sample(&t, &[0.0], &none(1)).unwrap(), vec![Some(0)]);
    // Token 0 was just returned: now 1.0 against 1.5 of token 2.
    assert_eq!(s.sample(&t, &[0.0], &none(1)).unwrap(), vec![Some(2)]);
    // Bans win over everything.
    let banned: Vec<&[u32]> = vec![&[0, 2]];
    assert_eq!(s.sample(&t, &[0.0], &banned).unwrap(), vec![Some(3)]);
}

#[test]
fn shapes_are_checked() {
    let mut s = sampler(Sampling::ArgMax, 2, 10);
    let wrong = Tensor::zeros((3, 10), DType::F32, &Device::Cpu).unwrap();
    assert!(s.sample(&wrong, &[0.0; 3], &none(3)).is_err());
}

#[test]
fn modes_follow_the_host_conventions() {
    assert_eq!(mode(Sampling::All { temperature: 0.0 }, 10), Mode::Greedy);
    assert_eq!(
        mode(
            Sampling::TopK {
                k: 10,
                temperature: 1.0
            },
            10
        ),
        Mode::Full {
            k: None,
            p: None,
            t: 1.0
        }
    );
    assert_eq!(
        mode(
            Sampling::TopK {
                k: 50,
                temperature: 2.0
            },
            49152
        ),
        Mode::Sorted {
            k: 50,
            p: None,
            t: 2.0
        }
    );
    assert_eq!(
        mode(
            Sampling::TopP {
                p: 1.0,
                temperature: 1.0
            },
            10
        ),
        Mode::Full {
            k: None,
            p: None,
            t: 1.0
        }
    );
}
