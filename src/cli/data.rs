//! `r2ec data prepare <source>`: turn a raw data set into the prepared files of SPEC §3
//! and print its statistics.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};

use r2ec::data::amazon::{AmazonOptions, DEFAULT_MIN_ITEMS};
use r2ec::data::prepare::{prepare, PrepareOptions, Source, SourceKind};
use r2ec::data::prompt::HISTORY_WINDOW;
use r2ec::paths::Paths;

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Prepare a data set: items, chronological train/valid/test examples, statistics.
    Prepare(PrepareArgs),
}

#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// ml-100k, ml-1m or amazon.
    #[arg(value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<SourceKind>()))]
    pub source: SourceKind,
    /// How many previous interactions each example keeps as its history.
    #[arg(long, default_value_t = HISTORY_WINDOW)]
    pub history: usize,
    /// Name of the prepared data set (folder under datasets/).
    #[arg(long)]
    pub name: Option<String>,
    /// Amazon: the rating-only review CSV (plain or .gz).
    #[arg(long, required_if_eq("source", "amazon"))]
    pub reviews: Option<PathBuf>,
    /// Amazon: the category's meta JSONL (plain or .gz).
    #[arg(long, required_if_eq("source", "amazon"))]
    pub meta: Option<PathBuf>,
    /// Amazon: the category, e.g. Musical_Instruments.
    #[arg(long, required_if_eq("source", "amazon"))]
    pub category: Option<String>,
    /// Amazon: widen the time window until it holds this many items.
    #[arg(long, default_value_t = DEFAULT_MIN_ITEMS)]
    pub min_items: usize,
    /// Amazon: K-core filter on users and items (0 = off).
    #[arg(long, default_value_t = 0)]
    pub k_core: usize,
}

/// Clap enforces the Amazon options; this guards callers that build the args in code.
fn need<T>(value: Option<T>, flag: &str) -> anyhow::Result<T> {
    value.ok_or_else(|| anyhow::anyhow!("the amazon source needs {flag}"))
}

impl DataArgs {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            DataCommand::Prepare(args) => args.run(),
        }
    }
}

impl PrepareArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let source = match self.source {
            SourceKind::MovieLens100k => Source::MovieLens100k,
            SourceKind::MovieLens1m => Source::MovieLens1m,
            SourceKind::Amazon => Source::Amazon(AmazonOptions {
                reviews: need(self.reviews, "--reviews FILE")?,
                meta: need(self.meta, "--meta FILE")?,
                category: need(self.category, "--category NAME")?,
                min_items: self.min_items,
                k_core: self.k_core,
            }),
        };
        let opts = PrepareOptions {
            source,
            history: self.history,
            name: self.name,
        };
        let started = Instant::now();
        let prepared = prepare(&Paths::from_env(), &opts)?;
        let secs = started.elapsed().as_secs_f64();
        // The data set is written by now; a closed stdout (piped into `head`) is no failure.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "prepared {} in {secs:.1} s\n{}",
            prepared.dir.display(),
            prepared.stats
        );
        Ok(())
    }
}

/// A prepared data set by name; MovieLens sets are prepared on first use when their raw
/// files are there.
pub fn open_prepared(
    paths: &Paths,
    name: &str,
) -> anyhow::Result<r2ec::data::prepared::PreparedDataset> {
    use anyhow::Context;
    // The name is a folder under datasets/.
    r2ec::util::names::check("data set name", name).map_err(anyhow::Error::msg)?;
    let dir = paths.prepared(name);
    if !dir.join(r2ec::data::prepared::STATS_FILE).is_file() {
        let source = match name.parse::<SourceKind>() {
            Ok(SourceKind::MovieLens100k) => Some(Source::MovieLens100k),
            Ok(SourceKind::MovieLens1m) => Some(Source::MovieLens1m),
            _ => None,
        };
        if let Some(source) = source {
            eprintln!("data set {name} is not prepared yet; preparing it now");
            let opts = PrepareOptions {
                source,
                history: HISTORY_WINDOW,
                name: None,
            };
            let prepared = prepare(paths, &opts)?;
            eprintln!("{}", prepared.stats);
        }
    }
    r2ec::data::prepared::PreparedDataset::load(&dir)
        .with_context(|| format!("opening data set `{name}`"))
}
