//! MovieLens (ml-100k, ml-1m) in RecBole's atomic files: `<name>.item` with the movie
//! title, release year and genres, and `<name>.inter` with user, item, rating, time.
//! Columns are read by header name; ml-100k calls the genres `class`, ml-1m `genre`.
//!
//! Data: <https://grouplens.org/datasets/movielens/>, packaged by RecBole
//! (<https://github.com/RUCAIBox/RecBole>, `recbole/dataset_example`).

use std::collections::HashMap;
use std::path::Path;

use super::error::DataError;
use super::recbole::{RecboleTable, Record};
use super::sequences::{referenced_items, SequenceBuilder, SourceData};
use super::types::{Interaction, Item};

/// The domain key of MovieLens items.
pub const DOMAIN: &str = "movies";

/// Read a MovieLens item file and interaction file into sequences and a catalogue.
pub fn read_movielens(inter_path: &Path, item_path: &Path) -> Result<SourceData, DataError> {
    let items = read_items(&RecboleTable::read(item_path)?)?;
    let index: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.item_id.as_str(), i))
        .collect();

    let inter = RecboleTable::read(inter_path)?;
    let user_col = inter.column("user_id")?;
    let item_col = inter.column("item_id")?;
    let rating_col = inter.column("rating")?;
    let time_col = inter.column("timestamp")?;
    let mut builder = SequenceBuilder::new();
    let mut rows = 0usize;
    for rec in inter.records() {
        let rec = rec?;
        let user = rec.text(user_col)?;
        let item = rec.text(item_col)?;
        let Some(&row) = index.get(item) else {
            return Err(rec.error(
                item_col,
                format!("unknown item id `{item}`: not in {}", item_path.display()),
            ));
        };
        let rating = rec.float(rating_col)? as f32;
        let timestamp = rec.seconds(time_col)?;
        let item_id = items[row].item_id.clone();
        builder.push(
            user,
            Interaction {
                item_id,
                rating,
                timestamp,
            },
        );
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::file(
            inter_path,
            "no interactions after the header",
        ));
    }
    drop(index);
    let users = builder.finish();
    let items_in_source = items.len();
    Ok(SourceData {
        items: referenced_items(items, &users),
        users,
        items_in_source,
        interactions_in_source: rows,
        window: None,
    })
}

/// The items of a `.item` file in file order; a repeated id is an error.
fn read_items(table: &RecboleTable) -> Result<Vec<Item>, DataError> {
    let id_col = table.column("item_id")?;
    let title_col = table.column("movie_title")?;
    let year_col = table.optional_column("release_year");
    let genre_col = table
        .optional_column("class")
        .or_else(|| table.optional_column("genre"));
    let mut items = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for rec in table.records() {
        let rec = rec?;
        let item_id = rec.text(id_col)?.to_string();
        if let Some(first) = seen.insert(item_id.clone(), rec.line) {
            return Err(rec.error(id_col, format!("item id `{item_id}` repeats line {first}")));
        }
        let genres = genre_col
            .map(|c| rec.get(c).split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        items.push(Item {
            item_id,
            title: strip_year(rec.text(title_col)?).to_string(),
            domain: DOMAIN.to_string(),
            year: year_col.and_then(|c| year(&rec, c)),
            genres,
            average_rating: None,
            rating_number: None,
            description: None,
        });
    }
    if items.is_empty() {
        // No line number: the file may end right after its header line.
        return Err(DataError::file(table.path(), "no items after the header"));
    }
    Ok(items)
}

/// The release year. Some rows carry a placeholder (ml-100k writes `unkonwn` for one
/// movie); the year is optional item text, so anything that is not a year is left out.
fn year(rec: &Record<'_>, column: usize) -> Option<i32> {
    let v: f64 = rec.get(column).trim().parse().ok()?;
    (v.fract() == 0.0 && (1000.0..=9999.0).contains(&v)).then_some(v as i32)
}

/// "Toy Story (1995)" -> "Toy Story": the year is its own field in the item prompt.
pub fn strip_year(title: &str) -> &str {
    let t = title.trim_end();
    if let Some(open) = t.strip_suffix(')').and_then(|s| s.rfind('(')) {
        let inside = &t[open + 1..t.len() - 1];
        if inside.len() == 4 && inside.bytes().all(|b| b.is_ascii_digit()) {
            let rest = t[..open].trim_end();
            if !rest.is_empty() {
                return rest;
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_a_trailing_year() {
        assert_eq!(strip_year("Toy Story (1995)"), "Toy Story");
        assert_eq!(strip_year("Seven (Se7en) (1995) "), "Seven (Se7en)");
        assert_eq!(strip_year("Seven (Se7en)"), "Seven (Se7en)");
        assert_eq!(strip_year("2001 (abcd)"), "2001 (abcd)");
        assert_eq!(strip_year("(1995)"), "(1995)");
    }

    #[test]
    fn reads_a_tiny_pair_and_rejects_unknown_items() {
        let dir = tempfile::tempdir().unwrap();
        let item = dir.path().join("x.item");
        let inter = dir.path().join("x.inter");
        std::fs::write(
            &item,
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n\
             1\tToy Story (1995)\t1995\tAnimation Comedy\n2\tB\tunknown\t\n3\tNever rated\t1990\tDrama\n",
        )
        .unwrap();
        std::fs::write(
            &inter,
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
             u\t2\t3\t20\nu\t1\t4.5\t10\n",
        )
        .unwrap();
        let data = read_movielens(&inter, &item).unwrap();
        assert_eq!(data.items_in_source, 3);
        assert_eq!(data.items.len(), 2);
        assert_eq!(data.items[0].title, "Toy Story");
        assert_eq!(data.items[0].year, Some(1995));
        assert_eq!(data.items[0].genres, ["Animation", "Comedy"]);
        assert_eq!(data.items[1].year, None);
        let ids: Vec<&str> = data.users[0]
            .interactions
            .iter()
            .map(|i| i.item_id.as_str())
            .collect();
        assert_eq!(ids, ["1", "2"]);

        std::fs::write(
            &inter,
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\nu\t9\t3\t1\n",
        )
        .unwrap();
        let err = read_movielens(&inter, &item).unwrap_err().to_string();
        assert!(
            err.contains("x.inter:2: field `item_id`: unknown item id `9`"),
            "{err}"
        );
    }
}
