//! The catalogue: every item of a data set in `items.jsonl` order, with a lookup from
//! item id to its dense index. The dense index is the item's row in the item table.

use std::collections::HashMap;

use super::types::Item;

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
}
