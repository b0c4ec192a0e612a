//! Evaluation: ranking metrics over the full catalogue (SPEC §4).

pub mod metrics;
