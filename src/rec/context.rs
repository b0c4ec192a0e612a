//! Fitting a user's history into the prompt. SPEC §2 shows the last `window` (20)
//! interactions; a longer history is cut to them. The prompt, the reasoning it may
//! generate and the `<answer>` tag must also fit the model's context window
//! (`max_position_embeddings`): where they would not, older items are dropped until they
//! do. Either cut is returned as a [`HistoryCut`] so the user is told, never silently.

use std::fmt;

use serde::Serialize;

use super::error::RecError;
use crate::data::prompt::user_prompt_text;
use crate::data::{Interaction, PreparedDataset};
use crate::model::chat_template::Message;
use crate::model::error::ModelError;
use crate::model::loaded::LoadedModel;

/// Tokens kept free beyond the generation budget (the `<answer>` tag and its end).
const SLACK: usize = 8;

/// How much of a history the prompt shows, when not all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HistoryCut {
    /// Interactions given.
    pub given: usize,
    /// The latest ones the prompt shows.
    pub shown: usize,
    /// Set when the context window (not the SPEC window) made the cut.
    pub context_tokens: Option<usize>,
}

impl fmt::Display for HistoryCut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "history of {} items: the prompt shows the last {}",
            self.given, self.shown
        )?;
        match self.context_tokens {
            Some(c) => write!(
                f,
                " (to fit the model's {c}-token context with the reasoning budget)"
            ),
            None => write!(f, " (the history window)"),
        }
    }
}

/// The rendered user prompt for the latest items of `history` that fit, and the cut.
pub fn fit_prompt(
    model: &LoadedModel,
    data: &PreparedDataset,
    history: &[Interaction],
    now: i64,
    window: usize,
    max_new_tokens: usize,
) -> Result<(String, Vec<u32>, Option<HistoryCut>), RecError> {
    let context = model.config().max_position_embeddings;
    let render = |shown: usize| -> Result<(String, Vec<u32>), RecError> {
        let start = history.len() - shown;
        let text = user_prompt_text(&data.domain(), &history[start..], now, &data.catalog, shown)?;
        let prompt = model.template.render(&[Message::user(text)], true);
        let ids = model.tokenizer.encode(&prompt).map_err(ModelError::from)?;
        Ok((prompt, ids))
    };
    let mut shown = history.len().min(window);
    let (mut prompt, mut ids) = render(shown)?;
    let mut tokens = ids.len();
    let mut by_context = false;
    while shown > 1 && tokens + max_new_tokens + SLACK > context {
        // Drop a share of the items at a time: tokens per item are about even.
        let over = tokens + max_new_tokens + SLACK - context;
        let per_item = tokens / shown.max(1);
        shown -= (over / per_item.max(1)).clamp(1, shown - 1);
        (prompt, ids) = render(shown)?;
        tokens = ids.len();
        by_context = true;
    }
    if tokens + max_new_tokens + SLACK > context {
        return Err(ModelError::Input(format!(
            "the prompt with one history item is {tokens} tokens; with {max_new_tokens} new tokens it does not fit the model's {context}-token context: lower --max-new-tokens"
        ))
        .into());
    }
    let cut = (shown < history.len()).then_some(HistoryCut {
        given: history.len(),
        shown,
        context_tokens: by_context.then_some(context),
    });
    Ok((prompt, ids, cut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rec::testing::{paired_dataset, tiny_model, tiny_model_with_context};

    fn history(n: usize) -> Vec<Interaction> {
        (0..n)
            .map(|i| Interaction {
                item_id: format!("m{}", i % 6),
                rating: 4.0,
                timestamp: 1_000_000 + i as i64 * 3600,
            })
            .collect()
    }

    #[test]
    fn a_long_history_is_cut_to_the_window_with_a_notice() {
        let (model, data) = (tiny_model(1), paired_dataset(6, 4, 1));
        let h = history(200);
        let (prompt, _, cut) = fit_prompt(&model, &data, &h, 2_000_000, 20, 16).unwrap();
        let cut = cut.expect("200 items are cut");
        assert_eq!((cut.given, cut.shown, cut.context_tokens), (200, 20, None));
        assert_eq!(
            cut.to_string(),
            "history of 200 items: the prompt shows the last 20 (the history window)"
        );
        // The prompt is the one for the last 20 items exactly.
        let (same, _, none) = fit_prompt(&model, &data, &h[180..], 2_000_000, 20, 16).unwrap();
        assert_eq!((prompt, none), (same, None));
    }

    #[test]
    fn a_prompt_that_would_overflow_the_context_drops_older_items() {
        let (model, data) = (tiny_model(1), paired_dataset(6, 4, 1));
        let h = history(20);
        let (_, _, full) = fit_prompt(&model, &data, &h, 2_000_000, 20, 0).unwrap();
        assert_eq!(full, None);
        let tokens = |m: &LoadedModel, p: &str| m.tokenizer.encode(p).unwrap().len();
        let (p, _, _) = fit_prompt(&model, &data, &h, 2_000_000, 20, 0).unwrap();
        let full_tokens = tokens(&model, &p);
        // A context that holds the prompt only if about half of the items go.
        let budget = 64;
        let context = full_tokens / 2 + budget + SLACK;
        let model = tiny_model_with_context(1, context);
        let (p, _, cut) = fit_prompt(&model, &data, &h, 2_000_000, 20, budget).unwrap();
        let cut = cut.expect("cut to fit the context");
        assert!(cut.shown < 20 && cut.shown >= 1, "{cut:?}");
        assert_eq!(cut.context_tokens, Some(context));
        assert!(tokens(&model, &p) + budget + SLACK <= context);
        assert!(cut.to_string().contains("-token context"), "{cut}");
        // Nothing fits: a clear error, not a prompt the model cannot take.
        let e = fit_prompt(&model, &data, &h, 2_000_000, 20, context).unwrap_err();
        assert!(e.to_string().contains("--max-new-tokens"), "{e}");
    }
}
