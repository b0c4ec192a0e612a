//! Which examples an evaluation trains and tests on. The project's own protocol is
//! SPEC §3's global temporal 80/10/10 split of the prepared data set. Published
//! sequential-recommendation figures (SASRec, BERT4Rec and their successors on ML-1M)
//! use leave-one-out instead: per user, the last interaction is the test target, the
//! one before it the valid target, and everything earlier is training data (Kang &
//! McAuley 2018, §IV-A). A baseline run in that protocol can be set beside those
//! figures; a temporal run cannot.

use crate::data::{Catalog, Example, PreparedDataset};
use crate::eval::baselines::user_sequences;

/// How train, valid and test examples are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// SPEC §3: the prepared data set's global temporal split.
    Temporal,
    /// Per user: last item tested, second to last validated, the rest trained on.
    LeaveOneOut,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Temporal => "temporal",
            Protocol::LeaveOneOut => "leave-one-out",
        }
    }
}

/// Train, valid and test examples of a protocol.
pub struct Splits {
    /// One example per user whose history and target together are the user's training
    /// sequence, so `user_sequences(train)` gives it back whole.
    pub train: Vec<Example>,
    pub valid: Vec<Example>,
    pub test: Vec<Example>,
}

/// Leave-one-out over every user's whole interaction sequence, rebuilt from all three
/// prepared splits (every interaction after a user's first is some example's target).
/// Users with fewer than three interactions are left out, as in the published setups.
/// Histories are kept whole; a model cuts them to its own input length.
pub fn leave_one_out(data: &PreparedDataset) -> Splits {
    let all: Vec<Example> = data
        .train
        .iter()
        .chain(&data.valid)
        .chain(&data.test)
        .cloned()
        .collect();
    leave_one_out_of(&all, &data.catalog)
}

fn leave_one_out_of(examples: &[Example], catalog: &Catalog) -> Splits {
    let mut splits = Splits {
        train: Vec::new(),
        valid: Vec::new(),
        test: Vec::new(),
    };
    for (user_id, seq) in user_sequences(examples, catalog) {
        let n = seq.len();
        if n < 3 {
            continue;
        }
        let example = |end: usize| Example {
            user_id: user_id.clone(),
            history: seq[..end].to_vec(),
            target: seq[end].clone(),
        };
        splits.train.push(example(n - 3));
        splits.valid.push(example(n - 2));
        splits.test.push(example(n - 1));
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Interaction, Item};

    fn inter(item: &str, t: i64) -> Interaction {
        Interaction {
            item_id: item.into(),
            rating: 4.0,
            timestamp: t,
        }
    }

    #[test]
    fn last_item_is_test_second_to_last_valid() {
        let items: Vec<Item> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|id| Item {
                item_id: id.to_string(),
                title: format!("title {id}"),
                domain: "movies".into(),
                year: None,
                genres: Vec::new(),
                average_rating: None,
                rating_number: None,
                description: None,
            })
            .collect();
        let catalog = Catalog::new(items);
        // User u: a b c d e over five examples of a window-2 prepared set; user v has two
        // interactions only and is left out.
        let seq: Vec<Interaction> = ["a", "b", "c", "d", "e"]
            .iter()
            .enumerate()
            .map(|(t, id)| inter(id, t as i64))
            .collect();
        let mut examples: Vec<Example> = (1usize..5)
            .map(|k| Example {
                user_id: "u".into(),
                history: seq[k.saturating_sub(2)..k].to_vec(),
                target: seq[k].clone(),
            })
            .collect();
        examples.push(Example {
            user_id: "v".into(),
            history: vec![inter("a", 0)],
            target: inter("b", 1),
        });
        let s = leave_one_out_of(&examples, &catalog);
        assert_eq!(s.test.len(), 1);
        let ids = |v: &[Interaction]| v.iter().map(|i| i.item_id.clone()).collect::<Vec<_>>();
        assert_eq!(s.test[0].target.item_id, "e");
        assert_eq!(ids(&s.test[0].history), ["a", "b", "c", "d"]);
        assert_eq!(s.valid[0].target.item_id, "d");
        assert_eq!(ids(&s.valid[0].history), ["a", "b", "c"]);
        assert_eq!(ids(&s.train[0].history), ["a", "b"]);
        assert_eq!(s.train[0].target.item_id, "c");
        let back = user_sequences(&s.train, &catalog);
        assert_eq!(ids(&back[0].1), ["a", "b", "c"]);
    }
}
