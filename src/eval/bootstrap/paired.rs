//! Paired bootstrap test of a difference in means (Efron & Tibshirani 1993, §16.4): two
//! methods scored on the same examples are resampled together, so each draw keeps the
//! per-example differences and the large spread between examples (easy vs hard users)
//! cancels out instead of drowning the difference between the methods.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{percentile, Interval};

/// Resamples for a significance test: p-values are then resolved to 1e-4, where the
/// 1000 of the intervals (`DEFAULT_RESAMPLES`) would stop at 1e-3.
pub const DEFAULT_PAIRED_RESAMPLES: usize = 10_000;

/// What `paired_bootstrap` found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedTest {
    /// Observed mean of A - B.
    pub diff: f64,
    /// 95% percentile interval of the resampled mean differences.
    pub ci: Interval,
    /// Two-sided p-value of "A and B have the same mean" (definition on `paired_bootstrap`).
    pub p: f64,
    /// Examples (pairs).
    pub n: usize,
    /// Bootstrap draws R.
    pub resamples: usize,
}

/// Paired bootstrap of mean(a - b), where `a[i]` and `b[i]` are the two methods' values
/// on the same example i.
///
/// Each of the R draws picks n example indices with replacement (the same ones for A and
/// B) and takes the mean difference d*; the interval is the 2.5th to 97.5th percentile
/// of d*. Under the null the differences would be centred on 0, so d* - d (d the observed
/// mean) is the null distribution, and the two-sided p-value is
/// `p = (#{r : |d*_r - d| >= |d|} + 1) / (R + 1)`: the +1 counts the observed sample as
/// one of the draws, so p is never 0 and at least 1 / (R + 1).
///
/// `None` when there are no examples, no resamples, or `a` and `b` differ in length
/// (they are then not paired).
pub fn paired_bootstrap(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Option<PairedTest> {
    let n = a.len();
    if n == 0 || resamples == 0 || b.len() != n {
        return None;
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let diff = diffs.iter().sum::<f64>() / n as f64;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draws: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| diffs[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    // A draw as far from d as d is from 0 counts as extreme; the slack keeps rounding in
    // the sums (e.g. a draw of exactly 0 or 2d with 0/1 hits) from turning a tie into a
    // miss, which errs towards a larger (conservative) p.
    let slack = 1e-12 * (1.0 + diff.abs());
    let extreme = draws
        .iter()
        .filter(|&&d| (d - diff).abs() + slack >= diff.abs())
        .count();
    draws.sort_by(f64::total_cmp);
    Some(PairedTest {
        diff,
        ci: Interval {
            lo: percentile(&draws, 0.025),
            hi: percentile(&draws, 0.975),
        },
        p: (extreme + 1) as f64 / (resamples + 1) as f64,
        n,
        resamples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` values in [0, 1) and `n` noise terms in [-w, w), from one seed.
    fn sample(n: usize, w: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let a = (0..n).map(|_| rng.random::<f64>()).collect();
        let e = (0..n)
            .map(|_| w * (2.0 * rng.random::<f64>() - 1.0))
            .collect();
        (a, e)
    }

    /// The textbook reference: the normal approximation of the paired mean difference,
    /// two-sided p = 2 (1 - Phi(|d| / se)), with the Abramowitz & Stegun 7.1.26 erf
    /// (error < 1.5e-7).
    fn normal_p(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        let m = d.iter().sum::<f64>() / n;
        let var = d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
        let z = m.abs() / (var / n).sqrt() / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * z);
        let poly = t
            * (0.254_829_592
                + t * (-0.284_496_736
                    + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
        poly * (-z * z).exp() // = 1 - erf(z) = 2 (1 - Phi(|d| / se))
    }

    #[test]
    fn identical_methods_differ_by_nothing() {
        let (a, _) = sample(100, 0.0, 1);
        let t = paired_bootstrap(&a, &a, 500, 3).unwrap();
        assert_eq!(t.diff, 0.0);
        assert_eq!(t.p, 1.0);
        assert_eq!(t.ci, Interval { lo: 0.0, hi: 0.0 });
        assert_eq!((t.n, t.resamples), (100, 500));
    }

    #[test]
    fn a_clear_shift_is_significant() {
        let (a, e) = sample(200, 0.05, 2);
        let b: Vec<f64> = a.iter().zip(&e).map(|(x, e)| x - 0.5 + e).collect();
        let t = paired_bootstrap(&a, &b, 2000, 3).unwrap();
        assert!((t.diff - 0.5).abs() < 0.01, "{t:?}");
        assert!(
            t.ci.contains(t.diff) && t.ci.lo > 0.45 && t.ci.hi < 0.55,
            "{t:?}"
        );
        // No draw is as far from d as d is from 0: the smallest p there is.
        assert_eq!(t.p, 1.0 / 2001.0);
        assert!(t.p < 0.01 && normal_p(&a, &b) < 1e-6);
    }

    #[test]
    fn noise_alone_is_not_significant_and_matches_the_normal_reference() {
        let (a, e) = sample(200, 0.5, 4);
        let b: Vec<f64> = a.iter().zip(&e).map(|(x, e)| x + e).collect();
        let t = paired_bootstrap(&a, &b, 4000, 3).unwrap();
        let reference = normal_p(&a, &b);
        assert!(t.p > 0.2, "{t:?}");
        assert!((t.p - reference).abs() < 0.05, "{} vs {reference}", t.p);
        assert!(t.ci.contains(0.0), "{t:?}");
        // A small true shift on the same noise: both agree it is significant.
        let shifted: Vec<f64> = b.iter().map(|x| x - 0.06).collect();
        let s = paired_bootstrap(&a, &shifted, 4000, 3).unwrap();
        let reference = normal_p(&a, &shifted);
        assert!(
            s.p < 0.05 && (s.p - reference).abs() < 0.02,
            "{} vs {reference}",
            s.p
        );
    }

    #[test]
    fn seeded_and_degenerate_cases() {
        let (a, e) = sample(50, 0.3, 5);
        let b: Vec<f64> = a.iter().zip(&e).map(|(x, e)| x + e).collect();
        assert_eq!(
            paired_bootstrap(&a, &b, 300, 9),
            paired_bootstrap(&a, &b, 300, 9)
        );
        assert_ne!(
            paired_bootstrap(&a, &b, 300, 9),
            paired_bootstrap(&a, &b, 300, 10)
        );
        assert!(paired_bootstrap(&[], &[], 300, 9).is_none());
        assert!(paired_bootstrap(&a, &b[1..], 300, 9).is_none());
        assert!(paired_bootstrap(&a, &b, 0, 9).is_none());
    }
}
