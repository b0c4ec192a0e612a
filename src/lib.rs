//! r2ec: R²ec, a large recommender model with reasoning (arXiv 2505.16994), in Rust.
//!
//! One instruct LLM reads a user's history, writes a reasoning chain, and scores every
//! catalogue item from its final hidden state against an item table encoded by the same
//! model. The library holds every layer (see ARCHITECTURE.md) and returns its own error
//! types; the binary (`src/main.rs` with `src/cli/`) parses the command line and
//! reports errors with their context.

pub mod annotate;
pub mod bench;
pub mod data;
pub mod eval;
pub mod model;
pub mod paths;
pub mod plot;
pub mod rec;
pub mod setup;
pub mod train;
pub mod tui;
pub mod util;
