//! Most popular: every item scored by how often it occurs among the train split's
//! interactions (each user's train sequence, histories and targets deduplicated, so an
//! interaction counts once however many examples show it). The same for every user;
//! the history is masked and ties fall to the catalogue order like every method.

use super::user_sequences;
use crate::data::{Catalog, Example};
use crate::eval::scorer::{Scored, Scorer};
use crate::eval::EvalError;

#[derive(Debug, Clone)]
pub struct Popularity {
    /// Interaction count per catalogue position.
    pub counts: Vec<u32>,
}

impl Popularity {
    pub fn from_train(train: &[Example], catalog: &Catalog) -> Self {
        let mut counts = vec![0u32; catalog.len()];
        for (_, seq) in user_sequences(train, catalog) {
            for i in seq {
                if let Some(p) = catalog.position(&i.item_id) {
                    counts[p] += 1;
                }
            }
        }
        Self { counts }
    }
}

impl Scorer for Popularity {
    fn score(&mut self, examples: &[&Example]) -> Result<Vec<Scored>, EvalError> {
        let scores: Vec<f32> = self.counts.iter().map(|&c| c as f32).collect();
        Ok(examples
            .iter()
            .map(|_| Scored::plain(scores.clone()))
            .collect())
    }
}
