//! The records of a prepared data set: catalogue items, interactions and examples.
//! These are exactly the lines of `items.jsonl` and `{train,valid,test}.jsonl`.

use serde::{Deserialize, Serialize};

/// One catalogue item (`items.jsonl`). Optional fields are whatever the source has;
/// the item prompt prints the ones that are present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub item_id: String,
    pub title: String,
    /// Domain key, e.g. "movies" or an Amazon category such as "Musical_Instruments".
    pub domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub genres: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_rating: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One rated interaction with an item: rating out of 5, Unix time in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub item_id: String,
    pub rating: f32,
    pub timestamp: i64,
}

/// One example of SPEC §3: a user's up-to-20 previous interactions, oldest first, and
/// the interaction that follows them (the target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub user_id: String,
    pub history: Vec<Interaction>,
    pub target: Interaction,
}
