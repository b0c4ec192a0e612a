//! Time to score a 1,000,000 x 576 item table (SmolLM2-135M's hidden size) against one
//! user vector and against 32 at once: the rec_head's kernels next to candle's CPU
//! matmul on the same data. `cargo bench --bench rec_score [-- ROWS DIM BATCH]`.

use std::time::Instant;

use candle_core::{Device, Tensor};
use r2ec::rec::{batch_user_scores, user_scores, ItemTable};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const RUNS: usize = 5;

/// Median wall time in milliseconds of `RUNS` calls after one warm-up.
fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[RUNS / 2]
}

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .filter(|a| !a.starts_with('-'))
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let (rows, dim, batch) = (arg(1, 1_000_000), arg(2, 576), arg(3, 32));
    println!(
        "item table {rows} x {dim}, batch {batch}, {} rayon threads",
        rayon::current_num_threads()
    );
    let mut rng = StdRng::seed_from_u64(0);
    let values: Vec<f32> = (0..rows * dim)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let table = ItemTable::from_rows((0..rows).map(|i| i.to_string()).collect(), dim, values)?;
    let users: Vec<Vec<f32>> = (0..batch)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect();

    let one = median_ms(|| {
        std::hint::black_box(
            user_scores(&table, &users[0], 0.02)
                .map(|s| s.len())
                .unwrap_or(0),
        );
    });
    let many = median_ms(|| {
        std::hint::black_box(
            batch_user_scores(&table, &users, 0.02)
                .map(|s| s.len())
                .unwrap_or(0),
        );
    });
    println!(
        "rec_head kernels: 1 user {one:.1} ms; {batch} users {many:.1} ms ({:.1} ms per user)",
        many / batch as f64
    );

    // candle on the same rows; the copy into a tensor is timed separately.
    let start = Instant::now();
    let h = Tensor::from_slice(table.rows(), (rows, dim), &Device::Cpu)?;
    let copy = start.elapsed().as_secs_f64() * 1e3;
    let u1 = Tensor::from_slice(&users[0], (dim, 1), &Device::Cpu)?;
    let flat: Vec<f32> = users.concat();
    let ub = Tensor::from_slice(&flat, (batch, dim), &Device::Cpu)?.t()?;
    let c_one = median_ms(|| {
        std::hint::black_box(
            h.matmul(&u1)
                .and_then(|s| s.flatten_all()?.to_vec1::<f32>())
                .map(|v| v.len())
                .unwrap_or(0),
        );
    });
    let c_many = median_ms(|| {
        std::hint::black_box(
            h.matmul(&ub)
                .and_then(|s| s.t()?.contiguous()?.to_vec2::<f32>())
                .map(|v| v.len())
                .unwrap_or(0),
        );
    });
    println!(
        "candle matmul:    1 user {c_one:.1} ms; {batch} users {c_many:.1} ms ({:.1} ms per user); copy into a tensor {copy:.0} ms",
        c_many / batch as f64
    );
    Ok(())
}
