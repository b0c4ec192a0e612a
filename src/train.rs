//! Training mode: RecPO (SPEC §5), the GRPO-style RL method of R²ec, with LoRA.
//!
//! The pure math (fused reward, group advantages) lives here apart from the trainer so
//! that the TUI's group view shows exactly the numbers the trainer optimises.

pub mod adapter;
pub mod advantage;
pub mod lora;
pub mod reward;
