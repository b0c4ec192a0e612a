//! Helpers shared by the integration tests that run the real `r2ec` binary or the real
//! model: where the repository's fixtures are, the binary run against a test home, the
//! temporary homes themselves, and the real SmolLM2 GGUF (or a `skipped:` notice where
//! `r2ec setup` has not fetched it). One copy here instead of one per test file, so a
//! change to the fixture layout or to the skip rule is made once.
//!
//! Each test file includes it with `mod support;`. Every test binary then compiles all
//! of it and uses only part, hence the `allow(dead_code)` below.
//!
//! `smollm2_parity.rs` beside it is not declared here: only the two SmolLM2 logit tests
//! include it (`#[path = "support/smollm2_parity.rs"] mod parity;`, next to
//! `mod support;`), so the other binaries do not build candle's quantized_llama reference.

#![allow(dead_code)]

pub mod bin;
pub mod home;
pub mod model;

use std::path::{Path, PathBuf};

/// The repository root: `assets/`, `datasets/` and `tests/fixtures/` are under it.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file or folder under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    repo().join("tests/fixtures").join(rel)
}
