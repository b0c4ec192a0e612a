//! Test helpers of the rec_head: a fake item encoder whose vectors depend only on the
//! prompt text, and a small catalogue.

use sha2::{Digest, Sha256};

use super::item_table::ItemEncoder;
use crate::data::{Catalog, Item};

#[derive(Debug, thiserror::Error)]
#[error("fake encoder failed")]
pub struct FakeError;

/// Deterministic vectors from the prompt text: equal prompts give equal vectors.
pub struct FakeEncoder {
    dim: usize,
    /// Batch sizes seen, in order.
    pub calls: Vec<usize>,
    /// Return one vector too few per batch.
    pub drop_last: bool,
    /// Fail every call.
    pub fail: bool,
}

impl FakeEncoder {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            calls: Vec::new(),
            drop_last: false,
            fail: false,
        }
    }

    /// Values in [-1, 1) drawn from SHA-256 of the prompt and the value's index.
    pub fn vector_of(prompt: &str, dim: usize) -> Vec<f32> {
        (0..dim)
            .map(|i| {
                let h = Sha256::new()
                    .chain_update(prompt)
                    .chain_update((i as u64).to_le_bytes())
                    .finalize();
                let u = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
                (u as f64 / 2f64.powi(31) - 1.0) as f32
            })
            .collect()
    }
}

impl ItemEncoder for FakeEncoder {
    type Error = FakeError;

    fn encode(&mut self, prompts: &[String]) -> Result<Vec<Vec<f32>>, FakeError> {
        self.calls.push(prompts.len());
        if self.fail {
            return Err(FakeError);
        }
        let mut out: Vec<Vec<f32>> = prompts
            .iter()
            .map(|p| Self::vector_of(p, self.dim))
            .collect();
        if self.drop_last {
            out.pop();
        }
        Ok(out)
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

/// `n` movies with ids `m0`, `m1`, ... and distinct titles.
pub fn small_catalog(n: usize) -> Catalog {
    Catalog::new(
        (0..n)
            .map(|i| Item {
                item_id: format!("m{i}"),
                title: format!("Movie number {i}"),
                domain: "movies".into(),
                year: Some(1990 + i as i32),
                genres: vec!["Drama".into()],
                average_rating: None,
                rating_number: None,
                description: None,
            })
            .collect(),
    )
}
