//! R²ec as a `Scorer` (SPEC §1, §4), through the pipeline: a batch of user prompts,
//! greedy reasoning chains generated together, h_T of each chain scored against the
//! item table in one pass. Without reasoning, h_T is read straight after the prompt and
//! `<answer>` (the "w/o reasoning" scoring of SPEC §4).

use super::health::{repeated_ngram_share, REPEAT_N};
use super::scorer::{Reasoning, Scored, Scorer};
use super::EvalError;
use crate::data::{Catalog, Example, UserHistory};
use crate::model::generate::GenerateOptions;
use crate::rec::pipeline::{UserEncoder, UserPrompt};
use crate::rec::{ItemTable, UserVectorAt};

/// User vectors and, with reasoning, the chain each came from.
type Vectors = (Vec<Vec<f32>>, Vec<Option<Reasoning>>);

pub struct ModelScorer<'a> {
    pub encoder: UserEncoder<'a>,
    pub table: &'a ItemTable,
    pub generate: GenerateOptions,
    pub user_vector: UserVectorAt,
    /// Catalogue position of each table row (`None`: the row is not in the catalogue).
    row_to_catalog: Vec<Option<usize>>,
}

impl<'a> ModelScorer<'a> {
    pub fn new(
        encoder: UserEncoder<'a>,
        table: &'a ItemTable,
        generate: GenerateOptions,
        user_vector: UserVectorAt,
    ) -> Self {
        let catalog = &encoder.data().catalog;
        let row_to_catalog = table.ids().iter().map(|id| catalog.position(id)).collect();
        Self {
            encoder,
            table,
            generate,
            user_vector,
            row_to_catalog,
        }
    }

    fn catalog(&self) -> &Catalog {
        &self.encoder.data().catalog
    }

    /// Table scores into catalogue order; items without a row can never be recommended.
    fn to_catalog(&self, table_scores: Vec<f32>) -> Vec<f32> {
        let mut out = vec![f32::NEG_INFINITY; self.catalog().len()];
        for (row, s) in table_scores.into_iter().enumerate() {
            if let Some(Some(pos)) = self.row_to_catalog.get(row) {
                out[*pos] = s;
            }
        }
        out
    }

    /// h_T after a greedy chain for each prompt, with the chain.
    fn reasoned(
        &self,
        prompts: &[UserPrompt],
        examples: &[&Example],
    ) -> Result<Vectors, EvalError> {
        let (chains, _) = self
            .encoder
            .reason(prompts, 1, &self.generate, &mut |_| {}, None)?;
        let mut slots: Vec<Option<(Vec<f32>, Reasoning)>> = vec![None; examples.len()];
        for c in chains {
            if let Some(slot) = slots.get_mut(c.request) {
                let repeat4 = repeated_ngram_share(c.sampled_ids(), REPEAT_N);
                let r = Reasoning {
                    text: c.text,
                    tokens: c.sampled_tokens,
                    stop: Some(c.stop),
                    repeat4,
                };
                *slot = Some((c.user_vector, r));
            }
        }
        let mut vs = Vec::with_capacity(slots.len());
        let mut rs = Vec::with_capacity(slots.len());
        for (i, slot) in slots.into_iter().enumerate() {
            match slot {
                Some((v, r)) if !v.is_empty() => {
                    vs.push(v);
                    rs.push(Some(r));
                }
                _ => {
                    return Err(EvalError::Input(format!(
                        "no user vector for example of user {}",
                        examples[i].user_id
                    )))
                }
            }
        }
        Ok((vs, rs))
    }
}

impl Scorer for ModelScorer<'_> {
    fn score(&mut self, examples: &[&Example]) -> Result<Vec<Scored>, EvalError> {
        let budget = match self.user_vector {
            UserVectorAt::AfterReasoning => self.generate.max_new_tokens,
            UserVectorAt::AfterPrompt => 0,
        };
        let prompts = examples
            .iter()
            .map(|ex| {
                let history = UserHistory::of_example(ex, self.catalog())?;
                Ok(self.encoder.prompt(&history, budget)?)
            })
            .collect::<Result<Vec<_>, EvalError>>()?;
        let (user_vectors, reasoning) = match self.user_vector {
            UserVectorAt::AfterReasoning => self.reasoned(&prompts, examples)?,
            UserVectorAt::AfterPrompt => {
                let vs = self.encoder.answer_now(&prompts, prompts.len().max(1))?;
                let n = vs.len();
                (vs, vec![None; n])
            }
        };
        let scores = self.encoder.scores(self.table, &user_vectors)?;
        Ok(scores
            .into_iter()
            .zip(reasoning)
            .map(|(s, reasoning)| Scored {
                scores: self.to_catalog(s),
                reasoning,
            })
            .collect())
    }
}
