//! One ranking of the whole catalogue for a user vector (SPEC §1, §4): scores of every
//! row (cos / tau), the history masked to -inf, the top-K with titles, and where the
//! target landed; and how items moved between two rankings (with versus without
//! reasoning, before and after an edit). Every caller ranks through this one type.

use serde::Serialize;

use super::item_table::ItemTable;
use super::rank::{rank_of_target, top_k};
use super::score::{mask_history, user_scores, ScoreError};
use super::TAU;
use crate::data::{Catalog, Interaction};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankedItem {
    /// Row of the item table (= catalogue position).
    #[serde(skip)]
    pub pos: usize,
    pub item_id: String,
    pub title: String,
    pub score: f32,
}

/// A full ranking of the catalogue for one user vector: scores of every row (history
/// masked to -inf), the top-K, and where the target landed.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub scores: Vec<f32>,
    pub masked: Vec<usize>,
    pub top: Vec<RankedItem>,
    /// Table row of the target, when there is one and it is in the table.
    pub target_pos: Option<usize>,
    /// 1-based rank of the target; `None` when masked or absent.
    pub target_rank: Option<usize>,
}

impl Ranking {
    pub fn from_scores(
        mut scores: Vec<f32>,
        table: &ItemTable,
        catalog: &Catalog,
        masked: &[usize],
        target: Option<&str>,
        k: usize,
    ) -> Self {
        mask_history(&mut scores, masked);
        let top = top_k(&scores, k, masked)
            .into_iter()
            .map(|(pos, score)| {
                let item_id = table.ids()[pos].clone();
                let title = catalog
                    .get(&item_id)
                    .map(|i| i.title.clone())
                    .unwrap_or_default();
                RankedItem {
                    pos,
                    item_id,
                    title,
                    score,
                }
            })
            .collect();
        let target_pos = target.and_then(|t| table.position(t));
        let target_rank = target_pos.and_then(|p| rank_of_target(&scores, p, masked));
        Self {
            scores,
            masked: masked.to_vec(),
            top,
            target_pos,
            target_rank,
        }
    }

    /// Score a user vector against the table.
    pub fn of_user_vector(
        table: &ItemTable,
        catalog: &Catalog,
        user_vector: &[f32],
        masked: &[usize],
        target: Option<&str>,
        k: usize,
    ) -> Result<Self, ScoreError> {
        let scores = user_scores(table, user_vector, TAU)?;
        Ok(Self::from_scores(scores, table, catalog, masked, target, k))
    }

    /// 1-based rank of any row under this ranking (`None` when masked).
    pub fn rank_of(&self, pos: usize) -> Option<usize> {
        rank_of_target(&self.scores, pos, &self.masked)
    }
}

/// How one item of the `after` top list moved relative to `before`.
#[derive(Debug, Clone, PartialEq)]
pub struct RankChange {
    pub item: RankedItem,
    pub rank_after: usize,
    /// Rank under `before` (`None` when the item was masked there).
    pub rank_before: Option<usize>,
}

impl RankChange {
    /// Positive when the item moved up.
    pub fn delta(&self) -> Option<i64> {
        self.rank_before.map(|b| b as i64 - self.rank_after as i64)
    }
}

/// The `after` top list, each item with its rank under `before`.
pub fn rank_changes(before: &Ranking, after: &Ranking) -> Vec<RankChange> {
    after
        .top
        .iter()
        .enumerate()
        .map(|(i, it)| RankChange {
            item: it.clone(),
            rank_after: i + 1,
            rank_before: before.rank_of(it.pos),
        })
        .collect()
}

/// Table rows of a history's items (masked when ranking); items without a row are
/// skipped.
pub fn masked_rows(table: &ItemTable, history: &[Interaction]) -> Vec<usize> {
    history
        .iter()
        .filter_map(|h| table.position(&h.item_id))
        .collect()
}
