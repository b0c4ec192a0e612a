//! Amazon Reviews 2023 (the paper's data): a rating-only review CSV
//! (`user_id,parent_asin,rating,timestamp`, time in milliseconds) and the category's
//! meta JSONL, each plain or gzip. Rows are cut to a time window and K-core filtered
//! as SPEC §3 says before they become user sequences.
//!
//! Data: <https://amazon-reviews-2023.github.io/>; the window and K-core rules follow the
//! R²ec reference preprocessing (arXiv 2505.16994, §5.1).

mod filter;
mod meta;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::DataError;
use super::lines::{for_each_line, utf8};
use super::sequences::{SequenceBuilder, SourceData};
use super::types::Interaction;

pub use filter::{k_core, time_window, WINDOW_END, WINDOW_START};

/// Items the time window must hold before it stops widening (SPEC §3).
pub const DEFAULT_MIN_ITEMS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct AmazonOptions {
    pub reviews: PathBuf,
    pub meta: PathBuf,
    /// The category, e.g. `Musical_Instruments`; it is the items' domain key.
    pub category: String,
    pub min_items: usize,
    /// 0 (the default) or 1 leaves the data as it is.
    pub k_core: usize,
}

/// One review row, users and items interned in order of first appearance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Review {
    pub user: u32,
    pub item: u32,
    pub rating: f32,
    pub timestamp: i64,
}

/// The review CSV, interned.
#[derive(Debug, Default)]
pub struct Reviews {
    pub rows: Vec<Review>,
    pub users: Vec<String>,
    pub items: Vec<String>,
    /// The line where each item first appears, for errors about it.
    pub item_lines: Vec<usize>,
}

pub fn read_amazon(opts: &AmazonOptions) -> Result<SourceData, DataError> {
    let reviews = read_reviews(&opts.reviews)?;
    let mut alive = vec![true; reviews.rows.len()];
    let window = time_window(&reviews.rows, &mut alive, opts.min_items);
    k_core(&reviews, &mut alive, opts.k_core);

    let mut builder = SequenceBuilder::new();
    let mut needed: HashMap<&str, usize> = HashMap::new();
    for (row, _) in reviews.rows.iter().zip(&alive).filter(|(_, &a)| a) {
        let item_id = &reviews.items[row.item as usize];
        needed
            .entry(item_id)
            .or_insert(reviews.item_lines[row.item as usize]);
        builder.push(
            &reviews.users[row.user as usize],
            Interaction {
                item_id: item_id.clone(),
                rating: row.rating,
                timestamp: row.timestamp,
            },
        );
    }
    if needed.is_empty() {
        return Err(DataError::file(
            &opts.reviews,
            "no reviews left after the time window and the K-core filter",
        ));
    }
    let items = meta::read_meta(&opts.meta, &opts.category, &needed, &opts.reviews)?;
    Ok(SourceData {
        items,
        users: builder.finish(),
        items_in_source: reviews.items.len(),
        interactions_in_source: reviews.rows.len(),
        window: Some(window),
    })
}

const COLUMNS: [&str; 4] = ["user_id", "parent_asin", "rating", "timestamp"];

/// Read the review CSV; columns are found by header name, extra columns are ignored.
pub fn read_reviews(path: &Path) -> Result<Reviews, DataError> {
    let mut out = Reviews::default();
    let mut user_index: HashMap<String, u32> = HashMap::new();
    let mut item_index: HashMap<String, u32> = HashMap::new();
    let mut header: Option<(Vec<String>, [usize; 4])> = None;
    let mut fields: Vec<String> = Vec::new();
    for_each_line(path, |n, bytes| {
        let at_field = |offset: usize| {
            let i = bytes[..offset].iter().filter(|&&b| b == b',').count();
            Some(match &header {
                Some((names, _)) => names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("column {}", i + 1)),
                None => "header".to_string(),
            })
        };
        let line = utf8(path, n, bytes, at_field)?;
        split_csv(line, &mut fields);
        let Some((names, cols)) = &header else {
            let names: Vec<String> = fields.iter().map(|f| f.trim().to_string()).collect();
            let mut cols = [0usize; 4];
            for (slot, want) in cols.iter_mut().zip(COLUMNS) {
                *slot = names.iter().position(|h| h == want).ok_or_else(|| {
                    DataError::field(
                        path,
                        n,
                        want,
                        format!("missing column (the header has: {})", names.join(", ")),
                    )
                })?;
            }
            header = Some((names, cols));
            return Ok(());
        };
        if fields.len() != names.len() {
            let field = names.get(fields.len()).map_or("(extra)", String::as_str);
            return Err(DataError::field(
                path,
                n,
                field,
                format!(
                    "the line has {} comma-separated fields, the header names {}",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        let value = |c: usize| {
            let v = fields[cols[c]].trim();
            if v.is_empty() {
                Err(DataError::field(path, n, COLUMNS[c], "empty value"))
            } else {
                Ok(v)
            }
        };
        let number = |c: usize| {
            let raw = value(c)?;
            raw.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    DataError::field(
                        path,
                        n,
                        COLUMNS[c],
                        format!("expected a number, found `{}`", super::recbole::shown(raw)),
                    )
                })
        };
        let user = intern(&mut user_index, &mut out.users, value(0)?);
        let before = out.items.len();
        let item = intern(&mut item_index, &mut out.items, value(1)?);
        if out.items.len() > before {
            out.item_lines.push(n);
        }
        let rating = number(2)? as f32;
        let millis = number(3)?;
        if millis.fract() != 0.0 || millis.abs() >= 1e18 {
            return Err(DataError::field(
                path,
                n,
                "timestamp",
                format!("expected Unix milliseconds, found `{millis}`"),
            ));
        }
        let timestamp = (millis as i64).div_euclid(1000);
        out.rows.push(Review {
            user,
            item,
            rating,
            timestamp,
        });
        Ok(())
    })?;
    if header.is_none() {
        return Err(DataError::line(
            path,
            1,
            "empty file: expected the header `user_id,parent_asin,rating,timestamp`",
        ));
    }
    if out.rows.is_empty() {
        return Err(DataError::file(path, "no reviews after the header"));
    }
    Ok(out)
}

fn intern(index: &mut HashMap<String, u32>, names: &mut Vec<String>, name: &str) -> u32 {
    if let Some(&i) = index.get(name) {
        return i;
    }
    let i = names.len() as u32;
    index.insert(name.to_string(), i);
    names.push(name.to_string());
    i
}

/// Split one CSV line on commas outside double quotes; quotes are removed and `""`
/// inside quotes is a literal quote.
fn split_csv(line: &str, out: &mut Vec<String>) {
    out.clear();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes() {
        let mut f = Vec::new();
        split_csv(r#"a,"b,c",,"say ""hi""""#, &mut f);
        assert_eq!(f, ["a", "b,c", "", r#"say "hi""#]);
    }

    #[test]
    fn reviews_by_header_name_with_millisecond_times() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        std::fs::write(&p, "timestamp,rating,parent_asin,user_id\n1664582400123,5.0,B1,U1\n1664582401999,3,B2,U1\n").unwrap();
        let r = read_reviews(&p).unwrap();
        assert_eq!(r.users, ["U1"]);
        assert_eq!(r.items, ["B1", "B2"]);
        assert_eq!(r.item_lines, [2, 3]);
        assert_eq!(
            r.rows[1],
            Review {
                user: 0,
                item: 1,
                rating: 3.0,
                timestamp: 1_664_582_401
            }
        );

        std::fs::write(&p, "user_id,parent_asin,rating\nU,B,5\n").unwrap();
        let err = read_reviews(&p).unwrap_err().to_string();
        assert!(
            err.contains("r.csv:1: field `timestamp`: missing column"),
            "{err}"
        );
        std::fs::write(&p, "user_id,parent_asin,rating,timestamp\nU,B,five,1\n").unwrap();
        let err = read_reviews(&p).unwrap_err().to_string();
        assert!(
            err.ends_with("r.csv:2: field `rating`: expected a number, found `five`"),
            "{err}"
        );
    }
}
