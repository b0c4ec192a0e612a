//! The base model's lower layers, computed once per prompt batch and reused. With an
//! adapter on the top layers only, the hidden states entering its first layer depend on
//! the prompt alone, not on the training step, so a trainer that encodes the same
//! prompts again and again (every item-table rebuild, every valid probe) keeps them
//! here and runs only the adapted layers. Keys are whole batches of token ids, so a
//! batch is reused only when it is the same batch, padded the same way, and the reused
//! states are bit for bit those of a full pass.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::Tensor;

/// Hidden states entering layer `layer`, per batch of prompts, up to a memory budget.
pub struct LowerStates {
    layer: usize,
    budget_bytes: usize,
    held: Mutex<(HashMap<Vec<Vec<u32>>, Tensor>, usize)>,
}

impl LowerStates {
    /// States entering `layer` (0 keeps nothing: there is no layer below), at most
    /// `budget_bytes` of them; batches past the budget are computed each time.
    pub fn new(layer: usize, budget_bytes: usize) -> Self {
        Self {
            layer,
            budget_bytes,
            held: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// The layer the states enter.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.held.lock().map(|h| h.1).unwrap_or(0)
    }

    /// The states of `batch`, computed by `compute` the first time.
    pub fn get_or_compute(
        &self,
        batch: &[Vec<u32>],
        compute: impl FnOnce() -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        if let Some(t) = self.lock()?.0.get(batch) {
            return Ok(t.clone());
        }
        let t = compute()?;
        let size = t.elem_count() * t.dtype().size_in_bytes();
        let mut held = self.lock()?;
        if held.1 + size <= self.budget_bytes {
            held.0.insert(batch.to_vec(), t.clone());
            held.1 += size;
        }
        Ok(t)
    }

    fn lock(
        &self,
    ) -> candle_core::Result<std::sync::MutexGuard<'_, (HashMap<Vec<Vec<u32>>, Tensor>, usize)>>
    {
        self.held
            .lock()
            .map_err(|_| candle_core::Error::Msg("lower-layer states: a thread panicked".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn a_batch_is_computed_once_and_the_budget_holds() {
        let states = LowerStates::new(3, 64);
        let batch = vec![vec![1u32, 2, 3], vec![4, 5]];
        let mut calls = 0;
        let mut get = |b: &[Vec<u32>], n: usize| {
            states
                .get_or_compute(b, || {
                    calls += 1;
                    Tensor::ones(n, candle_core::DType::F32, &Device::Cpu)
                })
                .unwrap()
        };
        assert_eq!(get(&batch, 8).dims(), [8]);
        assert_eq!(get(&batch, 8).dims(), [8]);
        // Another batch (the same prompts in another order) is another key.
        let other = vec![vec![4u32, 5], vec![1, 2, 3]];
        get(&other, 8);
        // Past the budget (3 x 32 bytes > 64): computed, not kept.
        let third = vec![vec![9u32]];
        get(&third, 8);
        get(&third, 8);
        assert_eq!(calls, 4);
        assert_eq!(states.bytes(), 64);
        assert_eq!(states.layer(), 3);
    }
}
