//! Small shared helpers: atomic file writes, reading.

pub mod atomic;
pub mod io;
pub mod names;
