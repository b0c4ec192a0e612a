//! The real models the heavier tests run on, looked up where `r2ec setup` (or, for the
//! optional ones, the user) puts them: `assets/models/` in the repository. They are not
//! in git, so a test that needs one prints a notice and returns early where it is
//! absent (it passes, skipped), and a fresh checkout's `cargo test` stays green.

use std::path::PathBuf;

use super::repo;

/// The file name of the SmolLM2 GGUF `r2ec setup` fetches.
pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// `<repo>/<rel>` when it is a file; otherwise `None` after printing
/// `skipped: <path> not present (<hint>)`, and the caller returns (skips).
pub fn or_skip(rel: &str, hint: &str) -> Option<PathBuf> {
    let p = repo().join(rel);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipped: {} not present ({hint})", p.display());
        None
    }
}

/// The real SmolLM2 GGUF, or `None` with a `skipped:` notice: for tests that need it
/// throughout and return early without it.
pub fn real_model() -> Option<PathBuf> {
    or_skip(&format!("assets/models/{SMOLLM2}"), "run `r2ec setup`")
}

/// The real SmolLM2 GGUF, or `None` with a `note:` that only the cases needing it are
/// skipped: for a suite that runs its other cases without it (`tests/bad_input.rs`).
pub fn real_model_for_some_cases() -> Option<PathBuf> {
    let p = repo().join("assets/models").join(SMOLLM2);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "note: {} not present (run `r2ec setup`); cases that need it are skipped",
            p.display()
        );
        None
    }
}
