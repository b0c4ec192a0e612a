//! Ranking metrics of SPEC §4: full ranking over the whole catalogue, the user's history
//! masked, a single relevant item (the target).

pub mod hit;
pub mod ndcg;
pub mod summary;

pub use hit::hit_at;
pub use ndcg::ndcg_at;
pub use summary::{RankingMetrics, CUTOFFS};
