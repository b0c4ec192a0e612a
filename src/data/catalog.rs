//! The catalogue: every item of a data set in `items.jsonl` order, with a lookup from
//! item id to its dense index. The dense index is the item's row in the item table.

use std::collections::HashMap;

use super::types::{Interaction, Item};

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    items: Vec<Item>,
    index: HashMap<String, usize>,
}

impl Catalog {
    /// Build from items; a repeated id keeps its first row (readers reject duplicates).
    pub fn new(items: Vec<Item>) -> Self {
        let mut index = HashMap::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            index.entry(it.item_id.clone()).or_insert(i);
        }
        Self { items, index }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn get(&self, item_id: &str) -> Option<&Item> {
        self.index.get(item_id).map(|&i| &self.items[i])
    }

    /// The item's row in the item table.
    pub fn position(&self, item_id: &str) -> Option<usize> {
        self.index.get(item_id).copied()
    }

    /// Rows of the interactions' items that are in the catalogue, in order: the rows
    /// a user's history masks.
    pub fn positions_of(&self, history: &[Interaction]) -> Vec<usize> {
        history
            .iter()
            .filter_map(|h| self.position(&h.item_id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_skips_unknown_items_and_keeps_order() {
        let item = |id: &str| Item {
            item_id: id.into(),
            title: format!("title {id}"),
            domain: "movies".into(),
            year: None,
            genres: Vec::new(),
            average_rating: None,
            rating_number: None,
            description: None,
        };
        let catalog = Catalog::new(vec![item("a"), item("b"), item("c")]);
        let seen = |id: &str| Interaction {
            item_id: id.into(),
            rating: 4.0,
            timestamp: 0,
        };
        let history = [seen("c"), seen("zz"), seen("a")];
        assert_eq!(catalog.positions_of(&history), vec![2, 0]);
    }
}
