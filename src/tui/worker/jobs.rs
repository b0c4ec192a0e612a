//! The worker's two jobs on a loaded model: one recommendation (the chain with the
//! hidden state of every step, its ranking, the ranking straight after the prompt, the
//! rank trace and the JSON record), and a group of G sampled chains with RecPO's
//! rewards and advantages.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::json;

use super::{send, GroupResult, Loaded, RunResult, WorkerEvent};
use crate::data::prompt::{ANSWER_TAG, HISTORY_WINDOW};
use crate::model::error::ModelError;
use crate::model::generate::{
    generate_batch, Chain, GenEvent, GenerateOptions, GenerateRequest, StopReason, Timings,
};
use crate::model::sampling::Sampling;
use crate::rec::recommender::RecError;
use crate::tui::analysis::{group_rewards, rank_trace, GroupMember, Ranking};
use crate::tui::effect::{RunRequest, SamplingSettings};
use crate::tui::event::EventSender;

fn sampling_of(s: &SamplingSettings) -> Sampling {
    match (s.temperature, s.top_k) {
        (t, _) if t <= 0.0 => Sampling::ArgMax,
        (t, None) => Sampling::All { temperature: t },
        (t, Some(k)) => Sampling::TopK { k, temperature: t },
    }
}

/// The prompt for the request's history, cut to the window and to the context (the
/// cut is reported with the run, so the user sees it).
fn prompt_of(l: &Loaded, req: &RunRequest) -> Result<(String, Option<String>), RecError> {
    let (prompt, cut) = crate::rec::context::fit_prompt(
        &l.model,
        &l.data,
        &req.history,
        req.now,
        HISTORY_WINDOW,
        req.sampling.max_new_tokens,
    )?;
    Ok((prompt, cut.map(|c| c.to_string())))
}

fn masked_of(l: &Loaded, req: &RunRequest) -> Vec<usize> {
    req.history
        .iter()
        .filter_map(|h| l.table.position(&h.item_id))
        .collect()
}

/// Generate, streaming text as `Text` events; `None` when cancelled.
fn generate(
    l: &Loaded,
    req: &RunRequest,
    prompt: &str,
    opts: &GenerateOptions,
    samples: usize,
    events: &EventSender,
    cancel: &AtomicBool,
) -> Result<Option<(Vec<Chain>, Timings)>, RecError> {
    let start = Instant::now();
    let id = req.id;
    let request = GenerateRequest {
        prompt_ids: l.model.tokenizer.encode(prompt).map_err(ModelError::from)?,
        samples,
    };
    let mut on_event = |e: GenEvent| match e {
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
    let (chains, timings) = generate_batch(
        &l.model.backbone,
        &l.model.tokenizer,
        &[request],
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
    let (prompt, notice) = prompt_of(l, req)?;
    send(
        events,
        WorkerEvent::RunStarted {
            id: req.id,
            prompt: prompt.clone(),
            notice,
        },
    );
    let opts = GenerateOptions {
        max_new_tokens: req.sampling.max_new_tokens,
        sampling: sampling_of(&req.sampling),
        seed: req.sampling.seed,
        keep_step_hidden: true,
        ..Default::default()
    };
    let Some((mut chains, timings)) = generate(l, req, &prompt, &opts, 1, events, cancel)? else {
        return Ok(None);
    };
    let chain = chains
        .pop()
        .ok_or_else(|| ModelError::Input("generation returned no chain".into()))?;
    let masked = masked_of(l, req);
    let target = req.target.as_ref().map(|t| t.item_id.as_str());
    let catalog = &l.data.catalog;
    let ranking = Ranking::of_user_vector(
        &l.table,
        catalog,
        &chain.user_vector,
        &masked,
        target,
        req.top_k,
    )?;
    // Without reasoning the answer tag follows the prompt directly, as for items.
    let ids = l
        .model
        .tokenizer
        .encode(&format!("{prompt}{ANSWER_TAG}"))
        .map_err(ModelError::from)?;
    let direct = l
        .model
        .last_hidden(std::slice::from_ref(&ids), 1)?
        .pop()
        .unwrap_or_default();
    let no_reasoning =
        Ranking::of_user_vector(&l.table, catalog, &direct, &masked, target, req.top_k)?;
    let target_title = target.map(|t| {
        catalog
            .get(t)
            .map_or(t.to_string(), |i| format!("target: {}", i.title))
    });
    let trace = rank_trace(
        &l.table,
        &chain.step_hidden,
        &ranking,
        &masked,
        target_title,
    )?;
    let record = json!({
        "history": req.history,
        "target": req.target,
        "now": req.now,
        "prompt": prompt,
        "reasoning": chain.text,
        "reasoning_tokens": chain.sampled_tokens,
        "stop": chain.stop,
        "top": ranking.top.iter().map(|t| json!({"item_id": t.item_id, "title": t.title, "score": t.score})).collect::<Vec<_>>(),
        "target_rank": ranking.target_rank,
        "no_reasoning_target_rank": no_reasoning.target_rank,
        "timing": timings,
    });
    Ok(Some(RunResult {
        request: req.clone(),
        prompt,
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
    let (prompt, notice) = prompt_of(l, req)?;
    send(
        events,
        WorkerEvent::RunStarted {
            id: req.id,
            prompt: prompt.clone(),
            notice,
        },
    );
    // Greedy chains would all be equal; a greedy setting samples as RecPO's rollouts do.
    let sampling = if req.sampling.temperature > 0.0 {
        sampling_of(&req.sampling)
    } else {
        Sampling::rollout()
    };
    let opts = GenerateOptions {
        max_new_tokens: req.sampling.max_new_tokens,
        sampling,
        seed: req.sampling.seed,
        ..Default::default()
    };
    let g = req.group.unwrap_or(1).max(1);
    let Some((mut chains, timings)) = generate(l, req, &prompt, &opts, g, events, cancel)? else {
        return Ok(None);
    };
    chains.sort_by_key(|c| c.sample);
    let masked = masked_of(l, req);
    let target = req.target.as_ref().map(|t| t.item_id.as_str());
    let rankings = chains
        .iter()
        .map(|c| {
            Ranking::of_user_vector(
                &l.table,
                &l.data.catalog,
                &c.user_vector,
                &masked,
                target,
                req.top_k,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
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
        sampling: format!("{sampling:?}"),
        members,
        timings,
    }))
}
