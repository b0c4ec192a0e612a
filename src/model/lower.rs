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

/// What is kept for a batch: the states entering the layer alone (reading last hidden
/// states), or with the lower layers' keys and values (a prefill that generation
/// continues from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kept {
    States,
    StatesAndCache,
}

type Held = (HashMap<(Kept, Vec<Vec<u32>>), Vec<Tensor>>, usize);

/// Hidden states entering layer `layer` (and, for a prefill, the keys and values of
/// the layers below), per batch of prompts, up to a memory budget.
pub struct LowerStates {
    layer: usize,
    budget_bytes: usize,
    held: Mutex<Held>,
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
        let key = (Kept::States, batch.to_vec());
        if let Some(t) = self.get(&key)? {
            return Ok(t[0].clone());
        }
        let t = compute()?;
        self.keep(key, vec![t.clone()])?;
        Ok(t)
    }

    /// What was kept for `batch` as `kind`, if anything.
    pub fn get(&self, key: &(Kept, Vec<Vec<u32>>)) -> candle_core::Result<Option<Vec<Tensor>>> {
        Ok(self.lock()?.0.get(key).cloned())
    }

    /// Keeps `tensors` for `key` when the budget allows; returns whether it did.
    pub fn keep(
        &self,
        key: (Kept, Vec<Vec<u32>>),
        tensors: Vec<Tensor>,
    ) -> candle_core::Result<bool> {
        let size: usize = tensors
            .iter()
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum();
        let mut held = self.lock()?;
        if held.1 + size > self.budget_bytes || held.0.contains_key(&key) {
            return Ok(false);
        }
        held.0.insert(key, tensors);
        held.1 += size;
        Ok(true)
    }

    fn lock(&self) -> candle_core::Result<std::sync::MutexGuard<'_, Held>> {
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
