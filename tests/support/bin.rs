//! The `r2ec` binary Cargo builds for the integration tests, run against a test home:
//! every run sets `R2EC_HOME`, so nothing outside the home is read or written.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// The binary's path.
pub const R2EC: &str = env!("CARGO_BIN_EXE_r2ec");

/// `r2ec <args>` with `R2EC_HOME=home`, not yet started (to add to, spawn or run).
pub fn cmd<I, S>(home: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(R2EC);
    c.args(args).env("R2EC_HOME", home);
    c
}

/// `r2ec <args>` with `R2EC_HOME=home`, run to its end.
pub fn r2ec(home: &Path, args: &[&str]) -> Output {
    cmd(home, args).output().expect("the r2ec binary runs")
}

/// A run's standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
