//! Generation on a tiny seeded random model with a one-character-per-token vocabulary:
//! the batched, cached loop must equal a plain full-sequence greedy loop, row by row.

use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use super::*;
use crate::model::backbone::{Backbone, KvCache, LoadOptions};
use crate::model::config::Family;
use crate::model::random::{random_weights, tiny_config};
use crate::model::tokenizer::Tokenizer;

/// 64 tokens: pad, bos, end of turn, `<answer>`, then one printable character each.
fn tiny_tokenizer() -> Tokenizer {
    let chars: Vec<String> = ('a'..='z')
        .chain('A'..='Z')
        .chain(" .,!?012".chars())
        .map(|c| c.to_string())
        .collect();
    let mut vocab = std::collections::HashMap::new();
    for (i, t) in ["<pad>", "<s>", "<|im_end|>", "<answer>"]
        .iter()
        .map(|s| s.to_string())
        .chain(chars)
        .enumerate()
    {
        vocab.insert(t, i as u32);
    }
    let model = WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("<pad>".into())
        .build()
        .unwrap();
    let mut tk = tokenizers::Tokenizer::new(model);
    tk.with_pre_tokenizer(Some(
        Split::new(
            SplitPattern::Regex(".".into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .unwrap(),
    ));
    tk.with_decoder(Some(tokenizers::decoders::fuse::Fuse::new()));
    tk.add_special_tokens([
        AddedToken::from("<|im_end|>", true),
        AddedToken::from("<s>", true),
    ])
    .unwrap();
    tk.add_tokens([AddedToken::from("<answer>", false)])
        .unwrap();
    Tokenizer::new(tk, Some(1), Some(2))
}

fn tiny_model(seed: u64) -> Backbone {
    let cfg = tiny_config(Family::Llama);
    let w = random_weights(&cfg, seed, &Device::Cpu).unwrap();
    Backbone::new(&cfg, &w, &LoadOptions::default()).unwrap()
}

/// Greedy decoding the slow way: the whole sequence through the model at every step.
fn reference_greedy(model: &Backbone, prompt: &[u32], steps: usize) -> (Vec<u32>, Vec<Vec<f32>>) {
    let mut seq = prompt.to_vec();
    let mut hidden_after = Vec::new();
    for _ in 0..steps {
        let (next, _) = full_forward(model, &seq);
        seq.push(next);
        hidden_after.push(full_forward(model, &seq).1);
    }
    (seq[prompt.len()..].to_vec(), hidden_after)
}

/// Argmax of the last position's logits, and the last position's hidden state.
fn full_forward(model: &Backbone, seq: &[u32]) -> (u32, Vec<f32>) {
    let ids = Tensor::new(seq, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mut cache = KvCache::new(model.config(), 1);
    let h = model.forward_hidden(&ids, &mut cache, None).unwrap();
    let last = h.narrow(1, seq.len() - 1, 1).unwrap().squeeze(1).unwrap();
    let logits = model
        .logits(&last)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let next = crate::model::sampling::argmax(&logits).unwrap();
    (
        next,
        last.squeeze(0)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap(),
    )
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
}

fn opts(max: usize, stop: &str) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: max,
        stop: vec![stop.to_string()],
        ..Default::default()
    }
}

#[test]
fn greedy_batch_equals_full_sequence_loop_and_forces_answer() {
    let model = tiny_model(3);
    let tk = tiny_tokenizer();
    let prompts = [
        vec![1u32, 10, 11, 12],
        vec![1, 40, 41],
        vec![1, 5, 6, 7, 8, 9, 20],
    ];
    let reqs: Vec<GenerateRequest> = prompts
        .iter()
        .map(|p| GenerateRequest {
            prompt_ids: p.clone(),
            samples: 2,
        })
        .collect();
    // A stop string that cannot occur: every chain runs to the budget.
    let (chains, timings) =
        generate_batch(&model, &tk, &reqs, &opts(6, "<<never>>"), &mut |_| {}, None).unwrap();
    assert_eq!(chains.len(), 6);
    assert_eq!(timings.prompt_tokens, 14);
    let answer = tk.encode("<answer>").unwrap();
    for c in &chains {
        let (want, hidden) = reference_greedy(&model, &prompts[c.request], 6);
        let sampled: Vec<u32> = c.token_ids[..c.sampled_tokens].to_vec();
        // End-of-turn tokens end a chain early; compare what was sampled.
        assert_eq!(
            sampled,
            want[..sampled.len()],
            "request {} sample {}",
            c.request,
            c.sample
        );
        assert!(matches!(
            c.stop,
            StopReason::MaxTokens | StopReason::EndOfTurn
        ));
        assert_eq!(
            &c.token_ids[c.sampled_tokens..],
            answer.as_slice(),
            "`<answer>` forced at the end"
        );
        // h_T is the hidden state after reading the forced `<answer>`.
        let mut full = prompts[c.request].clone();
        full.extend_from_slice(&c.token_ids);
        assert!(close(&c.user_vector, &full_forward(&model, &full).1));
        if c.stop == StopReason::MaxTokens {
            assert_eq!(c.sampled_tokens, 6);
            assert!(close(
                &hidden[5],
                &full_forward(&model, &full[..full.len() - answer.len()]).1
            ));
        }
    }
}

#[test]
fn stop_string_ends_the_chain_and_is_kept() {
    let model = tiny_model(5);
    let tk = tiny_tokenizer();
    let prompt = vec![1u32, 30, 31, 32];
    let (free, _) = generate_batch(
        &model,
        &tk,
        &[GenerateRequest {
            prompt_ids: prompt.clone(),
            samples: 1,
        }],
        &opts(12, "<<never>>"),
        &mut |_| {},
        None,
    )
    .unwrap();
    let text = &free[0].text;
    assert!(text.chars().count() >= 4, "the free run wrote {text:?}");
    // Stop at the 3rd and 4th characters of the free run's text.
    let stop: String = text.chars().skip(2).take(2).collect();
    let first = text.find(&stop).unwrap();
    let mut streamed = String::new();
    let (chains, _) = generate_batch(
        &model,
        &tk,
        &[GenerateRequest {
            prompt_ids: prompt.clone(),
            samples: 1,
        }],
        &opts(12, &stop),
        &mut |e| {
            if let GenEvent::Text { piece, .. } = e {
                streamed.push_str(&piece)
            }
        },
        None,
    )
    .unwrap();
    let c = &chains[0];
    assert_eq!(c.stop, StopReason::StopString);
    assert_eq!(c.text, text[..first + stop.len()]);
    assert_eq!(streamed, c.text, "streamed pieces add up to the chain");
    assert_eq!(
        c.sampled_tokens,
        c.token_ids.len(),
        "nothing forced after a real stop"
    );
    let mut full = prompt.clone();
    full.extend_from_slice(&c.token_ids);
    assert!(
        close(&c.user_vector, &full_forward(&model, &full).1),
        "h_T read after the last token"
    );
}

#[test]
fn seeded_sampling_is_reproducible_and_samples_differ() {
    let model = tiny_model(7);
    let tk = tiny_tokenizer();
    let req = [GenerateRequest {
        prompt_ids: vec![1, 10, 20, 30],
        samples: 4,
    }];
    let mut o = opts(10, "<<never>>");
    o.sampling = crate::model::sampling::Sampling::All { temperature: 5.0 };
    o.seed = 42;
    let (a, _) = generate_batch(&model, &tk, &req, &o, &mut |_| {}, None).unwrap();
    let (b, _) = generate_batch(&model, &tk, &req, &o, &mut |_| {}, None).unwrap();
    let ta: Vec<_> = a.iter().map(|c| c.token_ids.clone()).collect();
    let tb: Vec<_> = b.iter().map(|c| c.token_ids.clone()).collect();
    assert_eq!(ta, tb);
    assert!(
        ta.iter().any(|t| t != &ta[0]),
        "four hot samples are not all the same"
    );
    assert_eq!(
        a.iter().map(|c| c.sample).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
}

#[test]
fn cancel_ends_every_row_without_a_user_vector() {
    let model = tiny_model(9);
    let tk = tiny_tokenizer();
    let cancel = AtomicBool::new(true);
    let req = [GenerateRequest {
        prompt_ids: vec![1, 10],
        samples: 2,
    }];
    let (chains, _) = generate_batch(
        &model,
        &tk,
        &req,
        &opts(10, "<<never>>"),
        &mut |_| {},
        Some(&cancel),
    )
    .unwrap();
    assert!(chains
        .iter()
        .all(|c| c.stop == StopReason::Cancelled && c.user_vector.is_empty()));
}

#[test]
fn step_hidden_states_follow_the_tokens() {
    let model = tiny_model(11);
    let tk = tiny_tokenizer();
    let prompt = vec![1u32, 12, 13];
    let mut o = opts(4, "<<never>>");
    o.keep_step_hidden = true;
    let (chains, _) = generate_batch(
        &model,
        &tk,
        &[GenerateRequest {
            prompt_ids: prompt.clone(),
            samples: 1,
        }],
        &o,
        &mut |_| {},
        None,
    )
    .unwrap();
    let c = &chains[0];
    assert_eq!(c.step_hidden.len(), c.token_ids.len());
    for (i, h) in c.step_hidden.iter().enumerate() {
        let mut seq = prompt.clone();
        seq.extend_from_slice(&c.token_ids[..=i]);
        assert!(close(h, &full_forward(&model, &seq).1), "step {i}");
    }
}

/// The last position's logits of `seq`, the slow way.
fn full_logits(model: &Backbone, seq: &[u32]) -> Vec<f32> {
    let ids = Tensor::new(seq, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mut cache = KvCache::new(model.config(), 1);
    let h = model.forward_hidden(&ids, &mut cache, None).unwrap();
    let last = h.narrow(1, seq.len() - 1, 1).unwrap().squeeze(1).unwrap();
    model
        .logits(&last)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// What a reference loop does to one step's logits, given the sequence so far and how
/// many tokens were generated.
type Process<'a> = &'a dyn Fn(&[u32], usize, &mut [f32]);

/// Greedy decoding the slow way with `process` applied to each step's logits; stops at
/// the end of the turn (token 2).
fn reference_processed(
    model: &Backbone,
    prompt: &[u32],
    steps: usize,
    process: Process,
) -> Vec<u32> {
    let mut seq = prompt.to_vec();
    for n in 0..steps {
        let mut l = full_logits(model, &seq);
        process(&seq, n, &mut l);
        let next = crate::model::sampling::argmax(&l).unwrap();
        if next == 2 {
            break;
        }
        seq.push(next);
    }
    seq[prompt.len()..].to_vec()
}

fn gemma_model(seed: u64) -> Backbone {
    let cfg = tiny_config(Family::Gemma2);
    let w = random_weights(&cfg, seed, &Device::Cpu).unwrap();
    Backbone::new(&cfg, &w, &LoadOptions::default()).unwrap()
}

fn three_requests(samples: usize) -> Vec<GenerateRequest> {
    [
        vec![1u32, 10, 11, 12],
        vec![1, 40, 41],
        vec![1, 5, 6, 7, 8, 9, 20],
    ]
    .into_iter()
    .map(|p| GenerateRequest {
        prompt_ids: p,
        samples,
    })
    .collect()
}

/// The GPU's way (tokens chosen by tensor ops, decode masks from the device-side
/// buffer) on the CPU gives the host's chains: greedy and sampled, with left padding,
/// with Gemma2's sliding window, with repetition control.
#[test]
fn device_sampling_and_masks_give_the_host_chains() {
    let tk = tiny_tokenizer();
    let reqs = three_requests(2);
    for gemma in [false, true] {
        let host_model = if gemma { gemma_model(4) } else { tiny_model(4) };
        let mut dev_model = if gemma { gemma_model(4) } else { tiny_model(4) };
        dev_model.set_device_masks(true);
        for (sampling, repetition) in [
            (Sampling::ArgMax, Repetition::OFF),
            (Sampling::All { temperature: 1.5 }, Repetition::OFF),
            (
                Sampling::ArgMax,
                Repetition {
                    penalty: 1.7,
                    no_repeat_ngram: 2,
                },
            ),
        ] {
            let mut o = opts(20, "<<never>>");
            o.sampling = sampling;
            o.repetition = repetition;
            o.seed = 7;
            o.sample_on = SamplePlace::Host;
            let (want, _) = generate_batch(&host_model, &tk, &reqs, &o, &mut |_| {}, None).unwrap();
            o.sample_on = SamplePlace::Device;
            let (got, _) = generate_batch(&dev_model, &tk, &reqs, &o, &mut |_| {}, None).unwrap();
            for (g, w) in got.iter().zip(&want) {
                let what = format!("gemma {gemma}, {sampling:?}, {repetition:?}");
                assert_eq!(g.token_ids, w.token_ids, "{what}");
                assert_eq!(g.stop, w.stop, "{what}");
                assert!(close(&g.user_vector, &w.user_vector), "{what}");
            }
        }
    }
}

use crate::model::sampling::repetition::{Repetition, RepetitionState};
use crate::model::sampling::Sampling;

/// Repetition control in the batched loop equals the processors applied by hand in a
/// full-sequence greedy loop, on both samplers; no bigram repeats with n = 2.
#[test]
fn repetition_control_matches_a_reference_loop() {
    let model = tiny_model(13);
    let tk = tiny_tokenizer();
    let reqs = three_requests(1);
    for settings in [
        Repetition {
            penalty: 3.0,
            no_repeat_ngram: 0,
        },
        Repetition {
            penalty: 1.0,
            no_repeat_ngram: 2,
        },
        Repetition {
            penalty: 0.7,
            no_repeat_ngram: 3,
        },
    ] {
        for place in [SamplePlace::Host, SamplePlace::Device] {
            let mut o = opts(16, "<<never>>");
            o.repetition = settings;
            o.sample_on = place;
            let (chains, _) = generate_batch(&model, &tk, &reqs, &o, &mut |_| {}, None).unwrap();
            for c in &chains {
                let prompt = &reqs[c.request].prompt_ids;
                let want = reference_processed(&model, prompt, 16, &|seq, _, l| {
                    RepetitionState::new(settings, seq).apply(l)
                });
                let sampled = &c.token_ids[..c.sampled_tokens];
                assert_eq!(sampled, want.as_slice(), "{settings:?} on {place:?}");
                if settings.no_repeat_ngram == 2 {
                    let mut seq = prompt.clone();
                    seq.extend_from_slice(sampled);
                    let mut grams: Vec<&[u32]> = seq.windows(2).collect();
                    let n = grams.len();
                    grams.sort();
                    grams.dedup();
                    assert_eq!(grams.len(), n, "a bigram repeats in {seq:?}");
                }
            }
        }
    }
}

/// `min_new_tokens` keeps the end of the turn out until that many tokens are written.
#[test]
fn min_new_tokens_bans_the_end_of_turn_until_reached() {
    let tk = tiny_tokenizer();
    // Find a model and prompt whose greedy chain ends its turn early.
    let (model, prompt) = (0..40u64)
        .find_map(|seed| {
            let m = tiny_model(seed);
            for p in [vec![1u32, 3, 2], vec![1, 2], vec![1, 60, 2, 61]] {
                let free = reference_processed(&m, &p, 12, &|_, _, _| {});
                if free.len() < 6 {
                    return Some((m, p));
                }
            }
            None
        })
        .expect("a chain that ends early");
    let reqs = [GenerateRequest {
        prompt_ids: prompt.clone(),
        samples: 1,
    }];
    for place in [SamplePlace::Host, SamplePlace::Device] {
        let mut o = opts(12, "<<never>>");
        o.min_new_tokens = 12;
        o.sample_on = place;
        let (chains, _) = generate_batch(&model, &tk, &reqs, &o, &mut |_| {}, None).unwrap();
        let want = reference_processed(&model, &prompt, 12, &|_, n, l| {
            if n < 12 {
                l[2] = f32::NEG_INFINITY;
            }
        });
        assert_eq!(want.len(), 12);
        assert_eq!(chains[0].sampled_tokens, 12, "{place:?}");
        assert_eq!(&chains[0].token_ids[..12], want.as_slice(), "{place:?}");
        assert_eq!(chains[0].stop, StopReason::MaxTokens);
    }
}
