//! Hit@K: 1 when the single relevant item is ranked within the first K, else 0.

/// `rank` is 1-based; `None` (the target was not rankable) is a miss.
pub fn hit_at(rank: Option<usize>, k: usize) -> f64 {
    match rank {
        Some(r) if r >= 1 && r <= k => 1.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hits() {
        assert_eq!(super::hit_at(Some(1), 5), 1.0);
        assert_eq!(super::hit_at(Some(5), 5), 1.0);
        assert_eq!(super::hit_at(Some(6), 5), 0.0);
        assert_eq!(super::hit_at(None, 5), 0.0);
    }
}
