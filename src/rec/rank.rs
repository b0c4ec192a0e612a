//! The target's rank in a full ranking, and the top-K list, under one tie rule.
//!
//! Tie rule (deterministic, and the same in `rank_of_target` and `top_k`): items are
//! ordered by score, highest first; equal scores are ordered by catalogue position,
//! lower first. NaN scores rank below everything. Masked items (the user's history)
//! are left out; a masked target has no rank and counts as a miss.

use std::cmp::Ordering;

/// Order two (position, score) entries: higher score first, then lower position.
fn before(a: (usize, f32), b: (usize, f32)) -> Ordering {
    let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0))
}

/// 1-based rank of `target` among the unmasked items, or `None` when the target is
/// masked or out of range. `masked` lists catalogue positions (duplicates allowed).
pub fn rank_of_target(scores: &[f32], target: usize, masked: &[usize]) -> Option<usize> {
    if target >= scores.len() || masked.contains(&target) {
        return None;
    }
    let mut is_masked = vec![false; scores.len()];
    for &m in masked {
        if m < scores.len() {
            is_masked[m] = true;
        }
    }
    let t = (target, scores[target]);
    let ahead = scores
        .iter()
        .enumerate()
        .filter(|(i, _)| !is_masked[*i])
        .filter(|&(i, &s)| before((i, s), t) == Ordering::Less)
        .count();
    Some(ahead + 1)
}

/// The `k` best unmasked items as (position, score), best first.
pub fn top_k(scores: &[f32], k: usize, masked: &[usize]) -> Vec<(usize, f32)> {
    let mut is_masked = vec![false; scores.len()];
    for &m in masked {
        if m < scores.len() {
            is_masked[m] = true;
        }
    }
    let mut entries: Vec<(usize, f32)> = scores
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| !is_masked[*i])
        .collect();
    let k = k.min(entries.len());
    if k == 0 {
        return Vec::new();
    }
    // Partial selection keeps this linear in the catalogue size for small k.
    if k < entries.len() {
        entries.select_nth_unstable_by(k - 1, |a, b| before(*a, *b));
        entries.truncate(k);
    }
    entries.sort_by(|a, b| before(*a, *b));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_counts_better_items_and_skips_masked() {
        let s = [0.1, 0.9, 0.5, 0.7, 0.3];
        assert_eq!(rank_of_target(&s, 1, &[]), Some(1));
        assert_eq!(rank_of_target(&s, 2, &[]), Some(3));
        assert_eq!(rank_of_target(&s, 2, &[1]), Some(2));
        assert_eq!(rank_of_target(&s, 2, &[1, 3, 3]), Some(1));
        assert_eq!(rank_of_target(&s, 2, &[2]), None);
        assert_eq!(rank_of_target(&s, 9, &[]), None);
    }

    #[test]
    fn ties_go_to_the_lower_position() {
        let s = [0.5, 0.5, 0.5, 0.9];
        assert_eq!(rank_of_target(&s, 0, &[]), Some(2));
        assert_eq!(rank_of_target(&s, 1, &[]), Some(3));
        assert_eq!(rank_of_target(&s, 2, &[]), Some(4));
        assert_eq!(top_k(&s, 3, &[]), vec![(3, 0.9), (0, 0.5), (1, 0.5)]);
    }

    #[test]
    fn nan_ranks_last_and_top_k_agrees_with_rank() {
        let s = [f32::NAN, 0.2, 0.4, f32::NEG_INFINITY, 0.4, 0.1];
        let full = top_k(&s, 10, &[5]);
        assert_eq!(full.len(), 5);
        for (r, (pos, _)) in full.iter().enumerate() {
            assert_eq!(
                rank_of_target(&s, *pos, &[5]),
                Some(r + 1),
                "position {pos}"
            );
        }
        assert_eq!(full[0].0, 2);
        assert_eq!(full[1].0, 4);
    }
}
