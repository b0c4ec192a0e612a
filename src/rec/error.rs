//! What can stop a recommendation: the model, the data, the history given, the item
//! table's cache or the table itself, and scoring. It gathers its children's errors
//! (and is the one type the pipeline returns).

#[derive(Debug, thiserror::Error)]
pub enum RecError {
    #[error(transparent)]
    Model(#[from] crate::model::error::ModelError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    History(#[from] crate::data::HistoryError),
    #[error(transparent)]
    Cache(#[from] super::cache::CacheError),
    #[error(transparent)]
    Table(#[from] super::item_table::TableError),
    #[error(transparent)]
    Score(#[from] super::score::ScoreError),
    #[error(transparent)]
    Centre(#[from] super::centre::CentreError),
}
