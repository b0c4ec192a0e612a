//! `r2ec plot`: training curves (every field of each run's metrics.jsonl, runs
//! overlaid), reasoning-length growth and length histograms as PNG or SVG files.

use std::path::PathBuf;

use clap::Args;

use r2ec::plot::{plot, Format, PlotRequest, XAxis};

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A run folder (holding metrics.jsonl, and rollouts.jsonl when kept); repeat to overlay runs.
    #[arg(long = "run", required = true)]
    pub runs: Vec<PathBuf>,
    /// Folder the charts are written to.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
    /// Weight of the exponential moving average drawn over the raw points (0 = none).
    #[arg(long, default_value_t = 0.6)]
    pub smooth: f64,
    /// An evaluation's examples.jsonl whose reasoning-length distribution is drawn too.
    #[arg(long)]
    pub examples: Vec<PathBuf>,
    /// What the curves' x axis counts: `users` compares runs with different users per
    /// step on the examples they have seen (read from each run's config.json).
    #[arg(long, value_enum, default_value_t = XAxis::Step)]
    pub x: XAxis,
}

impl PlotArgs {
    pub fn run(self) -> anyhow::Result<()> {
        if !(0.0..1.0).contains(&self.smooth) {
            anyhow::bail!("--smooth {}: must be at least 0 and below 1", self.smooth);
        }
        let files = plot(&PlotRequest {
            runs: &self.runs,
            out: &self.out,
            format: self.format,
            smooth: self.smooth,
            examples: &self.examples,
            x: self.x,
        })?;
        for f in &files {
            println!("{}", f.display());
        }
        println!("{} charts in {}", files.len(), self.out.display());
        Ok(())
    }
}
