//! The `r2ec` binary: parse the command line and run it. Errors are printed with their
//! context chain and give a non-zero exit; nothing here panics on bad input.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = r2ec::cli::Cli::parse();
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
