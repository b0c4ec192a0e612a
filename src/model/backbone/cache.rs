//! The key/value cache of the fast path: one preallocated `[B, kv_heads, capacity, d]`
//! buffer per layer that new keys are written into in place (`slice_set`), so a decode
//! step copies only the new token's keys. It also remembers, per row, which slots are
//! padding and each slot's position, so decode steps after a left-padded prompt keep
//! the right positions and masks. On a GPU it also keeps the decode steps' masks on the
//! device (`device_mask.rs`).

use candle_core::{DType, Device, Tensor};

use super::device_mask::{step_masks, DeviceMasks};
use super::mask::RowSlots;
use crate::model::config::ModelConfig;

/// Slots are allocated in multiples of this, so a prompt and its first decode steps
/// share one allocation.
const SLOT_CHUNK: usize = 256;

#[derive(Debug, Clone)]
struct LayerKv {
    k: Tensor,
    v: Tensor,
}

/// Not `Clone`: the buffers are written in place, so a shallow copy would share them;
/// use [`KvCache::select_rows`] for a real copy.
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<Option<LayerKv>>,
    rows: Vec<RowSlots>,
    batch: usize,
    len: usize,
    /// Decode-step masks on the device, while the slots since they were built are real.
    device_masks: Option<DeviceMasks>,
}

impl KvCache {
    pub fn new(cfg: &ModelConfig, batch: usize) -> Self {
        Self {
            layers: vec![None; cfg.num_hidden_layers],
            rows: vec![RowSlots::default(); batch],
            batch,
            len: 0,
            device_masks: None,
        }
    }

    /// Forgets everything; the next forward starts at position 0 (with any batch size).
    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(|l| *l = None);
        self.rows.iter_mut().for_each(|r| *r = RowSlots::default());
        self.len = 0;
        self.device_masks = None;
    }

    /// Slots filled so far (padding included), the same for every row.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub(crate) fn rows(&self) -> &[RowSlots] {
        &self.rows
    }

    /// A cache holding rows `rows` of this one, in that order (a row may repeat).
    pub fn select_rows(&self, rows: &[usize]) -> candle_core::Result<Self> {
        if let Some(&r) = rows.iter().find(|&&r| r >= self.batch) {
            candle_core::bail!("row {r} out of range for a cache of {} rows", self.batch)
        }
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            layers.push(match layer {
                None => None,
                Some(kv) => {
                    let idx = Tensor::from_vec(
                        rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
                        rows.len(),
                        kv.k.device(),
                    )?;
                    Some(LayerKv {
                        k: kv.k.index_select(&idx, 0)?,
                        v: kv.v.index_select(&idx, 0)?,
                    })
                }
            });
        }
        Ok(Self {
            layers,
            rows: rows.iter().map(|&r| self.rows[r].clone()).collect(),
            batch: rows.len(),
            len: self.len,
            device_masks: None,
        })
    }

    /// Each row repeated `g` times in place (rows `0,0,..,1,1,..`): one prompt's cache
    /// shared by its `g` samples.
    pub fn repeat_rows(&self, g: usize) -> candle_core::Result<Self> {
        let rows: Vec<usize> = (0..self.batch)
            .flat_map(|r| std::iter::repeat_n(r, g))
            .collect();
        self.select_rows(&rows)
    }

    /// Records `real` (`[B][L]`) as the next slots and returns their positions,
    /// row-major `[B * L]`, with the slot the first of them lands in.
    pub(crate) fn extend_rows(
        &mut self,
        real: &[Vec<bool>],
    ) -> candle_core::Result<(usize, Vec<u32>)> {
        if self.is_empty() {
            self.batch = real.len();
            self.rows = vec![RowSlots::default(); real.len()];
        } else if real.len() != self.batch {
            candle_core::bail!(
                "batch of {} rows given to a cache of {} rows",
                real.len(),
                self.batch
            )
        }
        // Masks built for real slots only do not describe padding.
        if real.iter().flatten().any(|r| !r) {
            self.device_masks = None;
        }
        let start = self.len;
        let positions = self
            .rows
            .iter_mut()
            .zip(real)
            .flat_map(|(row, r)| row.extend(r))
            .collect();
        self.len += real.first().map_or(0, Vec::len);
        Ok((start, positions))
    }

    /// The masks of a one-token step just recorded (global, sliding-window), from the
    /// device-side buffer (built when missing or outgrown).
    pub(crate) fn decode_masks(
        &mut self,
        window: Option<usize>,
        device: &Device,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        step_masks(&mut self.device_masks, &self.rows, self.len, window, device)
    }

    /// Copies of the keys and values of layers `..upto` over the slots so far, in order
    /// `k0, v0, k1, v1, ...` (copies: decode steps write into the buffers in place).
    pub(crate) fn copy_lower(&self, upto: usize) -> candle_core::Result<Vec<Tensor>> {
        let mut out = Vec::with_capacity(2 * upto);
        for (i, layer) in self.layers.iter().take(upto).enumerate() {
            let kv = layer
                .as_ref()
                .ok_or_else(|| candle_core::Error::Msg(format!("layer {i} has no cache yet")))?;
            for t in [&kv.k, &kv.v] {
                let t = t.narrow(2, 0, self.len)?;
                out.push(if t.is_contiguous() {
                    t.copy()?
                } else {
                    t.contiguous()?
                });
            }
        }
        Ok(out)
    }

    /// Writes `kv` (from [`KvCache::copy_lower`]) back as the lower layers' keys and
    /// values, from slot 0, into buffers of this cache's own.
    pub(crate) fn restore_lower(&mut self, kv: &[Tensor]) -> candle_core::Result<()> {
        for (layer, pair) in kv.chunks(2).enumerate() {
            let [k, v] = pair else {
                candle_core::bail!("kept keys and values come in pairs")
            };
            self.append(layer, 0, k, v)?;
        }
        Ok(())
    }

    /// Writes keys and values `[B, kv_heads, L, d]` of `layer` at slot `start` and
    /// returns views of all slots so far.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        start: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, heads, l, d) = k.dims4()?;
        let end = start + l;
        let slot = self
            .layers
            .get_mut(layer)
            .ok_or_else(|| candle_core::Error::Msg(format!("no cache for layer {layer}")))?;
        let capacity = slot.as_ref().map_or(0, |kv| kv.k.dim(2).unwrap_or(0));
        if end > capacity {
            let new_cap = (end.max(2 * capacity)).div_ceil(SLOT_CHUNK) * SLOT_CHUNK;
            let fresh = |old: Option<&Tensor>| -> candle_core::Result<Tensor> {
                let extra =
                    Tensor::zeros((b, heads, new_cap - capacity, d), DType::F32, k.device())?;
                match old {
                    Some(old) => Tensor::cat(&[old, &extra], 2),
                    None => Ok(extra),
                }
            };
            let grown = LayerKv {
                k: fresh(slot.as_ref().map(|kv| &kv.k))?,
                v: fresh(slot.as_ref().map(|kv| &kv.v))?,
            };
            *slot = Some(grown);
        }
        let kv = slot
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("cache not allocated".into()))?;
        kv.k.slice_set(&k.contiguous()?, 2, start)?;
        kv.v.slice_set(&v.contiguous()?, 2, start)?;
        Ok((kv.k.narrow(2, 0, end)?, kv.v.narrow(2, 0, end)?))
    }
}
