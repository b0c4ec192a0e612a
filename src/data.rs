//! Data: raw readers (MovieLens atomic files, Amazon Reviews 2023), the example protocol
//! and chronological split of SPEC §3, prepared JSONL files, and the prompts of SPEC §2.

pub mod catalog;
pub mod chat_template;
pub mod domain;
pub mod error;
pub mod prompt;
pub mod time_ago;
pub mod types;

pub use catalog::Catalog;
pub use domain::Domain;
pub use error::DataError;
pub use types::{Example, Interaction, Item};
