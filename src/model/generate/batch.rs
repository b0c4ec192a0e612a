//! Batched generation: P prompts, left-padded into one batch and read at once, then G
//! samples per prompt decoded together, one token per row per step.
//!
//! Each row is a small state machine: it samples until its text holds a stop string
//! (then it reads that last token once more to give h_T), or, at the end of its turn or
//! of its token budget, it is fed the `<answer>` tokens (teacher-forced) first. Rows that
//! are done keep their place in the batch and are fed a dummy token; their outputs are
//! ignored.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{DType, Tensor};

use super::events::{Chain, GenEvent, StopReason, Timings};
use super::next::NextTokens;
use super::GenerateOptions;
use crate::model::backbone::{Backbone, KvCache, LinearHook};
use crate::model::error::ModelError;
use crate::model::loaded::{left_pad, left_pad_flags};
use crate::model::lower::LowerStates;
use crate::model::stop::{StopDetector, StopState};
use crate::model::tokenizer::Tokenizer;

/// One prompt and how many samples to draw from it.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt_ids: Vec<u32>,
    pub samples: usize,
}

enum Phase {
    /// The model is writing.
    Sampling,
    /// `<answer>` tokens still to feed.
    Forcing(VecDeque<u32>),
    /// The last token has been chosen; the next forward reads it and gives h_T.
    LastFeed,
    Done,
}

struct Row {
    request: usize,
    sample: usize,
    phase: Phase,
    tokens: Vec<u32>,
    sampled: usize,
    /// Text decoding: tokens from `prev` are decoded together so multi-byte characters
    /// split across tokens come out whole (candle-examples `token_output_stream.rs`).
    prev: usize,
    emitted: usize,
    stop_detector: StopDetector,
    text: String,
    stop: Option<StopReason>,
    user_vector: Vec<f32>,
    step_hidden: Vec<Vec<f32>>,
}

impl Row {
    /// Add text to the chain and stream it.
    fn show(&mut self, piece: String, on_event: &mut dyn FnMut(GenEvent)) {
        if piece.is_empty() {
            return;
        }
        self.text.push_str(&piece);
        on_event(GenEvent::Text {
            request: self.request,
            sample: self.sample,
            piece,
        });
    }

    /// The chain ends without a stop string: text held back as a possible stop prefix
    /// was real text after all.
    fn release_held(&mut self, on_event: &mut dyn FnMut(GenEvent)) {
        let rest = self.stop_detector.finish();
        self.show(rest, on_event);
    }
}

/// Generate `samples` chains for each request. Events stream through `on_event`;
/// `cancel`, when set, ends every row at the next step.
pub fn generate_batch(
    model: &Backbone,
    tokenizer: &Tokenizer,
    requests: &[GenerateRequest],
    opts: &GenerateOptions,
    on_event: &mut dyn FnMut(GenEvent),
    cancel: Option<&AtomicBool>,
) -> Result<(Vec<Chain>, Timings), ModelError> {
    generate_batch_hooked(model, None, tokenizer, requests, opts, on_event, cancel)
}

/// [`generate_batch`] from the backbone with an adapter (`hook`) on its projections:
/// RecPO's rollouts sample from the policy being trained.
pub fn generate_batch_hooked(
    model: &Backbone,
    hook: Option<&dyn LinearHook>,
    tokenizer: &Tokenizer,
    requests: &[GenerateRequest],
    opts: &GenerateOptions,
    on_event: &mut dyn FnMut(GenEvent),
    cancel: Option<&AtomicBool>,
) -> Result<(Vec<Chain>, Timings), ModelError> {
    generate_batch_reusing(
        model, hook, None, tokenizer, requests, opts, on_event, cancel,
    )
}

/// [`generate_batch_hooked`] whose prefill takes the base model's lower layers from
/// `lower` (kept there the first time a batch of prompts is seen): the trainer's valid
/// probe generates for the same prompts at every probe.
#[allow(clippy::too_many_arguments)]
pub fn generate_batch_reusing(
    model: &Backbone,
    hook: Option<&dyn LinearHook>,
    lower: Option<&LowerStates>,
    tokenizer: &Tokenizer,
    requests: &[GenerateRequest],
    opts: &GenerateOptions,
    on_event: &mut dyn FnMut(GenEvent),
    cancel: Option<&AtomicBool>,
) -> Result<(Vec<Chain>, Timings), ModelError> {
    let device = model.device().clone();
    let start = Instant::now();
    let mut timings = Timings::default();
    if requests.is_empty() {
        return Ok((Vec::new(), timings));
    }
    let answer_ids = if opts.force_answer {
        tokenizer.encode(crate::model::chat_template::ANSWER_TAG)?
    } else {
        Vec::new()
    };
    // The end of the assistant's turn: the tokenizer's EOS and the templates' end-of-turn
    // tokens (Qwen2's EOS is `<|endoftext|>`, its turns end with `<|im_end|>`).
    let end_ids: Vec<u32> = tokenizer
        .eos()
        .into_iter()
        .chain(
            ["<|im_end|>", "<end_of_turn>"]
                .iter()
                .filter_map(|t| tokenizer.token_id(t)),
        )
        .collect();
    let stops: Vec<&str> = opts.stop.iter().map(String::as_str).collect();

    // Prefill: the prompts as one left-padded batch. The padding is given as host flags,
    // so nothing is read back from the device for it.
    let lens: Vec<usize> = requests.iter().map(|r| r.prompt_ids.len()).collect();
    let prompts: Vec<&[u32]> = requests.iter().map(|r| r.prompt_ids.as_slice()).collect();
    let (ids_t, _) = left_pad(&prompts, &device)?;
    let max_len = ids_t.dim(1)?;
    let real = left_pad_flags(&prompts);
    let p = requests.len();
    // Rows that are done are fed this token; their outputs are never read.
    let pad_id = 0u32;
    let mut cache = KvCache::new(model.config(), p);
    let hidden = match lower {
        Some(lower) => {
            let key: Vec<Vec<u32>> = prompts.iter().map(|p| p.to_vec()).collect();
            model.prefill_reusing(&ids_t, &key, &mut cache, &real, hook, lower)?
        }
        None => model.forward_hidden_flags(&ids_t, &mut cache, &real, hook)?,
    };
    let mut last = hidden.narrow(1, max_len - 1, 1)?.squeeze(1)?;

    // Expand to one row per sample: row order is request-major.
    let row_src: Vec<u32> = requests
        .iter()
        .enumerate()
        .flat_map(|(i, r)| std::iter::repeat_n(i as u32, r.samples))
        .collect();
    if row_src.is_empty() {
        return Ok((Vec::new(), timings));
    }
    if row_src.len() != p || row_src.iter().enumerate().any(|(i, &s)| i as u32 != s) {
        let idx = Tensor::new(row_src.as_slice(), &device)?;
        last = last.contiguous()?.index_select(&idx, 0)?;
        let rows: Vec<usize> = row_src.iter().map(|&r| r as usize).collect();
        cache = cache.select_rows(&rows)?;
    }
    timings.prompt_tokens = lens.iter().sum();
    timings.prefill_secs = start.elapsed().as_secs_f64();
    on_event(GenEvent::PrefillDone {
        secs: timings.prefill_secs,
        prompt_tokens: timings.prompt_tokens,
    });

    let mut rows: Vec<Row> = Vec::with_capacity(row_src.len());
    let mut sample_of = vec![0usize; p];
    for &src in &row_src {
        let src = src as usize;
        let sample = sample_of[src];
        sample_of[src] += 1;
        rows.push(Row {
            request: src,
            sample,
            phase: Phase::Sampling,
            tokens: Vec::new(),
            sampled: 0,
            prev: 0,
            emitted: 0,
            stop_detector: StopDetector::new(&stops),
            text: String::new(),
            stop: None,
            user_vector: Vec::new(),
            step_hidden: Vec::new(),
        });
    }

    let row_prompts: Vec<&[u32]> = row_src
        .iter()
        .map(|&s| requests[s as usize].prompt_ids.as_slice())
        .collect();
    let mut next = NextTokens::new(opts, &row_prompts, &end_ids, &device);
    let decode_start = Instant::now();
    let mut first_token = true;
    loop {
        let cancelled = cancel.is_some_and(|c| c.load(Ordering::Relaxed));
        let active: Vec<bool> = rows
            .iter()
            .map(|r| matches!(r.phase, Phase::Sampling))
            .collect();
        let chosen: Vec<Option<u32>> = if active.iter().any(|&a| a) && !cancelled {
            next.choose(&model.logits(&last)?, &active)?
        } else {
            vec![None; rows.len()]
        };
        let mut feed = vec![pad_id; rows.len()];
        let mut reads_hidden = vec![false; rows.len()];
        for (i, row) in rows.iter_mut().enumerate() {
            if cancelled && !matches!(row.phase, Phase::Done) {
                row.phase = Phase::Done;
                row.stop = Some(StopReason::Cancelled);
                on_event(GenEvent::Finished {
                    request: row.request,
                    sample: row.sample,
                    stop: StopReason::Cancelled,
                });
                continue;
            }
            match &mut row.phase {
                Phase::Done => {}
                Phase::LastFeed => unreachable!("LastFeed rows are finished after each forward"),
                Phase::Forcing(queue) => {
                    // Invariant: a Forcing queue is never left empty (checked below).
                    let t = queue.pop_front().expect("forcing queue is not empty");
                    row.tokens.push(t);
                    feed[i] = t;
                    reads_hidden[i] = true;
                    if queue.is_empty() {
                        row.phase = Phase::LastFeed;
                    }
                }
                Phase::Sampling => {
                    // Invariant: `choose` gives a token for every row that was sampling.
                    let t = chosen[i].expect("a token for every sampling row");
                    if first_token {
                        timings.first_token_secs = start.elapsed().as_secs_f64();
                        first_token = false;
                    }
                    if end_ids.contains(&t) {
                        row.stop = Some(StopReason::EndOfTurn);
                        start_forcing(
                            row,
                            &answer_ids,
                            &mut feed[i],
                            &mut reads_hidden[i],
                            on_event,
                        );
                        continue;
                    }
                    row.tokens.push(t);
                    row.sampled += 1;
                    next.record(i, t);
                    feed[i] = t;
                    reads_hidden[i] = true;
                    let piece = decode_piece(tokenizer, row)?;
                    match row.stop_detector.push(&piece) {
                        StopState::Continue(text) => {
                            row.show(text, on_event);
                            if row.sampled >= opts.max_new_tokens {
                                row.stop = Some(StopReason::MaxTokens);
                                row.release_held(on_event);
                                // The token just sampled is fed now; `<answer>` follows.
                                row.phase = Phase::Forcing(answer_ids.iter().copied().collect());
                                if answer_ids.is_empty() {
                                    row.phase = Phase::LastFeed;
                                }
                            }
                        }
                        StopState::Stopped { text, .. } => {
                            row.show(text, on_event);
                            row.stop = Some(StopReason::StopString);
                            row.phase = Phase::LastFeed;
                        }
                    }
                }
            }
        }
        if rows.iter().all(|r| matches!(r.phase, Phase::Done)) {
            break;
        }
        let feed_t = Tensor::from_vec(feed, (rows.len(), 1), &device)?;
        let hidden = model.forward_hidden_hooked(&feed_t, &mut cache, None, hook)?;
        last = hidden.squeeze(1)?;
        let want_rows =
            opts.keep_step_hidden || rows.iter().any(|r| matches!(r.phase, Phase::LastFeed));
        if want_rows {
            let h = last.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            for (i, row) in rows.iter_mut().enumerate() {
                if !reads_hidden[i] {
                    continue;
                }
                if opts.keep_step_hidden {
                    row.step_hidden.push(h[i].clone());
                    on_event(GenEvent::StepHidden {
                        request: row.request,
                        sample: row.sample,
                        step: row.step_hidden.len() - 1,
                        hidden: h[i].clone(),
                    });
                }
                if matches!(row.phase, Phase::LastFeed) {
                    row.user_vector = h[i].clone();
                    row.phase = Phase::Done;
                    let stop = row.stop.unwrap_or(StopReason::StopString);
                    on_event(GenEvent::Finished {
                        request: row.request,
                        sample: row.sample,
                        stop,
                    });
                }
            }
        }
    }
    timings.decode_secs = decode_start.elapsed().as_secs_f64();
    timings.generated_tokens = rows.iter().map(|r| r.sampled).sum();
    let chains = rows
        .into_iter()
        .map(|r| Chain {
            request: r.request,
            sample: r.sample,
            text: r.text,
            sampled_tokens: r.sampled,
            token_ids: r.tokens,
            stop: r.stop.unwrap_or(StopReason::StopString),
            user_vector: r.user_vector,
            step_hidden: r.step_hidden,
        })
        .collect();
    Ok((chains, timings))
}

/// End-of-turn or budget: feed `<answer>` (teacher-forced) so h_T is read at it.
fn start_forcing(
    row: &mut Row,
    answer_ids: &[u32],
    feed: &mut u32,
    reads_hidden: &mut bool,
    on_event: &mut dyn FnMut(GenEvent),
) {
    row.release_held(on_event);
    let mut queue: VecDeque<u32> = answer_ids.iter().copied().collect();
    match queue.pop_front() {
        Some(t) => {
            row.tokens.push(t);
            *feed = t;
            *reads_hidden = true;
            row.phase = if queue.is_empty() {
                Phase::LastFeed
            } else {
                Phase::Forcing(queue)
            };
        }
        None => {
            // Nothing to force: the chain ends here, without a user vector.
            row.phase = Phase::Done;
            on_event(GenEvent::Finished {
                request: row.request,
                sample: row.sample,
                stop: StopReason::EndOfTurn,
            });
        }
    }
}

/// Decode the newest token of a row into the printable text it completes, if any.
/// The window starts one emitted piece back so decoders that strip a leading space
/// see the same context each time.
fn decode_piece(tokenizer: &Tokenizer, row: &mut Row) -> Result<String, ModelError> {
    let before = tokenizer.decode_text(&row.tokens[row.prev..row.emitted])?;
    let text = tokenizer.decode_text(&row.tokens[row.prev..])?;
    if text.len() > before.len() && !text.ends_with('\u{fffd}') {
        if let Some(piece) = text.get(before.len()..) {
            let piece = piece.to_string();
            row.prev = row.emitted;
            row.emitted = row.tokens.len();
            return Ok(piece);
        }
    }
    Ok(String::new())
}
