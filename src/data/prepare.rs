//! `r2ec data prepare`: read a raw source, build the examples and the chronological split
//! of SPEC §3, and write the prepared data set under `datasets/<name>/`.

use std::path::PathBuf;
use std::str::FromStr;

use super::amazon::{read_amazon, AmazonOptions};
use super::error::DataError;
use super::examples::{generate, SplitRanges};
use super::movielens::{read_movielens, DOMAIN as MOVIES};
use super::prepared::write_prepared;
use super::stats::DatasetStats;
use crate::paths::Paths;

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("unknown source `{0}` (expected ml-100k, ml-1m or amazon)")]
    UnknownSource(String),
    #[error("{path} is missing: run `{command}` to fetch it")]
    MissingRaw {
        path: PathBuf,
        command: &'static str,
    },
    #[error(
        "invalid data set name `{0}`: use letters, digits, `-`, `_` or `.`, not starting with `.`"
    )]
    InvalidName(String),
    #[error("the history window must hold at least one item")]
    EmptyWindow,
    #[error(transparent)]
    Data(#[from] DataError),
}

/// Which raw source, before its options are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    MovieLens100k,
    MovieLens1m,
    Amazon,
}

impl FromStr for SourceKind {
    type Err = PrepareError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ml-100k" => Ok(Self::MovieLens100k),
            "ml-1m" => Ok(Self::MovieLens1m),
            "amazon" => Ok(Self::Amazon),
            other => Err(PrepareError::UnknownSource(other.to_string())),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Source {
    MovieLens100k,
    MovieLens1m,
    Amazon(AmazonOptions),
}

impl Source {
    /// The name written into `stats.json`.
    pub fn key(&self) -> &'static str {
        match self {
            Source::MovieLens100k => "ml-100k",
            Source::MovieLens1m => "ml-1m",
            Source::Amazon(_) => "amazon",
        }
    }

    /// `ml-100k`, `ml-1m`, or `amazon-<category>`.
    pub fn default_name(&self) -> String {
        match self {
            Source::Amazon(a) => format!("amazon-{}", a.category),
            other => other.key().to_string(),
        }
    }

    pub fn domain(&self) -> &str {
        match self {
            Source::Amazon(a) => &a.category,
            _ => MOVIES,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PrepareOptions {
    pub source: Source,
    /// History window (SPEC §2: 20).
    pub history: usize,
    /// Data set name; the source's default name when absent.
    pub name: Option<String>,
}

/// What was written, and where.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub dir: PathBuf,
    pub stats: DatasetStats,
}

pub fn prepare(paths: &Paths, opts: &PrepareOptions) -> Result<Prepared, PrepareError> {
    if opts.history == 0 {
        return Err(PrepareError::EmptyWindow);
    }
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| opts.source.default_name());
    if !valid_name(&name) {
        return Err(PrepareError::InvalidName(name));
    }
    let data = match &opts.source {
        Source::MovieLens100k => {
            let (inter, item) = raw_movielens(paths, "ml-100k", "r2ec setup")?;
            read_movielens(&inter, &item)?
        }
        Source::MovieLens1m => {
            let (inter, item) = raw_movielens(paths, "ml-1m", "r2ec setup --all")?;
            read_movielens(&inter, &item)?
        }
        Source::Amazon(a) => read_amazon(a)?,
    };
    let refs = generate(&data.users);
    let ranges = SplitRanges::new(refs.len());
    let k_core = match &opts.source {
        Source::Amazon(a) => a.k_core,
        _ => 0,
    };
    let stats = DatasetStats::compute(
        &name,
        opts.source.key(),
        opts.source.domain(),
        &data,
        &refs,
        &ranges,
        opts.history,
        k_core,
    );
    let dir = paths.prepared(&name);
    write_prepared(&dir, &data, &refs, &ranges, opts.history, &stats)?;
    Ok(Prepared { dir, stats })
}

/// `datasets/raw/<name>/<name>.inter` and `.item`, or what to run to fetch them.
fn raw_movielens(
    paths: &Paths,
    name: &str,
    command: &'static str,
) -> Result<(PathBuf, PathBuf), PrepareError> {
    let dir = paths.raw_data(name);
    let inter = dir.join(format!("{name}.inter"));
    let item = dir.join(format!("{name}.item"));
    for path in [&inter, &item] {
        if !path.is_file() {
            return Err(PrepareError::MissingRaw {
                path: path.clone(),
                command,
            });
        }
    }
    Ok((inter, item))
}

/// A data set name is one folder below `datasets/`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_names() {
        assert_eq!(
            "ml-1m".parse::<SourceKind>().unwrap(),
            SourceKind::MovieLens1m
        );
        let err = "ml-20m".parse::<SourceKind>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown source `ml-20m` (expected ml-100k, ml-1m or amazon)"
        );
        assert!(valid_name("amazon-Musical_Instruments"));
        assert!(
            !valid_name("../x") && !valid_name(".hidden") && !valid_name("a/b") && !valid_name("")
        );
    }

    #[test]
    fn missing_raw_files_say_what_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path());
        let opts = PrepareOptions {
            source: Source::MovieLens1m,
            history: 20,
            name: None,
        };
        let err = prepare(&paths, &opts).unwrap_err().to_string();
        assert!(
            err.contains("ml-1m.inter is missing: run `r2ec setup --all`"),
            "{err}"
        );
        assert!(!paths.prepared("ml-1m").exists());
    }
}
