//! Agreement between annotators: Cohen's kappa for two (Cohen 1960), Fleiss' kappa for
//! several with every unit rated by all (Fleiss 1971), and Krippendorff's alpha for any
//! number with missing ratings (nominal; Krippendorff 2011, "Computing Krippendorff's
//! Alpha-Reliability"). Per behaviour the ratings are binary: shown or not.

use std::collections::BTreeMap;

/// Cohen's kappa of two raters over the same units (categories are any `Ord` values).
/// `None` when there are no units or chance agreement is total (kappa is undefined).
pub fn cohen_kappa<T: Ord + Clone>(a: &[T], b: &[T]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n == 0 {
        return None;
    }
    let mut pa: BTreeMap<T, f64> = BTreeMap::new();
    let mut pb: BTreeMap<T, f64> = BTreeMap::new();
    let mut agree = 0.0;
    for (x, y) in a.iter().zip(b).take(n) {
        *pa.entry(x.clone()).or_default() += 1.0 / n as f64;
        *pb.entry(y.clone()).or_default() += 1.0 / n as f64;
        if x == y {
            agree += 1.0 / n as f64;
        }
    }
    let pe: f64 = pa.iter().map(|(k, p)| p * pb.get(k).unwrap_or(&0.0)).sum();
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    Some((agree - pe) / (1.0 - pe))
}

/// Fleiss' kappa from a units x categories table of rating counts (every unit rated by
/// the same number of raters, at least two).
pub fn fleiss_kappa(counts: &[Vec<usize>]) -> Option<f64> {
    let n_units = counts.len();
    let raters: usize = counts.first()?.iter().sum();
    if n_units == 0 || raters < 2 || counts.iter().any(|r| r.iter().sum::<usize>() != raters) {
        return None;
    }
    let k = counts[0].len();
    let total = (n_units * raters) as f64;
    let p_j: Vec<f64> = (0..k)
        .map(|j| counts.iter().map(|r| r[j]).sum::<usize>() as f64 / total)
        .collect();
    let r = raters as f64;
    let p_bar = counts
        .iter()
        .map(|row| {
            let s: f64 = row.iter().map(|&c| (c * c) as f64).sum();
            (s - r) / (r * (r - 1.0))
        })
        .sum::<f64>()
        / n_units as f64;
    let pe: f64 = p_j.iter().map(|p| p * p).sum();
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    Some((p_bar - pe) / (1.0 - pe))
}

/// Krippendorff's alpha, nominal: `units[u]` holds each rater's value for unit u, `None`
/// where that rater gave none. Units with fewer than two values are not pairable.
pub fn krippendorff_alpha<T: Ord + Clone>(units: &[Vec<Option<T>>]) -> Option<f64> {
    // Coincidence matrix o[c][k], built from every ordered pair of values within a unit,
    // weighted 1 / (m_u - 1).
    let mut o: BTreeMap<(T, T), f64> = BTreeMap::new();
    for unit in units {
        let vals: Vec<&T> = unit.iter().flatten().collect();
        let m = vals.len();
        if m < 2 {
            continue;
        }
        for (i, c) in vals.iter().enumerate() {
            for (j, k) in vals.iter().enumerate() {
                if i != j {
                    *o.entry(((*c).clone(), (*k).clone())).or_default() += 1.0 / (m - 1) as f64;
                }
            }
        }
    }
    let n: f64 = o.values().sum();
    if n <= 1.0 {
        return None;
    }
    let mut n_c: BTreeMap<T, f64> = BTreeMap::new();
    for ((c, _), v) in &o {
        *n_c.entry(c.clone()).or_default() += v;
    }
    let observed: f64 = o.iter().filter(|((c, k), _)| c != k).map(|(_, v)| v).sum();
    let expected: f64 = n_c
        .iter()
        .flat_map(|(c, a)| {
            n_c.iter()
                .filter(move |(k, _)| *k != c)
                .map(move |(_, b)| a * b)
        })
        .sum::<f64>()
        / (n - 1.0);
    if expected <= 0.0 {
        return None;
    }
    Some(1.0 - observed / expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohen_textbook_example() {
        // 50 proposals read by A and B: yes/yes 20, yes/no 5, no/yes 10, no/no 15;
        // p_o = 0.7, p_e = 0.5, kappa = 0.4 (the standard worked example).
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (x, y, n) in [(1, 1, 20), (1, 0, 5), (0, 1, 10), (0, 0, 15)] {
            for _ in 0..n {
                a.push(x);
                b.push(y);
            }
        }
        assert!((cohen_kappa(&a, &b).unwrap() - 0.4).abs() < 1e-12);
        assert!((cohen_kappa(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(
            cohen_kappa(&[1, 1], &[1, 1]),
            None,
            "no variation: undefined"
        );
    }

    #[test]
    fn fleiss_textbook_example() {
        // Fleiss (1971) as worked on the standard reference page: 10 subjects, 14 raters,
        // 5 categories; P-bar = 0.378, P_e = 0.213, kappa = 0.210.
        let t = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        assert!((fleiss_kappa(&t).unwrap() - 0.2099).abs() < 1e-3);
        assert_eq!(
            fleiss_kappa(&[vec![1, 0], vec![2, 0]]),
            None,
            "uneven raters"
        );
    }

    #[test]
    fn krippendorff_textbook_example() {
        // Krippendorff (2011), the reliability data of four observers over 12 units with
        // missing values; nominal alpha = 0.743.
        let rows: [[Option<u8>; 12]; 4] = [
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(1),
                Some(4),
                Some(1),
                Some(2),
                None,
                None,
                None,
            ],
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(2),
                Some(4),
                Some(1),
                Some(2),
                Some(5),
                None,
                Some(3),
            ],
            [
                None,
                Some(3),
                Some(3),
                Some(3),
                Some(2),
                Some(3),
                Some(4),
                Some(2),
                Some(2),
                Some(5),
                Some(1),
                None,
            ],
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(4),
                Some(4),
                Some(1),
                Some(2),
                Some(5),
                Some(1),
                None,
            ],
        ];
        let units: Vec<Vec<Option<u8>>> = (0..12)
            .map(|u| rows.iter().map(|r| r[u]).collect())
            .collect();
        assert!((krippendorff_alpha(&units).unwrap() - 0.743).abs() < 1e-3);
        // With two raters and no missing values, alpha is close to Cohen's kappa.
        let two: Vec<Vec<Option<u8>>> = vec![
            vec![Some(1), Some(1)],
            vec![Some(0), Some(1)],
            vec![Some(0), Some(0)],
            vec![Some(1), Some(1)],
        ];
        let a = krippendorff_alpha(&two).unwrap();
        assert!(a > 0.3 && a < 0.6, "{a}");
    }
}
