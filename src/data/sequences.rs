//! Per-user interaction sequences, the common form every raw reader produces before the
//! example protocol of SPEC §3 runs: users in order of first appearance in the source
//! file, each user's interactions sorted by time (ties keep file order).

use std::collections::{HashMap, HashSet};

use super::types::{Interaction, Item};

/// One user's interactions, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSequence {
    pub user_id: String,
    pub interactions: Vec<Interaction>,
}

/// What a raw reader hands to preparation: the catalogue and the user sequences.
#[derive(Debug, Clone)]
pub struct SourceData {
    /// Catalogue items in source order, only those some interaction references.
    pub items: Vec<Item>,
    pub users: Vec<UserSequence>,
    /// Items the source's item file lists, referenced or not.
    pub items_in_source: usize,
    /// Interaction rows the source held before any filtering.
    pub interactions_in_source: usize,
    /// The Amazon time window finally used, `[start, end)` in Unix seconds.
    pub window: Option<(i64, i64)>,
}

impl SourceData {
    pub fn interactions(&self) -> usize {
        self.users.iter().map(|u| u.interactions.len()).sum()
    }
}

/// Keep only the items that some interaction references: the catalogue is what can be
/// recommended, and an item nobody interacted with can be neither target nor history.
pub fn referenced_items(items: Vec<Item>, users: &[UserSequence]) -> Vec<Item> {
    let used: HashSet<&str> = users
        .iter()
        .flat_map(|u| u.interactions.iter().map(|i| i.item_id.as_str()))
        .collect();
    items
        .into_iter()
        .filter(|it| used.contains(it.item_id.as_str()))
        .collect()
}

/// Groups interactions by user as they are read.
#[derive(Debug, Default)]
pub struct SequenceBuilder {
    index: HashMap<String, usize>,
    users: Vec<UserSequence>,
}

impl SequenceBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, user_id: &str, interaction: Interaction) {
        let i = match self.index.get(user_id) {
            Some(&i) => i,
            None => {
                self.index.insert(user_id.to_string(), self.users.len());
                self.users.push(UserSequence {
                    user_id: user_id.to_string(),
                    interactions: Vec::new(),
                });
                self.users.len() - 1
            }
        };
        self.users[i].interactions.push(interaction);
    }

    /// Users in order of first appearance, each sorted by time with a stable sort so that
    /// equal timestamps keep their file order.
    pub fn finish(mut self) -> Vec<UserSequence> {
        for u in &mut self.users {
            u.interactions.sort_by_key(|i| i.timestamp);
        }
        self.users
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(item: &str, t: i64) -> Interaction {
        Interaction {
            item_id: item.into(),
            rating: 4.0,
            timestamp: t,
        }
    }

    #[test]
    fn first_appearance_order_and_stable_time_sort() {
        let mut b = SequenceBuilder::new();
        b.push("u2", it("a", 5));
        b.push("u1", it("b", 3));
        b.push("u2", it("c", 1));
        b.push("u2", it("d", 5));
        b.push("u2", it("e", 1));
        let users = b.finish();
        assert_eq!(users[0].user_id, "u2");
        assert_eq!(users[1].user_id, "u1");
        let order: Vec<&str> = users[0]
            .interactions
            .iter()
            .map(|i| i.item_id.as_str())
            .collect();
        assert_eq!(order, ["c", "e", "a", "d"]);
    }

    #[test]
    fn unreferenced_items_are_dropped_in_order() {
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
        let users = vec![UserSequence {
            user_id: "u".into(),
            interactions: vec![it("z", 1), it("x", 2)],
        }];
        let kept = referenced_items(vec![item("x"), item("y"), item("z")], &users);
        let ids: Vec<&str> = kept.iter().map(|i| i.item_id.as_str()).collect();
        assert_eq!(ids, ["x", "z"]);
    }
}
