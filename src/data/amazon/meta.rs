//! The category's meta JSONL (one product per line, keyed by `parent_asin`): title,
//! average rating, number of ratings, description and categories become catalogue items.
//! Only the products the filtered reviews need are kept.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::data::error::DataError;
use crate::data::lines::{for_each_line, json};
use crate::data::types::Item;

/// The fields read from a meta line; the others (images, videos, details...) are skipped.
#[derive(Debug, Deserialize)]
struct MetaRecord {
    parent_asin: String,
    title: String,
    #[serde(default)]
    average_rating: Option<f32>,
    #[serde(default)]
    rating_number: Option<u64>,
    #[serde(default)]
    description: Option<Description>,
    #[serde(default)]
    categories: Option<Vec<String>>,
}

/// A list of paragraphs in the 2023 release; a plain string is accepted too.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Description {
    Paragraphs(Vec<String>),
    Text(String),
}

impl Description {
    fn joined(self) -> Option<String> {
        let text = match self {
            Description::Paragraphs(p) => p.join(" "),
            Description::Text(t) => t,
        };
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!text.is_empty()).then_some(text)
    }
}

/// Items for the `needed` ids (id -> first review line), in meta-file order. An id the
/// meta file lacks is an error pointing at the review line that first names it.
pub fn read_meta(
    path: &Path,
    category: &str,
    needed: &HashMap<&str, usize>,
    reviews_path: &Path,
) -> Result<Vec<Item>, DataError> {
    let mut items = Vec::with_capacity(needed.len());
    let mut first_line: HashMap<String, usize> = HashMap::with_capacity(needed.len());
    let mut records = 0usize;
    for_each_line(path, |n, line| {
        records += 1;
        let rec: MetaRecord = json(path, n, line)?;
        if !needed.contains_key(rec.parent_asin.as_str()) {
            return Ok(());
        }
        if let Some(first) = first_line.insert(rec.parent_asin.clone(), n) {
            return Err(DataError::field(
                path,
                n,
                "parent_asin",
                format!("item `{}` repeats line {first}", rec.parent_asin),
            ));
        }
        items.push(Item {
            item_id: rec.parent_asin,
            title: rec.title.trim().to_string(),
            domain: category.to_string(),
            year: None,
            genres: rec
                .categories
                .unwrap_or_default()
                .into_iter()
                .filter(|c| !c.trim().is_empty())
                .collect(),
            average_rating: rec.average_rating,
            rating_number: rec.rating_number,
            description: rec.description.and_then(Description::joined),
        });
        Ok(())
    })?;
    if records == 0 {
        return Err(DataError::line(
            path,
            1,
            "empty file: expected one JSON product per line",
        ));
    }
    if items.len() < needed.len() {
        // Report the missing item that the review file names first.
        let (id, line) = needed
            .iter()
            .filter(|(id, _)| !first_line.contains_key(**id))
            .min_by_key(|(_, &line)| line)
            .map(|(id, &line)| (*id, line))
            .unwrap_or(("?", 0));
        return Err(DataError::field(
            reviews_path,
            line,
            "parent_asin",
            format!("unknown item id `{id}`: no record in {}", path.display()),
        ));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_needed_items_in_file_order_and_names_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meta.jsonl");
        std::fs::write(
            &p,
            concat!(
                r#"{"parent_asin":"B2","title":" Strings ","description":["Bright", " tone."],"categories":["Guitars"],"images":[{"x":1}]}"#,
                "\n",
                r#"{"parent_asin":"B9","title":"Unused"}"#,
                "\n",
                r#"{"parent_asin":"B1","title":"Pick","average_rating":4.5,"rating_number":12,"description":[]}"#,
                "\n"
            ),
        )
        .unwrap();
        let reviews = Path::new("r.csv");
        let needed: HashMap<&str, usize> = [("B1", 2), ("B2", 3)].into_iter().collect();
        let items = read_meta(&p, "Musical_Instruments", &needed, reviews).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].item_id, "B2");
        assert_eq!(items[0].title, "Strings");
        assert_eq!(items[0].description.as_deref(), Some("Bright tone."));
        assert_eq!(items[0].genres, ["Guitars"]);
        assert_eq!(items[1].average_rating, Some(4.5));
        assert_eq!(items[1].rating_number, Some(12));
        assert_eq!(items[1].description, None);

        let needed: HashMap<&str, usize> = [("B1", 2), ("B7", 5), ("B8", 4)].into_iter().collect();
        let err = read_meta(&p, "Musical_Instruments", &needed, reviews)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("r.csv:4: field `parent_asin`: unknown item id `B8`"),
            "{err}"
        );
    }
}
