//! Small shared helpers: atomic file writes, reading, names, the shared SIMD dot product.

pub mod atomic;
pub mod io;
pub mod names;
pub mod simd;
