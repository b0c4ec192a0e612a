//! A prepared data set on disk, `datasets/<name>/`: `items.jsonl` (the catalogue),
//! `train.jsonl`, `valid.jsonl`, `test.jsonl` (one [`Example`] per line) and `stats.json`.
//! Writing is all-or-nothing: every file goes to a temporary name and all are renamed
//! only once all are written. Loading checks every example's items against the catalogue.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::catalog::Catalog;
use super::domain::Domain;
use super::error::DataError;
use super::example_lines::ExampleLines;
use super::examples::{ExampleRef, SplitRanges};
use super::lines::{for_each_line, json};
use super::sequences::SourceData;
use super::stats::DatasetStats;
use super::types::{Example, Item};
use crate::util::atomic::AtomicFile;

pub const ITEMS_FILE: &str = "items.jsonl";
pub const STATS_FILE: &str = "stats.json";

/// The three chronological splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Valid,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }

    pub fn file_name(self) -> String {
        format!("{}.jsonl", self.name())
    }
}

/// Write a prepared data set into `dir`. Nothing is renamed into place unless every
/// file was written in full; `stats.json` is renamed last.
pub fn write_prepared(
    dir: &Path,
    data: &SourceData,
    refs: &[ExampleRef],
    ranges: &SplitRanges,
    history_window: usize,
    stats: &DatasetStats,
) -> Result<(), DataError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| DataError::io(path.clone(), e)
    };
    let mut files = Vec::new();

    let path = dir.join(ITEMS_FILE);
    let mut f = AtomicFile::create(&path).map_err(io(&path))?;
    for item in &data.items {
        write_json_line(&mut f, item).map_err(io(&path))?;
    }
    files.push((path, f));

    let lines = ExampleLines::new(&data.users, history_window)
        .map_err(|e| DataError::Other(format!("serializing examples: {e}")))?;
    for (split, range) in Split::ALL
        .into_iter()
        .zip([&ranges.train, &ranges.valid, &ranges.test])
    {
        let path = dir.join(split.file_name());
        let mut f = AtomicFile::create(&path).map_err(io(&path))?;
        for r in &refs[range.clone()] {
            lines.write(&mut f, r).map_err(io(&path))?;
        }
        files.push((path, f));
    }

    let path = dir.join(STATS_FILE);
    let mut f = AtomicFile::create(&path).map_err(io(&path))?;
    let text = serde_json::to_string_pretty(stats).map_err(|e| DataError::io(&path, e.into()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(io(&path))?;
    files.push((path, f));

    for (path, f) in files {
        f.commit().map_err(io(&path))?;
    }
    Ok(())
}

fn write_json_line<T: serde::Serialize>(f: &mut AtomicFile, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *f, value)?;
    f.write_all(b"\n")
}

/// A prepared data set in memory: the catalogue (row order = item table order) and the
/// examples of each split in time order.
#[derive(Debug, Clone)]
pub struct PreparedDataset {
    pub dir: PathBuf,
    pub catalog: Catalog,
    pub train: Vec<Example>,
    pub valid: Vec<Example>,
    pub test: Vec<Example>,
    pub stats: DatasetStats,
}

impl PreparedDataset {
    pub fn load(dir: &Path) -> Result<Self, DataError> {
        if !dir.join(STATS_FILE).is_file() {
            return Err(DataError::file(
                dir,
                "no prepared data set here (run `r2ec data prepare <source>` first)",
            ));
        }
        let stats = read_stats(&dir.join(STATS_FILE))?;
        let catalog = Catalog::new(read_items(&dir.join(ITEMS_FILE))?);
        let train = read_examples(&dir.join(Split::Train.file_name()), &catalog)?;
        let valid = read_examples(&dir.join(Split::Valid.file_name()), &catalog)?;
        let test = read_examples(&dir.join(Split::Test.file_name()), &catalog)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            catalog,
            train,
            valid,
            test,
            stats,
        })
    }

    pub fn split(&self, split: Split) -> &[Example] {
        match split {
            Split::Train => &self.train,
            Split::Valid => &self.valid,
            Split::Test => &self.test,
        }
    }

    /// The prompt wording of this data set's domain.
    pub fn domain(&self) -> Domain {
        Domain::from_key(&self.stats.domain)
    }
}

pub fn read_stats(path: &Path) -> Result<DatasetStats, DataError> {
    let text = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let de = &mut serde_json::Deserializer::from_slice(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        DataError::field(
            path,
            e.inner().line(),
            e.path().to_string(),
            e.inner().to_string(),
        )
    })
}

/// `items.jsonl`; an empty catalogue or a repeated id is an error.
pub fn read_items(path: &Path) -> Result<Vec<Item>, DataError> {
    let mut items: Vec<Item> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for_each_line(path, |n, line| {
        let item: Item = json(path, n, line)?;
        if let Some(first) = seen.insert(item.item_id.clone(), n) {
            return Err(DataError::field(
                path,
                n,
                "item_id",
                format!("`{}` repeats line {first}", item.item_id),
            ));
        }
        items.push(item);
        Ok(())
    })?;
    if items.is_empty() {
        return Err(DataError::line(path, 1, "empty file: no items"));
    }
    Ok(items)
}

/// One split's examples; every item they name must be in the catalogue.
pub fn read_examples(path: &Path, catalog: &Catalog) -> Result<Vec<Example>, DataError> {
    let mut examples = Vec::new();
    for_each_line(path, |n, line| {
        let ex: Example = json(path, n, line)?;
        let unknown = |field: String, id: &str| {
            DataError::field(
                path,
                n,
                field,
                format!("unknown item id `{id}`: not in {ITEMS_FILE}"),
            )
        };
        if catalog.position(&ex.target.item_id).is_none() {
            return Err(unknown("target.item_id".into(), &ex.target.item_id));
        }
        if let Some(i) = ex
            .history
            .iter()
            .position(|h| catalog.position(&h.item_id).is_none())
        {
            return Err(unknown(
                format!("history[{i}].item_id"),
                &ex.history[i].item_id,
            ));
        }
        examples.push(ex);
        Ok(())
    })?;
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loading_checks_items_against_the_catalogue() {
        let dir = tempfile::tempdir().unwrap();
        let err = PreparedDataset::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no prepared data set here"), "{err}");

        let items = dir.path().join(ITEMS_FILE);
        std::fs::write(
            &items,
            "{\"item_id\":\"a\",\"title\":\"A\",\"domain\":\"movies\"}\n",
        )
        .unwrap();
        let catalog = Catalog::new(read_items(&items).unwrap());
        let split = dir.path().join("test.jsonl");
        let line = |hist: &str| {
            format!(
                "{{\"user_id\":\"u\",\"history\":[{{\"item_id\":\"{hist}\",\"rating\":4.0,\"timestamp\":1}}],\
                 \"target\":{{\"item_id\":\"a\",\"rating\":5.0,\"timestamp\":2}}}}\n"
            )
        };
        std::fs::write(&split, line("a") + &line("zz")).unwrap();
        let err = read_examples(&split, &catalog).unwrap_err().to_string();
        assert!(
            err.ends_with("test.jsonl:2: field `history[0].item_id`: unknown item id `zz`: not in items.jsonl"),
            "{err}"
        );
        std::fs::write(&split, line("a").replace("4.0", "\"four\"")).unwrap();
        let err = read_examples(&split, &catalog).unwrap_err().to_string();
        assert!(
            err.contains("test.jsonl:1: field `history[0].rating`: invalid type"),
            "{err}"
        );
    }
}
