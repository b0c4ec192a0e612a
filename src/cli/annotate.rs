//! `r2ec annotate`: annotation sets without the TUI. Open a set from an evaluation's
//! examples.jsonl or a run's rollouts.jsonl, tag chains from a script, run the tagger,
//! print statistics, export, and merge other annotators' copies.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use r2ec::annotate::{self, set, stats, store, Behaviour, Record, Store};
use r2ec::paths::Paths;

#[derive(Debug, Args)]
pub struct AnnotateArgs {
    #[command(subcommand)]
    pub command: AnnotateCommand,
}

#[derive(Debug, Subcommand)]
pub enum AnnotateCommand {
    /// Create a set from an examples.jsonl (evaluation) or rollouts.jsonl (training run).
    Open {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// Save tags read from standard input, one line each: `CHAIN KEYS [NOTE]`, KEYS being
    /// behaviour keys 1-7 (e.g. `14` or `1,4`), `-` for none or `skip`. Each line is
    /// saved (synced) before `saved CHAIN` is printed.
    Tag {
        #[arg(long)]
        set: String,
        #[arg(long)]
        annotator: String,
    },
    /// Run the pattern tagger over the set; its suggestions are stored as annotator `tagger`.
    Suggest {
        #[arg(long)]
        set: String,
    },
    /// Share of chains per behaviour, agreement per behaviour, tagger against people,
    /// behaviours against reward and rank.
    Stats {
        #[arg(long)]
        set: String,
        #[arg(long)]
        json: bool,
    },
    /// One JSON line per chain with every annotator's tags; optionally a chart of shares.
    Export {
        #[arg(long)]
        set: String,
        #[arg(long)]
        out: PathBuf,
        /// Behaviour shares as a bar chart (.png or .svg).
        #[arg(long)]
        chart: Option<PathBuf>,
    },
    /// Add the annotator logs of other copies of the set (folders) to this one.
    Merge {
        #[arg(long)]
        set: String,
        #[arg(long, num_args = 1.., required = true)]
        from: Vec<PathBuf>,
    },
}

impl AnnotateArgs {
    pub fn run(self, paths: &Paths) -> anyhow::Result<()> {
        let sessions = paths.sessions();
        match self.command {
            AnnotateCommand::Open { from, name } => {
                let dir = set::set_dir(&sessions, &name)?;
                let chains = set::read_source(&from)?;
                if chains.is_empty() {
                    anyhow::bail!("{}: no reasoning chains to annotate", from.display());
                }
                set::create(&dir, &chains)?;
                println!("set {name}: {} chains in {}", chains.len(), dir.display());
            }
            AnnotateCommand::Tag {
                set: name,
                annotator,
            } => {
                let dir = open_set(&sessions, &name)?;
                let chains = set::load(&dir)?;
                let mut st = Store::open(&dir, &annotator)?;
                let stdin = std::io::stdin();
                let mut out = std::io::stdout();
                for (i, line) in stdin.lock().lines().enumerate() {
                    let line = line.context("reading standard input")?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let rec = parse_tag_line(&line)
                        .with_context(|| format!("standard input, line {}", i + 1))?;
                    if !chains.iter().any(|c| c.id == rec.chain) {
                        anyhow::bail!(
                            "standard input, line {}: no chain {:?} in set {name}",
                            i + 1,
                            rec.chain
                        );
                    }
                    let id = rec.chain.clone();
                    st.save(rec)?;
                    writeln!(out, "saved {id}")?;
                    out.flush()?;
                }
            }
            AnnotateCommand::Suggest { set: name } => {
                let dir = open_set(&sessions, &name)?;
                let chains = set::load(&dir)?;
                let n = annotate::suggest_all(&dir, &chains)?;
                println!("tagger: {n} suggestions saved for {} chains", chains.len());
            }
            AnnotateCommand::Stats { set: name, json } => {
                let dir = open_set(&sessions, &name)?;
                let s = stats::compute(&set::load(&dir)?, &annotate::load_all(&dir)?);
                if json {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                } else {
                    print!("{}", stats::markdown(&s));
                }
            }
            AnnotateCommand::Export {
                set: name,
                out,
                chart,
            } => {
                let dir = open_set(&sessions, &name)?;
                let chains = set::load(&dir)?;
                let all = annotate::load_all(&dir)?;
                r2ec::util::atomic::write_atomic(
                    &out,
                    annotate::export_jsonl(&chains, &all).as_bytes(),
                )
                .with_context(|| format!("writing {}", out.display()))?;
                println!("{}: {} chains", out.display(), chains.len());
                if let Some(path) = chart {
                    write_chart(&path, &stats::compute(&chains, &all))?;
                    println!("{}", path.display());
                }
            }
            AnnotateCommand::Merge { set: name, from } => {
                let dir = open_set(&sessions, &name)?;
                for f in from {
                    let n = annotate::merge(&dir, &f)?;
                    println!("{}: {n} records added", f.display());
                }
            }
        }
        Ok(())
    }
}

fn open_set(sessions: &std::path::Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = set::set_dir(sessions, name)?;
    if !set::chains_path(&dir).is_file() {
        anyhow::bail!(
            "no annotation set {name:?} in {} (create it with `r2ec annotate open`)",
            dir.display()
        );
    }
    Ok(dir)
}

/// `CHAIN KEYS [NOTE]`.
fn parse_tag_line(line: &str) -> anyhow::Result<Record> {
    let mut parts = line.trim().splitn(3, char::is_whitespace);
    let chain = parts.next().unwrap_or_default().to_string();
    let keys = parts
        .next()
        .context("missing behaviour keys after the chain id (`-` for none)")?;
    let note = parts.next().unwrap_or("").trim().to_string();
    let skipped = keys == "skip";
    let mut tags = Vec::new();
    if !skipped && keys != "-" {
        for c in keys.chars().filter(|&c| c != ',') {
            let b = Behaviour::from_key(c)
                .with_context(|| format!("{c:?} is not a behaviour key (1-7)"))?;
            if !tags.contains(&b) {
                tags.push(b);
            }
        }
    }
    tags.sort();
    Ok(Record {
        chain,
        tags,
        spans: vec![],
        note,
        skipped,
        time: store::now(),
    })
}

/// Bars of the share of chains per behaviour: the people's majority when there are
/// people, else the tagger's.
fn write_chart(path: &std::path::Path, s: &stats::SetStats) -> anyhow::Result<()> {
    use r2ec::plot::charts::{write, Chart, Format};
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => Format::Svg,
        Some("png") => Format::Png,
        _ => anyhow::bail!("{}: the chart must be a .png or .svg file", path.display()),
    };
    let labels: Vec<String> = s
        .behaviours
        .iter()
        .map(|b| format!("{} {}", b.key, b.behaviour))
        .collect();
    let values: Vec<f64> = s
        .behaviours
        .iter()
        .map(|b| {
            b.majority_share
                .or_else(|| b.share.get(stats::TAGGER).copied())
                .unwrap_or(0.0)
        })
        .collect();
    let title = format!("Share of {} chains showing each behaviour", s.chains);
    write(
        path,
        format,
        &Chart::Bars {
            title: &title,
            labels: &labels,
            values: &values,
            y: "share",
        },
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lines_parse_keys_notes_and_skips() {
        let r = parse_tag_line("ex3 4,1 recent items first").unwrap();
        assert_eq!(r.chain, "ex3");
        assert_eq!(
            r.tags,
            vec![Behaviour::AttributeAbstraction, Behaviour::Temporal]
        );
        assert_eq!(r.note, "recent items first");
        assert!(parse_tag_line("ex3 skip").unwrap().skipped);
        assert!(parse_tag_line("ex3 -").unwrap().tags.is_empty());
        assert!(parse_tag_line("ex3 9").is_err());
        assert!(parse_tag_line("ex3").is_err());
    }
}
