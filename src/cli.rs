//! The command line: one `Args` struct per subcommand. With no subcommand, r2ec runs
//! setup when the default assets are missing, then opens the TUI.

use clap::{Parser, Subcommand};

use r2ec::paths::Paths;

pub mod annotate;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod eval;
pub mod generate;
pub mod model_opts;
pub mod plot;
pub mod recommend;
pub mod setup;
pub mod train;
pub mod tui;

#[derive(Debug, Parser)]
#[command(
    name = "r2ec",
    version,
    about = "R²ec: a large recommender model with reasoning"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch and verify the default model and data (with --all: the larger ones too).
    Setup(setup::SetupArgs),
    /// Prepare data sets (SPEC §3).
    Data(data::DataArgs),
    /// Recommend for one user: stream the reasoning, rank the whole catalogue.
    Recommend(recommend::RecommendArgs),
    /// Chat with the backbone (no recommendation): check that a model writes sensible text.
    Generate(generate::GenerateArgs),
    /// Evaluate the model or a baseline on a split; write a report folder (or --compare several).
    Eval(eval::EvalArgs),
    /// Speed of the model core on this machine: prefill, decode, item table, scoring.
    Bench(bench::BenchArgs),
    /// The inspector: pick or write a history, watch the reasoning, read the ranking.
    Tui(tui::TuiArgs),
    /// Train with RecPO (LoRA) into a run folder; --resume continues, --bench times a step.
    Train(train::TrainArgs),
    /// Charts of training runs (every metrics.jsonl field, runs overlaid) and reasoning length.
    Plot(plot::PlotArgs),
    /// Annotation sets of reasoning chains: open, tag, suggest, stats, export, merge.
    Annotate(annotate::AnnotateArgs),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        let paths = Paths::from_env();
        match self.command {
            Some(Command::Setup(args)) => args.run(&paths),
            Some(Command::Data(args)) => args.run(),
            Some(Command::Recommend(args)) => args.run(&paths),
            Some(Command::Bench(args)) => args.run(&paths),
            Some(Command::Eval(args)) => args.run(&paths),
            Some(Command::Generate(args)) => args.run(&paths),
            Some(Command::Tui(args)) => args.run(&paths),
            Some(Command::Train(args)) => args.run(&paths),
            Some(Command::Plot(args)) => args.run(),
            Some(Command::Annotate(args)) => args.run(&paths),
            None => run_default(&paths),
        }
    }
}

/// Plain `r2ec`: fetch the default assets if they are missing, then open the TUI.
fn run_default(paths: &Paths) -> anyhow::Result<()> {
    if r2ec::setup::missing_defaults(paths) {
        println!("r2ec: default model or data missing; running `r2ec setup` first");
        setup::run_setup(paths, r2ec::setup::AssetSet::Default)?;
    }
    tui::TuiArgs::defaults().run(paths)
}
