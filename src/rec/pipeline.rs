//! The one R²ec pipeline for users (SPEC §1–2, §4): a checked history becomes the user
//! prompt (window, context cut and its notice, chat template); the model writes G
//! reasoning chains from it, or none for the "w/o reasoning" ablation; h_T is read at
//! the answer position (and after every step when asked, for the rank trace); and the
//! user vectors are ranked against an item table with the history masked.
//!
//! The CLI's `recommend`, the TUI's jobs, evaluation's model scorer, RecPO's rollouts and
//! the trainer's evaluation all go through [`UserEncoder`], so a change to how the
//! prompt is cut, how h_T is read or how an adapter applies is made here once.

use std::sync::atomic::AtomicBool;

use super::context::{fit_prompt, HistoryCut};
use super::error::RecError;
use super::item_table::ItemTable;
use super::ranking::{masked_rows, Ranking};
use super::score::batch_user_scores;
use super::TAU;
use crate::data::prepared::PreparedDataset;
use crate::data::prompt::HISTORY_WINDOW;
use crate::data::UserHistory;
use crate::model::backbone::LinearHook;
use crate::model::chat_template::ANSWER_TAG;
use crate::model::error::ModelError;
use crate::model::generate::{
    generate_batch_reusing, Chain, GenEvent, GenerateOptions, GenerateRequest, Timings,
};
use crate::model::loaded::LoadedModel;
use crate::model::lower::LowerStates;

/// A rendered user prompt: its text and token ids, and the cut when the prompt shows
/// only the latest part of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPrompt {
    pub text: String,
    pub ids: Vec<u32>,
    pub cut: Option<HistoryCut>,
}

/// Users to vectors to rankings, over one loaded model and data set.
pub struct UserEncoder<'a> {
    model: &'a LoadedModel,
    data: &'a PreparedDataset,
    /// An adapter on the fast path (RecPO's current policy); `None`: the model as loaded,
    /// with its own adapter if it has one.
    hook: Option<&'a dyn LinearHook>,
    /// The base model's lower layers kept across calls (the trainer's probe).
    lower: Option<&'a LowerStates>,
    window: usize,
    tau: f32,
}

impl<'a> UserEncoder<'a> {
    /// The model as loaded, SPEC §2's history window, the reference's tau.
    pub fn new(model: &'a LoadedModel, data: &'a PreparedDataset) -> Self {
        Self {
            model,
            data,
            hook: None,
            lower: None,
            window: HISTORY_WINDOW,
            tau: TAU,
        }
    }

    /// Generate and read h_T through `hook` (the policy being trained).
    pub fn with_hook(mut self, hook: Option<&'a dyn LinearHook>) -> Self {
        self.hook = hook;
        self
    }

    /// Keep the base model's lower layers of answer-now prompts in `lower` and reuse
    /// them when the same batch comes again (see `model::lower`).
    pub fn with_lower(mut self, lower: Option<&'a LowerStates>) -> Self {
        self.lower = lower;
        self
    }

    /// Show at most the last `window` interactions.
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = window;
        self
    }

    /// Score with cos / `tau`.
    pub fn with_tau(mut self, tau: f32) -> Self {
        self.tau = tau;
        self
    }

    pub fn model(&self) -> &'a LoadedModel {
        self.model
    }

    pub fn data(&self) -> &'a PreparedDataset {
        self.data
    }

    /// The user prompt of `history`, cut to the window and so that `budget` generated
    /// tokens and `<answer>` still fit the model's context.
    pub fn prompt(&self, history: &UserHistory, budget: usize) -> Result<UserPrompt, RecError> {
        let (text, ids, cut) = fit_prompt(
            self.model,
            self.data,
            history.items(),
            history.now(),
            self.window,
            budget,
        )?;
        Ok(UserPrompt { text, ids, cut })
    }

    /// The prompt followed directly by `<answer>`, as token ids: where h_T is read
    /// without reasoning, exactly as for item prompts. The text is tokenized whole, so
    /// the ids are those the model sees for that text.
    pub fn answer_ids(&self, prompt: &UserPrompt) -> Result<Vec<u32>, RecError> {
        Ok(self
            .model
            .tokenizer
            .encode(&format!("{}{ANSWER_TAG}", prompt.text))
            .map_err(ModelError::from)?)
    }

    /// `samples` chains for each prompt, request-major; each chain's h_T is its
    /// `user_vector` (with `opts.keep_step_hidden`, also after every step).
    pub fn reason(
        &self,
        prompts: &[UserPrompt],
        samples: usize,
        opts: &GenerateOptions,
        on_event: &mut dyn FnMut(GenEvent),
        cancel: Option<&AtomicBool>,
    ) -> Result<(Vec<Chain>, Timings), RecError> {
        let requests: Vec<GenerateRequest> = prompts
            .iter()
            .map(|p| GenerateRequest {
                prompt_ids: p.ids.clone(),
                samples,
            })
            .collect();
        Ok(generate_batch_reusing(
            &self.model.backbone,
            self.hook,
            self.lower,
            &self.model.tokenizer,
            &requests,
            opts,
            on_event,
            cancel,
        )?)
    }

    /// h_T without reasoning: the hidden state at `<answer>` right after each prompt,
    /// `batch` prompts per forward pass.
    pub fn answer_now(
        &self,
        prompts: &[UserPrompt],
        batch: usize,
    ) -> Result<Vec<Vec<f32>>, RecError> {
        let ids = prompts
            .iter()
            .map(|p| self.answer_ids(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .model
            .last_hidden_reusing(&ids, batch, self.hook, self.lower)?)
    }

    /// cos(h_T, row) / tau of every table row, one vector per user (nothing masked).
    pub fn scores<V: AsRef<[f32]> + Sync>(
        &self,
        table: &ItemTable,
        user_vectors: &[V],
    ) -> Result<Vec<Vec<f32>>, RecError> {
        Ok(batch_user_scores(table, user_vectors, self.tau)?)
    }

    /// Each user vector ranked against `table` with its history masked, the top `k`
    /// with titles, and the target's rank.
    pub fn rank<V: AsRef<[f32]> + Sync>(
        &self,
        table: &ItemTable,
        user_vectors: &[V],
        histories: &[&UserHistory],
        k: usize,
    ) -> Result<Vec<Ranking>, RecError> {
        if user_vectors.len() != histories.len() {
            return Err(ModelError::Input(format!(
                "{} user vectors for {} histories",
                user_vectors.len(),
                histories.len()
            ))
            .into());
        }
        let scores = self.scores(table, user_vectors)?;
        Ok(scores
            .into_iter()
            .zip(histories)
            .map(|(s, h)| {
                let masked = masked_rows(table, h.items());
                Ranking::from_scores(s, table, &self.data.catalog, &masked, h.target_id(), k)
            })
            .collect())
    }
}
