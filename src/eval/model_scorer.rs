//! R²ec as a `Scorer` (SPEC §1, §4): a batch of user prompts, greedy reasoning chains
//! generated together (`generate_batch`), h_T of each chain scored against the item
//! table in one pass (`batch_user_scores`). Without reasoning, h_T is read straight
//! after the prompt and `<answer>` (the "w/o reasoning" scoring of SPEC §4).

use super::scorer::{Reasoning, Scored, Scorer};
use super::EvalError;
use crate::data::chat_template::Message;
use crate::data::prompt::{user_prompt_text, ANSWER_TAG};
use crate::data::{Catalog, Domain, Example};
use crate::model::generate::{generate_batch, GenerateOptions, GenerateRequest};
use crate::model::loaded::LoadedModel;
use crate::rec::{batch_user_scores, ItemTable, UserVectorAt, TAU};

pub struct ModelScorer<'a> {
    pub model: &'a LoadedModel,
    pub table: &'a ItemTable,
    pub catalog: &'a Catalog,
    pub domain: Domain,
    pub generate: GenerateOptions,
    pub user_vector: UserVectorAt,
    /// History items shown in the prompt.
    pub window: usize,
    /// Catalogue position of each table row (`None`: the row is not in the catalogue).
    row_to_catalog: Vec<Option<usize>>,
}

impl<'a> ModelScorer<'a> {
    pub fn new(
        model: &'a LoadedModel,
        table: &'a ItemTable,
        catalog: &'a Catalog,
        domain: Domain,
        generate: GenerateOptions,
        user_vector: UserVectorAt,
        window: usize,
    ) -> Self {
        let row_to_catalog = table.ids().iter().map(|id| catalog.position(id)).collect();
        Self {
            model,
            table,
            catalog,
            domain,
            generate,
            user_vector,
            window,
            row_to_catalog,
        }
    }

    fn prompt(&self, ex: &Example) -> Result<String, EvalError> {
        let text = user_prompt_text(
            &self.domain,
            &ex.history,
            ex.target.timestamp,
            self.catalog,
            self.window,
        )?;
        Ok(self.model.template.render(&[Message::user(text)], true))
    }

    /// Table scores into catalogue order; items without a row can never be recommended.
    fn to_catalog(&self, table_scores: Vec<f32>) -> Vec<f32> {
        let mut out = vec![f32::NEG_INFINITY; self.catalog.len()];
        for (row, s) in table_scores.into_iter().enumerate() {
            if let Some(Some(pos)) = self.row_to_catalog.get(row) {
                out[*pos] = s;
            }
        }
        out
    }
}

impl Scorer for ModelScorer<'_> {
    fn score(&mut self, examples: &[&Example]) -> Result<Vec<Scored>, EvalError> {
        let prompts = examples
            .iter()
            .map(|ex| self.prompt(ex))
            .collect::<Result<Vec<_>, _>>()?;
        let (user_vectors, reasoning): (Vec<Vec<f32>>, Vec<Option<Reasoning>>) =
            match self.user_vector {
                UserVectorAt::AfterReasoning => {
                    let requests = prompts
                        .iter()
                        .map(|p| {
                            Ok(GenerateRequest {
                                prompt_ids: self.model.tokenizer.encode(p)?,
                                samples: 1,
                            })
                        })
                        .collect::<Result<Vec<_>, crate::model::error::ModelError>>()?;
                    let (chains, _) = generate_batch(
                        &self.model.backbone,
                        &self.model.tokenizer,
                        &requests,
                        &self.generate,
                        &mut |_| {},
                        None,
                    )?;
                    let mut slots: Vec<Option<(Vec<f32>, Reasoning)>> = vec![None; examples.len()];
                    for c in chains {
                        if let Some(slot) = slots.get_mut(c.request) {
                            let r = Reasoning {
                                text: c.text,
                                tokens: c.sampled_tokens,
                                stop: Some(c.stop),
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
                    (vs, rs)
                }
                UserVectorAt::AfterPrompt => {
                    let ids = prompts
                        .iter()
                        .map(|p| self.model.tokenizer.encode(&format!("{p}{ANSWER_TAG}")))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(crate::model::error::ModelError::from)?;
                    let vs = self.model.last_hidden(&ids, ids.len().max(1))?;
                    let n = vs.len();
                    (vs, vec![None; n])
                }
            };
        let scores = batch_user_scores(self.table, &user_vectors, TAU)?;
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
