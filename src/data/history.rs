//! A user's history as a prompt may show it, checked once where it enters: every item in
//! the catalogue, every rating on the scale the prompt states ("out of 5"), nothing
//! after the time of the recommendation, and a target (when given) in the catalogue.
//! The pipeline builds prompts only from a [`UserHistory`], so a history from a file,
//! the TUI's editor or a data set cannot reach the model unchecked.
//!
//! A history file (`r2ec recommend --history FILE`) is JSON:
//! `{"history": [{"item_id", "rating", "timestamp"}...], "target"?: {...}, "now"?: T}`.

use std::ops::RangeInclusive;
use std::path::Path;

use super::catalog::Catalog;
use super::error::DataError;
use super::types::{Example, Interaction};

/// Ratings the prompt can show: it says "(out of 5)", and every supported data set rates
/// 1 to 5.
pub const RATING_SCALE: RangeInclusive<f32> = 1.0..=5.0;

/// A history that failed its check: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct HistoryError {
    /// As a user would write it: `history[3].rating`, `target.item_id`.
    pub field: String,
    pub reason: String,
}

impl HistoryError {
    fn new(field: String, reason: String) -> Self {
        Self { field, reason }
    }
}

/// A checked history, the time of the recommendation, and maybe the true next item.
#[derive(Debug, Clone, PartialEq)]
pub struct UserHistory {
    items: Vec<Interaction>,
    now: i64,
    target: Option<Interaction>,
}

impl UserHistory {
    /// Check `items` (oldest first) seen at time `now`, with an optional `target`.
    pub fn new(
        items: Vec<Interaction>,
        now: i64,
        target: Option<Interaction>,
        catalog: &Catalog,
    ) -> Result<Self, HistoryError> {
        if items.is_empty() {
            return Err(HistoryError::new(
                "history".into(),
                "empty; give at least one item".into(),
            ));
        }
        for (i, h) in items.iter().enumerate() {
            check_item(&format!("history[{i}]"), h, catalog)?;
            if h.timestamp > now {
                return Err(HistoryError::new(
                    format!("history[{i}].timestamp"),
                    format!(
                        "{} is after the time of the recommendation ({now})",
                        h.timestamp
                    ),
                ));
            }
        }
        if let Some(t) = &target {
            if catalog.get(&t.item_id).is_none() {
                return Err(HistoryError::new(
                    "target.item_id".into(),
                    format!("item `{}` is not in the catalogue", t.item_id),
                ));
            }
        }
        Ok(Self { items, now, target })
    }

    /// An example of a data set: its history, seen when its target happened.
    pub fn of_example(example: &Example, catalog: &Catalog) -> Result<Self, HistoryError> {
        Self::new(
            example.history.clone(),
            example.target.timestamp,
            Some(example.target.clone()),
            catalog,
        )
    }

    /// The interactions, oldest first.
    pub fn items(&self) -> &[Interaction] {
        &self.items
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    pub fn target(&self) -> Option<&Interaction> {
        self.target.as_ref()
    }

    pub fn target_id(&self) -> Option<&str> {
        self.target.as_ref().map(|t| t.item_id.as_str())
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryFile {
    #[serde(default)]
    #[allow(dead_code)]
    user_id: Option<String>,
    history: Vec<Interaction>,
    #[serde(default)]
    target: Option<Interaction>,
    /// When the recommendation is made; defaults to the target's time, else the last item's.
    #[serde(default)]
    now: Option<i64>,
}

/// Read a history file into a checked history; every error names the file (and the
/// line and column, or the field).
pub fn read_history_file(path: &Path, catalog: &Catalog) -> Result<UserHistory, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let ok = &e.as_bytes()[..at];
        let line = 1 + ok.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + ok.iter().rev().take_while(|&&b| b != b'\n').count();
        DataError::Other(format!(
            "{}:{line}:{column}: invalid UTF-8 (byte 0x{:02X})",
            path.display(),
            e.as_bytes()[at]
        ))
    })?;
    let file: HistoryFile = serde_json::from_str(&text).map_err(|e| {
        DataError::Other(format!(
            "{}:{}:{}: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let now = file
        .now
        .or(file.target.as_ref().map(|t| t.timestamp))
        .or(file.history.iter().map(|h| h.timestamp).max())
        .unwrap_or(0);
    UserHistory::new(file.history, now, file.target, catalog)
        .map_err(|e| DataError::file(path, e.to_string()))
}

fn check_item(field: &str, h: &Interaction, catalog: &Catalog) -> Result<(), HistoryError> {
    if catalog.get(&h.item_id).is_none() {
        return Err(HistoryError::new(
            format!("{field}.item_id"),
            format!("item `{}` is not in the catalogue", h.item_id),
        ));
    }
    if !RATING_SCALE.contains(&h.rating) {
        return Err(HistoryError::new(
            format!("{field}.rating"),
            format!(
                "{} is outside the rating scale {}-{} (the prompt says \"out of {}\")",
                h.rating,
                RATING_SCALE.start(),
                RATING_SCALE.end(),
                RATING_SCALE.end()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Item;

    fn catalog() -> Catalog {
        let item = |id: &str| Item {
            item_id: id.into(),
            title: format!("Movie {id}"),
            domain: "movies".into(),
            year: None,
            genres: Vec::new(),
            average_rating: None,
            rating_number: None,
            description: None,
        };
        Catalog::new(vec![item("1"), item("2")])
    }

    fn at(id: &str, rating: f32, timestamp: i64) -> Interaction {
        Interaction {
            item_id: id.into(),
            rating,
            timestamp,
        }
    }

    #[test]
    fn a_good_history_passes_and_keeps_its_parts() {
        let h = UserHistory::new(
            vec![at("1", 5.0, 10), at("2", 1.0, 20)],
            20,
            Some(at("2", 4.0, 20)),
            &catalog(),
        )
        .unwrap();
        assert_eq!(
            (h.items().len(), h.now(), h.target_id()),
            (2, 20, Some("2"))
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let c = catalog();
        let err = |items, now, target| UserHistory::new(items, now, target, &c).unwrap_err();
        let e = err(vec![at("1", 5.0, 1), at("2", 99.0, 2)], 10, None);
        assert_eq!(e.field, "history[1].rating");
        assert!(
            e.to_string().contains("99 is outside the rating scale 1-5"),
            "{e}"
        );
        let e = err(vec![at("1", 0.0, 1)], 10, None);
        assert_eq!(e.field, "history[0].rating");
        let e = err(vec![at("1", f32::NAN, 1)], 10, None);
        assert_eq!(e.field, "history[0].rating");
        let e = err(vec![at("1", 3.0, 11)], 10, None);
        assert_eq!(e.field, "history[0].timestamp");
        assert!(
            e.reason
                .contains("after the time of the recommendation (10)"),
            "{e}"
        );
        let e = err(vec![at("9", 3.0, 1)], 10, None);
        assert_eq!(
            e.to_string(),
            "field `history[0].item_id`: item `9` is not in the catalogue"
        );
        let e = err(vec![at("1", 3.0, 1)], 10, Some(at("7", 3.0, 10)));
        assert_eq!(e.field, "target.item_id");
        let e = err(Vec::new(), 10, None);
        assert_eq!(e.field, "history");
    }
}
