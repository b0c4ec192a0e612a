//! Small shared helpers: atomic file writes, reading, names, the shared SIMD dot product,
//! the malloc tuning.

pub mod atomic;
pub mod io;
pub mod malloc;
pub mod names;
pub mod simd;
