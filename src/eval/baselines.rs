//! The paper's non-LLM baselines, as `Scorer`s: most popular, and SASRec trained with
//! full-softmax cross-entropy.

pub mod popular;
pub mod sasrec;

pub use popular::Popularity;
pub use sasrec::{SasRec, SasRecConfig};

use std::collections::HashMap;

use crate::data::{Catalog, Example, Interaction};

/// Each user's interactions seen in `examples` (histories and targets), deduplicated by
/// (item, time) and in time order: the train split's sequences, rebuilt from its
/// examples. Items outside the catalogue are left out.
pub fn user_sequences(examples: &[Example], catalog: &Catalog) -> Vec<(String, Vec<Interaction>)> {
    let mut by_user: HashMap<&str, Vec<&Interaction>> = HashMap::new();
    for ex in examples {
        let seq = by_user.entry(ex.user_id.as_str()).or_default();
        seq.extend(ex.history.iter());
        seq.push(&ex.target);
    }
    let mut out: Vec<(String, Vec<Interaction>)> = by_user
        .into_iter()
        .map(|(user, seq)| {
            let mut seen = std::collections::HashSet::new();
            let mut s: Vec<Interaction> = seq
                .into_iter()
                .filter(|i| catalog.position(&i.item_id).is_some())
                .filter(|i| seen.insert((i.item_id.clone(), i.timestamp)))
                .cloned()
                .collect();
            // Stable: equal times keep the order the examples give them.
            s.sort_by_key(|i| i.timestamp);
            (user.to_string(), s)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Item;

    #[test]
    fn sequences_merge_histories_and_targets() {
        let item = |id: &str| Item {
            item_id: id.into(),
            title: id.into(),
            domain: "movies".into(),
            year: None,
            genres: vec![],
            average_rating: None,
            rating_number: None,
            description: None,
        };
        let catalog = Catalog::new(vec![item("a"), item("b"), item("c")]);
        let it = |id: &str, t: i64| Interaction {
            item_id: id.into(),
            rating: 4.0,
            timestamp: t,
        };
        let ex = |hist: Vec<Interaction>, target: Interaction| Example {
            user_id: "u".into(),
            history: hist,
            target,
        };
        let train = vec![
            ex(vec![it("a", 1)], it("b", 2)),
            ex(vec![it("a", 1), it("b", 2)], it("c", 3)),
        ];
        let seqs = user_sequences(&train, &catalog);
        assert_eq!(seqs.len(), 1);
        let ids: Vec<&str> = seqs[0].1.iter().map(|i| i.item_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }
}
