//! Scoring against the item table (SPEC §1, §4): s(v) = cos(h_T, H_V[v]) / tau, the
//! user's history masked to -inf, then the top-K under the ranking's tie rule
//! (`crate::rec::rank`).
//!
//! The rows are unit length, so scoring is one matrix-vector (or, for many users,
//! matrix-matrix) product with the normalised user vector. On a 1,000,000 x 576 table
//! this is bound by reading the table from memory; the kernels below split the rows
//! over rayon's threads, and score a block of rows against every user of a batch while
//! the block is in cache, so a batch reads the table once.

use rayon::prelude::*;

use super::item_table::ItemTable;
use crate::rec::rank::top_k;
use crate::util::simd::dot;

/// Rows per parallel task: large enough to amortise scheduling, small enough to
/// balance two to a few dozen threads on a million rows.
const ROWS_PER_TASK: usize = 4096;

/// Rows scored against all users of a batch before moving on (kept in L1/L2 cache).
const ROWS_PER_BLOCK: usize = 16;

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
pub fn user_scores(
    table: &ItemTable,
    user_vector: &[f32],
    tau: f32,
) -> Result<Vec<f32>, ScoreError> {
    let u = prepared_user(table, user_vector, tau)?;
    let dim = table.dim();
    let mut scores = vec![0.0f32; table.len()];
    scores
        .par_chunks_mut(ROWS_PER_TASK)
        .zip(table.scoring_rows().par_chunks(ROWS_PER_TASK * dim))
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
    let users: Vec<Vec<f32>> = user_vectors
        .iter()
        .map(|v| prepared_user(table, v.as_ref(), tau))
        .collect::<Result<_, _>>()?;
    let (n, dim, b) = (table.len(), table.dim(), users.len());
    if b == 0 {
        return Ok(Vec::new());
    }
    // Row-major n x b scratch, so each task writes one contiguous piece; transposed
    // into one vector per user at the end.
    let mut scratch = vec![0.0f32; n * b];
    scratch
        .par_chunks_mut(ROWS_PER_TASK * b)
        .zip(table.scoring_rows().par_chunks(ROWS_PER_TASK * dim))
        .for_each(|(out, rows)| {
            for (out, rows) in out
                .chunks_mut(ROWS_PER_BLOCK * b)
                .zip(rows.chunks(ROWS_PER_BLOCK * dim))
            {
                score_block(rows, dim, &users, out);
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
pub fn top_items(
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
        return Err(ScoreError::Dim {
            expected: table.dim(),
            got: user_vector.len(),
        });
    }
    if let Some(i) = user_vector.iter().position(|x| !x.is_finite()) {
        return Err(ScoreError::NonFinite(i));
    }
    Ok(table
        .scoring_vector(user_vector)
        .into_iter()
        .map(|x| x / tau)
        .collect())
}

/// Scores of a block of rows against every user into `out` (row-major rows x users);
/// the block stays in cache while every user passes over it. (A 2-row x 4-user
/// register tile measured slower than this on the benchmark machine.)
fn score_block(rows: &[f32], dim: usize, users: &[Vec<f32>], out: &mut [f32]) {
    let b = users.len();
    for (j, u) in users.iter().enumerate() {
        for (i, row) in rows.chunks_exact(dim).enumerate() {
            out[i * b + j] = dot(row, u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rec::rank::rank_of_target;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random_table(n: usize, dim: usize, seed: u64) -> ItemTable {
        let mut rng = StdRng::seed_from_u64(seed);
        let ids = (0..n).map(|i| format!("i{i}")).collect();
        let rows = (0..n * dim)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        ItemTable::from_rows(ids, dim, rows).unwrap()
    }

    fn naive_cosine(a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        dot / (na * nb)
    }

    #[test]
    fn scores_equal_a_naive_cosine_over_tau() {
        // 9000 rows spans several parallel tasks; dim 37 leaves a remainder after the lanes.
        let t = random_table(9000, 37, 1);
        let mut rng = StdRng::seed_from_u64(2);
        let u: Vec<f32> = (0..37).map(|_| rng.random_range(-3.0f32..3.0)).collect();
        let s = user_scores(&t, &u, 0.02).unwrap();
        assert_eq!(s.len(), 9000);
        for (i, &si) in s.iter().enumerate() {
            let expected = naive_cosine(&u, t.row(i).unwrap()) / 0.02;
            assert!(
                (si as f64 - expected).abs() < 2e-4,
                "row {i}: {si} vs {expected}"
            );
        }
    }

    #[test]
    fn a_batch_gives_the_same_scores_as_one_user_at_a_time() {
        let t = random_table(5001, 67, 3);
        let mut rng = StdRng::seed_from_u64(4);
        let users: Vec<Vec<f32>> = (0..5)
            .map(|_| (0..67).map(|_| rng.random_range(-1.0f32..1.0)).collect())
            .collect();
        let batch = batch_user_scores(&t, &users, TAU_FOR_TESTS).unwrap();
        assert_eq!(batch.len(), 5);
        for (u, b) in users.iter().zip(&batch) {
            let one = user_scores(&t, u, TAU_FOR_TESTS).unwrap();
            let worst = one
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "{worst}");
        }
        assert!(
            batch_user_scores(&t, &Vec::<Vec<f32>>::new(), TAU_FOR_TESTS)
                .unwrap()
                .is_empty()
        );
    }

    const TAU_FOR_TESTS: f32 = crate::rec::TAU;

    #[test]
    fn masking_excludes_history_and_recommend_agrees_with_ranking() {
        let t = random_table(300, 16, 5);
        // The user vector is item 7's own row: item 7 would be first unless masked.
        let u = t.row(7).unwrap().to_vec();
        let top = top_items(&t, &u, TAU_FOR_TESTS, &[], 3).unwrap();
        assert_eq!(top[0].0, 7);
        assert!((top[0].1 - 1.0 / TAU_FOR_TESTS).abs() < 1e-3);

        let history = [7, top[1].0, 999];
        let masked = top_items(&t, &u, TAU_FOR_TESTS, &history, 10).unwrap();
        assert_eq!(masked.len(), 10);
        assert!(masked.iter().all(|(i, _)| !history.contains(i)));
        assert_eq!(masked[0].0, top[2].0);

        let mut s = user_scores(&t, &u, TAU_FOR_TESTS).unwrap();
        mask_history(&mut s, &history);
        assert_eq!(s[7], f32::NEG_INFINITY);
        for (r, (pos, _)) in masked.iter().enumerate() {
            assert_eq!(rank_of_target(&s, *pos, &history), Some(r + 1));
        }
    }

    #[test]
    fn scores_follow_the_table_after_add_and_remove() {
        let mut t = random_table(50, 8, 6);
        let u: Vec<f32> = (0..8).map(|i| i as f32 - 3.5).collect();
        let before = user_scores(&t, &u, 1.0).unwrap();
        t.remove("i10").unwrap();
        t.add("new", &u).unwrap();
        let after = user_scores(&t, &u, 1.0).unwrap();
        assert_eq!(after.len(), 50);
        assert_eq!(&after[..10], &before[..10]);
        assert_eq!(&after[10..49], &before[11..]);
        assert!((after[t.position("new").unwrap()] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bad_user_vectors_and_tau_are_errors() {
        let t = random_table(4, 8, 7);
        assert!(matches!(
            user_scores(&t, &[1.0; 7], 0.02),
            Err(ScoreError::Dim {
                expected: 8,
                got: 7
            })
        ));
        let mut nan = vec![1.0; 8];
        nan[3] = f32::NAN;
        assert!(matches!(
            user_scores(&t, &nan, 0.02),
            Err(ScoreError::NonFinite(3))
        ));
        assert!(matches!(
            user_scores(&t, &[1.0; 8], 0.0),
            Err(ScoreError::Tau(_))
        ));
        assert!(matches!(
            batch_user_scores(&t, &[vec![1.0; 8], vec![1.0; 2]], 0.02),
            Err(ScoreError::Dim { .. })
        ));
    }
}
