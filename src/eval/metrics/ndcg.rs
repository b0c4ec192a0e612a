//! NDCG@K with one relevant item: the ideal DCG is 1, so NDCG = 1 / log2(rank + 1)
//! when rank <= K, else 0 (rank starts at 1).

pub fn ndcg_at(rank: Option<usize>, k: usize) -> f64 {
    match rank {
        Some(r) if r >= 1 && r <= k => 1.0 / ((r as f64) + 1.0).log2(),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::ndcg_at;

    #[test]
    fn hand_computed() {
        assert_eq!(ndcg_at(Some(1), 10), 1.0);
        assert!((ndcg_at(Some(2), 10) - 0.630_929_753_571_457_4).abs() < 1e-12);
        assert!((ndcg_at(Some(3), 10) - 0.5).abs() < 1e-12);
        assert!((ndcg_at(Some(10), 10) - 1.0 / 11f64.log2()).abs() < 1e-12);
        assert_eq!(ndcg_at(Some(11), 10), 0.0);
        assert_eq!(ndcg_at(None, 10), 0.0);
    }
}
