//! Scoring against the item table (SPEC §1, §4): s(v) = cos(h_T, H_V[v]) / tau, the
//! user's history masked to -inf, then the top-K under the ranking's tie rule
//! (`crate::eval::metrics::rank`).
//!
//! The rows are unit length, so scoring is one matrix-vector (or, for many users,
//! matrix-matrix) product with the normalised user vector. On a 1,000,000 x 576 table
//! this is bound by reading the table from memory; the kernels below split the rows
//! over rayon's threads, and score a block of rows against every user of a batch while
//! the block is in cache, so a batch reads the table once.

use rayon::prelude::*;

use super::item_table::{normalise, ItemTable};
use crate::eval::metrics::rank::top_k;

/// Rows per parallel task: large enough to amortise scheduling, small enough to
/// balance two to a few dozen threads on a million rows.
const ROWS_PER_TASK: usize = 4096;

/// Rows scored against all users of a batch before moving on (kept in L1/L2 cache).
const ROWS_PER_BLOCK: usize = 16;

/// Accumulator lanes: independent partial sums let the compiler use SIMD registers
/// without reassociating floating-point additions.
const LANES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("user vector has {got} values, the item table has {expected}")]
    Dim { expected: usize, got: usize },
    #[error("user vector holds a NaN or infinite value at index {0}")]
    NonFinite(usize),
    #[error("tau must be a positive finite number, got {0}")]
    Tau(f32),
}

/// cos(user_vector, row) / tau for every row of the table, in row order.
pub fn user_scores(table: &ItemTable, user_vector: &[f32], tau: f32) -> Result<Vec<f32>, ScoreError> {
    let u = prepared_user(table, user_vector, tau)?;
    let dim = table.dim();
    let mut scores = vec![0.0f32; table.len()];
    scores
        .par_chunks_mut(ROWS_PER_TASK)
        .zip(table.rows().par_chunks(ROWS_PER_TASK * dim))
        .for_each(|(out, rows)| {
            for (s, row) in out.iter_mut().zip(rows.chunks_exact(dim)) {
                *s = dot(row, &u);
            }
        });
    Ok(scores)
}

/// `user_scores` for many users at once; one score vector per user, in order.
/// The table is streamed once for the whole batch.
pub fn batch_user_scores<V: AsRef<[f32]> + Sync>(
    table: &ItemTable,
    user_vectors: &[V],
    tau: f32,
) -> Result<Vec<Vec<f32>>, ScoreError> {
    let users: Vec<Vec<f32>> =
        user_vectors.iter().map(|v| prepared_user(table, v.as_ref(), tau)).collect::<Result<_, _>>()?;
    let (n, dim, b) = (table.len(), table.dim(), users.len());
    if b == 0 {
        return Ok(Vec::new());
    }
    // Row-major n x b scratch, so each task writes one contiguous piece; transposed
    // into one vector per user at the end.
    let mut scratch = vec![0.0f32; n * b];
    scratch
        .par_chunks_mut(ROWS_PER_TASK * b)
        .zip(table.rows().par_chunks(ROWS_PER_TASK * dim))
        .for_each(|(out, rows)| {
            for (out, rows) in out.chunks_mut(ROWS_PER_BLOCK * b).zip(rows.chunks(ROWS_PER_BLOCK * dim)) {
                for (j, u) in users.iter().enumerate() {
                    for (i, row) in rows.chunks_exact(dim).enumerate() {
                        out[i * b + j] = dot(row, u);
                    }
                }
            }
        });
    let mut per_user = vec![vec![0.0f32; n]; b];
    per_user.par_iter_mut().enumerate().for_each(|(j, s)| {
        for (i, x) in s.iter_mut().enumerate() {
            *x = scratch[i * b + j];
        }
    });
    Ok(per_user)
}

/// Set the scores at `positions` (the user's history) to -inf; positions past the end
/// are ignored.
pub fn mask_history(scores: &mut [f32], positions: &[usize]) {
    for &p in positions {
        if let Some(s) = scores.get_mut(p) {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// The `k` best items for a user as (row, score), best first, the `masked` rows left out.
pub fn recommend(
    table: &ItemTable,
    user_vector: &[f32],
    tau: f32,
    masked: &[usize],
    k: usize,
) -> Result<Vec<(usize, f32)>, ScoreError> {
    let scores = user_scores(table, user_vector, tau)?;
    Ok(top_k(&scores, k, masked))
}

/// The user vector, normalised and divided by tau, so one dot product gives the score.
fn prepared_user(table: &ItemTable, user_vector: &[f32], tau: f32) -> Result<Vec<f32>, ScoreError> {
    if !(tau.is_finite() && tau > 0.0) {
        return Err(ScoreError::Tau(tau));
    }
    if user_vector.len() != table.dim() {
        return Err(ScoreError::Dim { expected: table.dim(), got: user_vector.len() });
    }
    if let Some(i) = user_vector.iter().position(|x| !x.is_finite()) {
        return Err(ScoreError::NonFinite(i));
    }
    Ok(normalise(user_vector).into_iter().map(|x| x / tau).collect())
}

/// Dot product over `LANES` independent accumulators (vectorised by the compiler).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] = fma(x[j], y[j], acc[j]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// x * y + z; fused only where the CPU has FMA, since `mul_add` is a slow library
/// call without it.
#[inline(always)]
fn fma(x: f32, y: f32, z: f32) -> f32 {
    if cfg!(any(target_feature = "fma", target_arch = "aarch64")) {
        x.mul_add(y, z)
    } else {
        x * y + z
    }
}
