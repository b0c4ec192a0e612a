//! The `r2ec` binary: the command line (`cli`, one module per subcommand over the
//! library) and its run. Errors are printed with their context chain and give a
//! non-zero exit; nothing here panics on bad input.
//!
//! `println!` panics when standard output cannot be written (a full disk, a closed
//! pipe); that one panic is caught here and reported as an error like any other.

use std::any::Any;
use std::process::ExitCode;

use clap::Parser;

mod cli;

/// The message of std's panic for a failed write to standard output, if it is one.
fn stdout_failure(payload: &(dyn Any + Send)) -> Option<String> {
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))?;
    text.strip_prefix("failed printing to stdout: ")
        .map(str::to_string)
}

/// The error and its causes on one line; a cause whose text the message already
/// holds (errors that print their source themselves) is not repeated.
fn chain(err: &anyhow::Error) -> String {
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

/// candle asks for its thread count on every f32 matmul and, unless `RAYON_NUM_THREADS`
/// is set, counts physical cores by reading `/proc/cpuinfo` each time (about 3% of a
/// decode step). The count is taken once here, before any thread starts, and pinned.
fn pin_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}

fn main() -> ExitCode {
    r2ec::util::malloc::keep_freed_memory();
    pin_thread_count();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Reported by `main` below as an error, not as a crash.
        if stdout_failure(info.payload()).is_none() {
            default_hook(info);
        }
    }));
    let run = std::panic::catch_unwind(|| cli::Cli::parse().run());
    match run {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("error: {}", chain(&err));
            ExitCode::FAILURE
        }
        Err(payload) => match stdout_failure(payload.as_ref()) {
            Some(why) => {
                eprintln!("error: cannot write to standard output: {why}");
                ExitCode::FAILURE
            }
            None => std::panic::resume_unwind(payload),
        },
    }
}
