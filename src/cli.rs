//! The command line: one `Args` struct per subcommand. With no subcommand, r2ec runs
//! setup when the default assets are missing (the TUI will open here later).

use clap::{Parser, Subcommand};

use crate::paths::Paths;

pub mod bench;
pub mod data;
pub mod model_opts;
pub mod recommend;

#[derive(Debug, Parser)]
#[command(name = "r2ec", version, about = "R²ec: a large recommender model with reasoning")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepare data sets (SPEC §3).
    Data(data::DataArgs),
    /// Recommend for one user: stream the reasoning, rank the whole catalogue.
    Recommend(recommend::RecommendArgs),
    /// Speed of the model core on this machine: prefill, decode, item table, scoring.
    Bench(bench::BenchArgs),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        let paths = Paths::from_env();
        match self.command {
            Some(Command::Data(args)) => args.run(),
            Some(Command::Recommend(args)) => args.run(&paths),
            Some(Command::Bench(args)) => args.run(&paths),
            None => Ok(()),
        }
    }
}
