//! What every evaluated method provides: a score for each catalogue item given an
//! example's history. The R²ec model, most-popular and SASRec all implement `Scorer`,
//! so ranking, masking, metrics and reports are shared and compared like for like.

use serde::Serialize;

use super::EvalError;
use crate::data::Example;
use crate::model::generate::StopReason;

/// The reasoning chain behind a score, for methods that write one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reasoning {
    pub text: String,
    /// Tokens the model sampled (forced `<answer>` tokens excluded).
    pub tokens: usize,
    pub stop: Option<StopReason>,
    /// Share of the chain's 4-grams of sampled tokens that already occurred in it
    /// (`eval::health`): near 1 for a chain that loops on one line.
    pub repeat4: f64,
}

/// One example's scores, indexed by catalogue position (history not yet masked).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub scores: Vec<f32>,
    pub reasoning: Option<Reasoning>,
}

impl Scored {
    pub fn plain(scores: Vec<f32>) -> Self {
        Self {
            scores,
            reasoning: None,
        }
    }
}

pub trait Scorer {
    /// Scores for each example, in order; one `Scored` per example, each as long as the
    /// catalogue.
    fn score(&mut self, examples: &[&Example]) -> Result<Vec<Scored>, EvalError>;
}
