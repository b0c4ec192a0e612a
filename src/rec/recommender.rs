//! R²ec inference for one history (SPEC §1), through the pipeline: the user prompt, a
//! reasoning chain that stops at `<answer>`, h_T read there (or straight after the
//! prompt without reasoning), the whole item table ranked with the history masked, and
//! the target's rank when the history has one.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;

use super::error::RecError;
use super::item_table::ItemTable;
use super::pipeline::UserEncoder;
use super::ranking::RankedItem;
use super::UserVectorAt;
use crate::data::UserHistory;
use crate::model::error::ModelError;
use crate::model::generate::{GenEvent, GenerateOptions, StopReason, Timings};

#[derive(Debug, Clone)]
pub struct RecommendOptions {
    pub generate: GenerateOptions,
    /// Where h_T is read: after the chain (R²ec) or straight after the prompt.
    pub user_vector: UserVectorAt,
    pub top_k: usize,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        Self {
            generate: GenerateOptions::default(),
            user_vector: UserVectorAt::AfterReasoning,
            top_k: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetRank {
    pub item_id: String,
    /// 1-based rank among unmasked items; `None` when the target is in the history.
    pub rank: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecTiming {
    #[serde(flatten)]
    pub generation: Timings,
    pub scoring_secs: f64,
    pub total_secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub prompt: String,
    /// Set when the prompt shows only the latest part of the history.
    pub history_cut: Option<super::context::HistoryCut>,
    pub reasoning: String,
    pub reasoning_tokens: usize,
    pub stop: Option<StopReason>,
    pub top: Vec<RankedItem>,
    pub target: Option<TargetRank>,
    pub timing: RecTiming,
}

/// Recommend for one checked history; with a target, report where it lands.
pub fn recommend(
    encoder: &UserEncoder<'_>,
    table: &ItemTable,
    history: &UserHistory,
    opts: &RecommendOptions,
    on_event: &mut dyn FnMut(GenEvent),
    cancel: Option<&AtomicBool>,
) -> Result<Recommendation, RecError> {
    let start = Instant::now();
    let budget = match opts.user_vector {
        UserVectorAt::AfterReasoning => opts.generate.max_new_tokens,
        UserVectorAt::AfterPrompt => 0,
    };
    let prompt = encoder.prompt(history, budget)?;
    let (reasoning, reasoning_tokens, stop, user_vector, generation) =
        if opts.user_vector == UserVectorAt::AfterReasoning {
            let (mut chains, timings) = encoder.reason(
                std::slice::from_ref(&prompt),
                1,
                &opts.generate,
                on_event,
                cancel,
            )?;
            let chain = chains
                .pop()
                .ok_or_else(|| ModelError::Input("generation returned no chain".into()))?;
            (
                chain.text,
                chain.sampled_tokens,
                Some(chain.stop),
                chain.user_vector,
                timings,
            )
        } else {
            let t = Instant::now();
            let v = encoder
                .answer_now(std::slice::from_ref(&prompt), 1)?
                .pop()
                .unwrap_or_default();
            let secs = t.elapsed().as_secs_f64();
            let timings = Timings {
                prompt_tokens: encoder.answer_ids(&prompt)?.len(),
                prefill_secs: secs,
                first_token_secs: secs,
                ..Default::default()
            };
            (String::new(), 0, None, v, timings)
        };
    let t_score = Instant::now();
    let target = history.target_id().map(|t| TargetRank {
        item_id: t.to_string(),
        rank: None,
    });
    let (top, target) = if user_vector.is_empty() {
        // Cancelled: no user vector, nothing to rank.
        (Vec::new(), target)
    } else {
        let ranking = encoder
            .rank(table, &[user_vector], &[history], opts.top_k)?
            .pop()
            .ok_or_else(|| ModelError::Input("ranking returned nothing".into()))?;
        let target = target.map(|t| TargetRank {
            rank: ranking.target_rank,
            ..t
        });
        (ranking.top, target)
    };
    Ok(Recommendation {
        prompt: prompt.text,
        history_cut: prompt.cut,
        reasoning,
        reasoning_tokens,
        stop,
        top,
        target,
        timing: RecTiming {
            generation,
            scoring_secs: t_score.elapsed().as_secs_f64(),
            total_secs: start.elapsed().as_secs_f64(),
        },
    })
}
