//! The f32 dot product and fused multiply-add that the scoring and decode-attention
//! kernels share, written so the compiler vectorises them (no `unsafe`, no intrinsics).

/// Accumulator lanes: independent partial sums let the compiler use SIMD registers
/// without reassociating floating-point additions (16 f32 = two AVX2 registers).
pub const LANES: usize = 16;

/// Sum of `a[i] * b[i]` over `LANES` independent accumulators (vectorised by the
/// compiler); the lengths should match, extra elements of the longer one are ignored.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] = fmadd(x[j], y[j], acc[j]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `a * b + c`, fused where the target has the instruction (one rounding, half the
/// work); elsewhere `mul_add` would be a slow library call per element.
#[inline(always)]
pub fn fmadd(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(any(target_feature = "fma", target_arch = "aarch64")) {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_a_plain_sum_at_every_length() {
        for n in [0, 1, 15, 16, 17, 64, 100, 576] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0).collect();
            let plain: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64) * (*y as f64))
                .sum();
            assert!((dot(&a, &b) as f64 - plain).abs() < 1e-4, "n = {n}");
        }
        assert_eq!(fmadd(2.0, 3.0, 1.0), 7.0);
    }
}
