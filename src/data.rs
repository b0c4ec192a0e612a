//! Data: raw readers (MovieLens atomic files, Amazon Reviews 2023), the example protocol
//! and chronological split of SPEC §3, prepared JSONL files, and the prompts of SPEC §2.

pub mod amazon;
pub mod calendar;
pub mod catalog;
pub mod domain;
pub mod error;
pub mod example_lines;
pub mod examples;
pub mod history;
pub mod lines;
pub mod movielens;
pub mod prepare;
pub mod prepared;
pub mod prompt;
pub mod recbole;
pub mod sequences;
pub mod stats;
pub mod time_ago;
pub mod types;

pub use catalog::Catalog;
pub use domain::Domain;
pub use error::DataError;
pub use history::{HistoryError, UserHistory};
pub use prepared::{PreparedDataset, Split};
pub use types::{Example, Interaction, Item};
