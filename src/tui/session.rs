//! Histories saved in `sessions/`: the same JSON as `r2ec recommend --history`
//! (`{user_id?, history: [{item_id, rating, timestamp}], target?, now?}`), written
//! atomically, checked against the catalogue when opened.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{Catalog, Interaction};
use crate::util::atomic::write_atomic;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub history: Vec<Interaction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Interaction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: field `{field}`: {message}")]
    Field {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("session name `{0}`: use letters, digits, `-`, `_` or `.`")]
    Name(String),
}

/// Save under `dir/<name>.json`; the name is checked so it stays inside `dir`.
pub fn save(dir: &Path, name: &str, file: &SessionFile) -> Result<PathBuf, SessionError> {
    if crate::util::names::invalid_reason(name).is_some() {
        return Err(SessionError::Name(name.to_string()));
    }
    let path = dir.join(format!("{}.json", name.trim_end_matches(".json")));
    let io = |source| SessionError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    // Invariant: the struct holds only strings and numbers, which always serialise.
    let mut text = serde_json::to_string_pretty(file).unwrap_or_default();
    text.push('\n');
    write_atomic(&path, text.as_bytes()).map_err(io)?;
    Ok(path)
}

/// Read a session and check every item against the catalogue.
pub fn open(path: &Path, catalog: &Catalog) -> Result<SessionFile, SessionError> {
    let text = std::fs::read_to_string(path).map_err(|source| SessionError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file: SessionFile = serde_json::from_str(&text).map_err(|e| SessionError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let field = |field: String, message: String| SessionError::Field {
        path: path.to_path_buf(),
        field,
        message,
    };
    if file.history.is_empty() {
        return Err(field(
            "history".into(),
            "empty; give at least one item".into(),
        ));
    }
    for (i, h) in file.history.iter().enumerate() {
        if catalog.get(&h.item_id).is_none() {
            return Err(field(
                format!("history[{i}].item_id"),
                format!("item `{}` is not in the catalogue", h.item_id),
            ));
        }
    }
    if let Some(t) = file
        .target
        .as_ref()
        .filter(|t| catalog.get(&t.item_id).is_none())
    {
        return Err(field(
            "target.item_id".into(),
            format!("item `{}` is not in the catalogue", t.item_id),
        ));
    }
    Ok(file)
}

/// The `.json` files of `dir`, newest first (none when the folder is missing).
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let t = p
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (t, p)
        })
        .collect();
    files.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    files.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Item;

    fn catalog() -> Catalog {
        Catalog::new(
            ["1", "2"]
                .iter()
                .map(|id| Item {
                    item_id: id.to_string(),
                    title: format!("T{id}"),
                    domain: "movies".into(),
                    year: None,
                    genres: vec![],
                    average_rating: None,
                    rating_number: None,
                    description: None,
                })
                .collect(),
        )
    }

    #[test]
    fn round_trip_and_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let f = SessionFile {
            user_id: Some("7".into()),
            history: vec![Interaction {
                item_id: "1".into(),
                rating: 4.0,
                timestamp: 10,
            }],
            target: None,
            now: Some(20),
        };
        let p = save(dir.path(), "mine", &f).unwrap();
        assert_eq!(p, dir.path().join("mine.json"));
        assert_eq!(open(&p, &catalog()).unwrap(), f);
        assert_eq!(list(dir.path()), vec![p.clone()]);
        assert!(matches!(
            save(dir.path(), "../x", &f),
            Err(SessionError::Name(_))
        ));

        std::fs::write(
            &p,
            r#"{"history":[{"item_id":"9","rating":1,"timestamp":1}]}"#,
        )
        .unwrap();
        let e = open(&p, &catalog()).unwrap_err().to_string();
        assert!(
            e.ends_with("field `history[0].item_id`: item `9` is not in the catalogue"),
            "{e}"
        );
        std::fs::write(&p, "{\n\"history\": 3}").unwrap();
        let e = open(&p, &catalog()).unwrap_err().to_string();
        assert!(e.contains("mine.json:2:"), "{e}");
    }
}
