//! The worker's two jobs on a loaded model: one recommendation (the chain with the
//! hidden state of every step, the ranking so far while it is written, its ranking, the
//! ranking straight after the prompt, the rank trace and the JSON record), and a group
//! of G sampled chains with RecPO's rewards and advantages.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{send, Loaded};
use crate::data::UserHistory;
use crate::model::error::ModelError;
use crate::model::generate::{Chain, GenEvent, GenerateOptions, StopReason, Timings};
use crate::model::sampling::repetition::Repetition;
use crate::model::sampling::Sampling;
use crate::rec::error::RecError;
use crate::rec::pipeline::{UserEncoder, UserPrompt};
use crate::rec::ranking::Ranking;
use crate::rec::trace::rank_trace;
use crate::rec::ItemTable;
use crate::tui::analysis::{group_rewards, GroupMember};
use crate::tui::app::run::{describe, group_settings};
use crate::tui::effect::{RunRequest, SamplingSettings};
use crate::tui::event::EventSender;
use crate::tui::msg::{GroupResult, RunResult, WorkerEvent};

/// The ranking so far is sent at most this often: scoring the catalogue takes about a
/// millisecond, but on a GPU tokens come faster than a reader can follow a list.
const LIVE_RANKING_EVERY: Duration = Duration::from_millis(150);

/// What a chain being written is ranked against while it runs.
struct LiveRank<'a> {
    table: &'a ItemTable,
    history: &'a UserHistory,
    top_k: usize,
}

fn sampling_of(s: &SamplingSettings) -> Sampling {
    match (s.temperature, s.top_k) {
        (t, _) if t <= 0.0 => Sampling::ArgMax,
        (t, None) => Sampling::All { temperature: t },
        (t, Some(k)) => Sampling::TopK { k, temperature: t },
    }
}

/// Repetition control as the settings ask (off by default).
fn repetition_of(s: &SamplingSettings) -> Repetition {
    Repetition {
        penalty: s.repetition_penalty,
        no_repeat_ngram: s.no_repeat_ngram,
    }
}

/// The pipeline over the loaded model and data set.
fn encoder(l: &Loaded) -> UserEncoder<'_> {
    UserEncoder::new(&l.model, &l.data)
}

/// The request's history, checked; its prompt, cut to the window and to the context
/// (the cut is reported with the run, so the user sees it).
fn prompt_of(
    enc: &UserEncoder<'_>,
    req: &RunRequest,
) -> Result<(UserHistory, UserPrompt, Option<String>), RecError> {
    let history = UserHistory::new(
        req.history.clone(),
        req.now,
        req.target.clone(),
        &enc.data().catalog,
    )?;
    let prompt = enc.prompt(&history, req.sampling.max_new_tokens)?;
    let notice = prompt.cut.map(|c| c.to_string());
    Ok((history, prompt, notice))
}

/// Generate, streaming text as `Text` events and, with `live` (and the step hidden
/// states kept), the ranking so far as `LiveRanking` events; `None` when cancelled.
#[allow(clippy::too_many_arguments)]
fn generate(
    enc: &UserEncoder<'_>,
    req: &RunRequest,
    prompt: &UserPrompt,
    opts: &GenerateOptions,
    samples: usize,
    live: Option<LiveRank<'_>>,
    events: &EventSender,
    cancel: &AtomicBool,
) -> Result<Option<(Vec<Chain>, Timings)>, RecError> {
    let start = Instant::now();
    let id = req.id;
    let mut last_live: Option<Instant> = None;
    let mut on_event = |e: GenEvent| match e {
        GenEvent::StepHidden { step, hidden, .. } => {
            let Some(l) = &live else { return };
            if last_live.is_some_and(|t| t.elapsed() < LIVE_RANKING_EVERY) {
                return;
            }
            last_live = Some(Instant::now());
            // A live view only: should scoring fail, the final ranking reports the error.
            if let Ok(mut r) = enc.rank(l.table, &[hidden], &[l.history], l.top_k) {
                if let Some(ranking) = r.pop() {
                    send(
                        events,
                        WorkerEvent::LiveRanking {
                            id,
                            steps: step + 1,
                            ranking: Box::new(ranking),
                        },
                    );
                }
            }
        }
        GenEvent::Text { sample, piece, .. } => {
            send(
                events,
                WorkerEvent::Text {
                    id,
                    sample,
                    piece,
                    elapsed: start.elapsed().as_secs_f64(),
                },
            );
        }
        GenEvent::PrefillDone {
            secs,
            prompt_tokens,
        } => {
            send(
                events,
                WorkerEvent::Prefill {
                    id,
                    secs,
                    prompt_tokens,
                },
            );
        }
        GenEvent::Finished { .. } => {}
    };
    let (chains, timings) = enc.reason(
        std::slice::from_ref(prompt),
        samples,
        opts,
        &mut on_event,
        Some(cancel),
    )?;
    if cancel.load(Ordering::SeqCst) || chains.iter().any(|c| c.stop == StopReason::Cancelled) {
        return Ok(None);
    }
    Ok(Some((chains, timings)))
}

pub(super) fn run_one(
    l: &Loaded,
    req: &RunRequest,
    events: &EventSender,
    cancel: &AtomicBool,
) -> Result<Option<RunResult>, RecError> {
    let enc = encoder(l);
    let (history, prompt, notice) = prompt_of(&enc, req)?;
    send(
        events,
        WorkerEvent::RunStarted {
            id: req.id,
            prompt: prompt.text.clone(),
            notice,
        },
    );
    let opts = GenerateOptions {
        max_new_tokens: req.sampling.max_new_tokens,
        sampling: sampling_of(&req.sampling),
        seed: req.sampling.seed,
        repetition: repetition_of(&req.sampling),
        keep_step_hidden: true,
        ..Default::default()
    };
    let live = LiveRank {
        table: &l.table,
        history: &history,
        top_k: req.top_k,
    };
    let Some((mut chains, timings)) =
        generate(&enc, req, &prompt, &opts, 1, Some(live), events, cancel)?
    else {
        return Ok(None);
    };
    let chain = chains
        .pop()
        .ok_or_else(|| ModelError::Input("generation returned no chain".into()))?;
    let direct = enc
        .answer_now(std::slice::from_ref(&prompt), 1)?
        .pop()
        .unwrap_or_default();
    let [ranking, no_reasoning]: [Ranking; 2] = enc
        .rank(
            &l.table,
            &[chain.user_vector.as_slice(), direct.as_slice()],
            &[&history, &history],
            req.top_k,
        )?
        .try_into()
        .map_err(|_| ModelError::Input("ranking returned the wrong count".into()))?;
    let target_title = history.target_id().map(|t| {
        l.data.catalog.get(t).map_or(t.to_string(), |i| {
            format!("target: {}", crate::tui::text::shown_title(&i.title))
        })
    });
    let trace = rank_trace(
        &l.table,
        &chain.step_hidden,
        &ranking,
        &ranking.masked,
        target_title,
    )?;
    let record = json!({
        "history": req.history,
        "target": req.target,
        "now": req.now,
        "prompt": prompt.text,
        "reasoning": chain.text,
        "reasoning_tokens": chain.sampled_tokens,
        "stop": chain.stop,
        "top": ranking.top,
        "target_rank": ranking.target_rank,
        "no_reasoning_target_rank": no_reasoning.target_rank,
        "timing": timings,
    });
    Ok(Some(RunResult {
        request: req.clone(),
        prompt: prompt.text,
        reasoning: chain.text,
        tokens: chain.sampled_tokens,
        stop: chain.stop,
        timings,
        ranking,
        no_reasoning,
        trace,
        // Invariant: a `json!` value always serialises.
        record: serde_json::to_string_pretty(&record).unwrap_or_default(),
    }))
}

pub(super) fn run_group(
    l: &Loaded,
    req: &RunRequest,
    events: &EventSender,
    cancel: &AtomicBool,
) -> Result<Option<GroupResult>, RecError> {
    let enc = encoder(l);
    let (history, prompt, notice) = prompt_of(&enc, req)?;
    send(
        events,
        WorkerEvent::RunStarted {
            id: req.id,
            prompt: prompt.text.clone(),
            notice,
        },
    );
    // Greedy chains would all be equal; a greedy setting samples as RecPO's rollouts
    // do. The state machine asks for the same settings and the status bar shows them.
    let settings = group_settings(&req.sampling);
    let opts = GenerateOptions {
        max_new_tokens: settings.max_new_tokens,
        sampling: sampling_of(&settings),
        seed: settings.seed,
        repetition: repetition_of(&settings),
        ..Default::default()
    };
    let g = req.group.unwrap_or(1).max(1);
    let Some((mut chains, timings)) = generate(&enc, req, &prompt, &opts, g, None, events, cancel)?
    else {
        return Ok(None);
    };
    chains.sort_by_key(|c| c.sample);
    let vectors: Vec<&[f32]> = chains.iter().map(|c| c.user_vector.as_slice()).collect();
    let rankings = enc.rank(
        &l.table,
        &vectors,
        &vec![&history; vectors.len()],
        req.top_k,
    )?;
    let (rewards, advantages) = group_rewards(&rankings);
    let members = chains
        .into_iter()
        .zip(&rankings)
        .zip(rewards.into_iter().zip(advantages))
        .map(|((c, r), (reward, advantage))| GroupMember {
            text: c.text,
            tokens: c.sampled_tokens,
            top_title: r.top.first().map(|t| t.title.clone()).unwrap_or_default(),
            reward,
            advantage,
        })
        .collect();
    Ok(Some(GroupResult {
        request: req.clone(),
        sampling: describe(&settings),
        members,
        timings,
    }))
}
