//! The rec_head of R²ec (SPEC §1–2, arXiv 2505.16994): the item table H_V built by the
//! backbone from its own item prompts, its on-disk cache, and scoring a user vector h_T
//! against every row (cos / tau, history masked, top-K).

pub mod cache;
pub mod centre;
pub mod context;
pub mod error;
pub mod item_table;
pub mod items;
pub mod pipeline;
pub mod rank;
pub mod ranking;
pub mod recommender;
pub mod score;
pub mod trace;

pub use cache::{CacheDtype, CacheError, CacheKey, CacheStatus, ItemCache, RebuildReason};
pub use centre::{Centre, CentreError};
pub use error::RecError;
pub use item_table::{ItemEncoder, ItemTable, TableError};
pub use score::{batch_user_scores, mask_history, top_items, user_scores, ScoreError};

/// Temperature of the score s(v) = cos(h_T, H_V[v]) / tau (the reference's default).
pub const TAU: f32 = 0.02;

/// Where the user vector h_T is read (SPEC §1, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserVectorAt {
    /// R²ec: at the last token of the reasoning chain (the `<answer>` it emits).
    #[default]
    AfterReasoning,
    /// The "w/o reasoning" ablation: nothing generated; `<answer>` follows the prompt
    /// directly (as in the item prompt) and h_T is read there.
    AfterPrompt,
}

#[cfg(test)]
pub(crate) mod testing;
