//! The command line: one `Args` struct per subcommand. With no subcommand, r2ec runs
//! setup when the default assets are missing (the TUI will open here later).

use clap::{Parser, Subcommand};

pub mod data;

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
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Some(Command::Data(args)) => args.run(),
            None => Ok(()),
        }
    }
}
