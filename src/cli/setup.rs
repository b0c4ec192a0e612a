//! `r2ec setup [--all]`: fetch and verify the model and data files (see `r2ec::setup`),
//! printing each step as it happens.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;

use r2ec::paths::Paths;
use r2ec::setup::{self, AssetSet};

#[derive(Debug, Clone, clap::Args)]
pub struct SetupArgs {
    /// Also fetch MovieLens-1M and Qwen2.5-Coder-0.5B-Instruct (about 540 MB more).
    #[arg(long)]
    pub all: bool,
}

impl SetupArgs {
    pub fn run(&self, paths: &Paths) -> anyhow::Result<()> {
        run_setup(
            paths,
            if self.all {
                AssetSet::All
            } else {
                AssetSet::Default
            },
        )
    }
}

/// Runs setup for `set`, printing progress lines and a summary to stdout.
pub fn run_setup(paths: &Paths, set: AssetSet) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut stdout = std::io::stdout();
    let mut progress = |line: &str| {
        // A closed stdout must not stop the fetch; the result still lands on disk.
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    };
    let report = setup::ensure(paths, set, &mut progress).context("setup failed")?;
    let seconds = started.elapsed().as_secs_f64();
    if report.nothing_done() {
        println!(
            "setup: all {} assets already present and verified; nothing to do ({seconds:.1} s)",
            report.assets.len()
        );
    } else {
        println!(
            "setup: fetched {}, already present {}, packages downloaded {} ({seconds:.1} s)",
            report.fetched(),
            report.assets.len() - report.fetched(),
            report.downloads()
        );
    }
    Ok(())
}
