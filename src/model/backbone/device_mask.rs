//! The masks of one-token decode steps kept on a GPU, so a step builds nothing on the
//! host and copies nothing to the device (`mask.rs` builds them on the host, which is
//! the CPU's fast path and every prefill's).
//!
//! A decode step's query is the newest slot, a real token, so what it may see is fixed
//! by the slots alone: every real slot (padding never), and with Gemma2's sliding window
//! only those less than `window` positions back. Decode steps append real tokens only, so
//! one buffer built from the cache's slots also holds the answer for every later slot:
//! 0 there, and positions counting on from each row's next one. Steps then take views of
//! it; it is rebuilt when the cache outgrows it or takes padding again.

use candle_core::{Device, Tensor};

use super::mask::RowSlots;

/// Capacity is allocated in multiples of this many slots.
const CHUNK: usize = 256;

#[derive(Debug, Clone)]
pub struct DeviceMasks {
    /// `[B, 1, 1, cap]`: 0 where a decode query may look, -inf on padding.
    bias: Tensor,
    /// `[B, 1, 1, cap]`: each slot's rotary position (f32), padding at 0.
    pos: Tensor,
    /// `[1, 1, 1, 1]` -inf, broadcast for the window's cut.
    neg_inf: Tensor,
    cap: usize,
    any_pad: bool,
}

impl DeviceMasks {
    /// From the cache's slots so far (`len` of them per row); later slots are assumed
    /// real, as decode steps make them.
    pub fn build(rows: &[RowSlots], len: usize, device: &Device) -> candle_core::Result<Self> {
        let cap = (len + 1).div_ceil(CHUNK) * CHUNK;
        let b = rows.len();
        let mut bias = Vec::with_capacity(b * cap);
        let mut pos = Vec::with_capacity(b * cap);
        let mut any_pad = false;
        for row in rows {
            let mut next = row.next_pos();
            for k in 0..cap {
                match (row.real.get(k), row.pos.get(k)) {
                    (Some(&real), Some(&p)) => {
                        any_pad |= !real;
                        bias.push(if real { 0f32 } else { f32::NEG_INFINITY });
                        pos.push(p as f32);
                    }
                    _ => {
                        bias.push(0.0);
                        pos.push(next as f32);
                        next += 1;
                    }
                }
            }
        }
        Ok(Self {
            bias: Tensor::from_vec(bias, (b, 1, 1, cap), device)?,
            pos: Tensor::from_vec(pos, (b, 1, 1, cap), device)?,
            neg_inf: Tensor::full(f32::NEG_INFINITY, (1, 1, 1, 1), device)?,
            cap,
            any_pad,
        })
    }

    /// Whether this buffer holds a step whose query is slot `len - 1`.
    pub fn covers(&self, len: usize) -> bool {
        len <= self.cap
    }

    /// The masks `[B, 1, 1, len]` of a one-token step whose query is slot `len - 1`:
    /// global layers, then sliding-window layers (when `window` is set). `None` where
    /// nothing is masked, as [`super::mask::attention_mask`] answers.
    pub fn step(
        &self,
        len: usize,
        window: Option<usize>,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        if !self.covers(len) || len == 0 {
            candle_core::bail!("decode masks built for {} slots, asked for {len}", self.cap)
        }
        let bias = self.bias.narrow(3, 0, len)?;
        let global = self.any_pad.then(|| bias.clone());
        let Some(w) = window else {
            return Ok((global, None));
        };
        let pos = self.pos.narrow(3, 0, len)?;
        let query = self.pos.narrow(3, len - 1, 1)?;
        // Keys `window` or more positions back are cut; padding stays cut.
        let far = query.broadcast_sub(&pos)?.broadcast_ge(&Tensor::full(
            w as f32,
            (1, 1, 1, 1),
            pos.device(),
        )?)?;
        let local = far.where_cond(&self.neg_inf.broadcast_as(pos.shape())?, &bias)?;
        Ok((global, Some(local)))
    }
}

/// What a decode step of `rows` over `len` slots gets from `masks`, rebuilt into it when
/// missing or too small.
pub fn step_masks(
    masks: &mut Option<DeviceMasks>,
    rows: &[RowSlots],
    len: usize,
    window: Option<usize>,
    device: &Device,
) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
    if !masks.as_ref().is_some_and(|m| m.covers(len)) {
        // The newest slot is already recorded in `rows`; the buffer starts from it.
        *masks = Some(DeviceMasks::build(rows, len, device)?);
    }
    match masks {
        Some(m) => m.step(len, window),
        None => candle_core::bail!("decode masks missing"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::backbone::mask::attention_mask;

    fn slots(real: &[bool]) -> RowSlots {
        let mut r = RowSlots::default();
        r.extend(real);
        r
    }

    fn as_rows(m: &Tensor) -> Vec<Vec<f32>> {
        let (b, _, _, t) = m.dims4().unwrap();
        m.contiguous()
            .unwrap()
            .reshape((b, t))
            .unwrap()
            .to_vec2()
            .unwrap()
    }

    /// Step after step, the device masks equal the host's, for left-padded rows, with
    /// and without a window, across a rebuild when the buffer is outgrown.
    #[test]
    fn decode_masks_equal_the_host_masks() {
        let dev = Device::Cpu;
        for window in [None, Some(3), Some(300)] {
            let mut rows = vec![
                slots(&[false, false, true, true]),
                slots(&[true, true, true, true]),
                slots(&[false, true, true, true]),
            ];
            let mut masks = None;
            let mut built = 0;
            for step in 0..(CHUNK + 10) {
                for r in rows.iter_mut() {
                    r.extend(&[true]);
                }
                let len = 5 + step;
                let before = masks.as_ref().map(|m: &DeviceMasks| m.cap);
                let (global, local) = step_masks(&mut masks, &rows, len, window, &dev).unwrap();
                if masks.as_ref().map(|m| m.cap) != before {
                    built += 1;
                }
                let want_g = attention_mask(&rows, len - 1, 1, None, &dev).unwrap();
                assert_eq!(global.map(|m| as_rows(&m)), want_g.map(|m| as_rows(&m)));
                if let Some(w) = window {
                    let want_l = attention_mask(&rows, len - 1, 1, Some(w), &dev)
                        .unwrap()
                        .map(|m| as_rows(&m));
                    let got_l = local.map(|m| as_rows(&m));
                    // The device always gives a window mask; the host none when it
                    // would cut nothing: then they must agree that nothing is cut.
                    match (got_l, want_l) {
                        (Some(g), Some(w)) => assert_eq!(g, w, "step {step}"),
                        (Some(g), None) => {
                            assert!(g.iter().flatten().all(|v| *v == 0.0), "step {step}: {g:?}")
                        }
                        (g, w) => panic!("step {step}: {g:?} vs {w:?}"),
                    }
                }
            }
            assert_eq!(built, 2, "built once, rebuilt once when outgrown");
        }
    }

    #[test]
    fn rows_without_padding_need_no_global_mask() {
        let rows = vec![slots(&[true, true, true])];
        let m = DeviceMasks::build(&rows, 3, &Device::Cpu).unwrap();
        assert!(m.step(3, None).unwrap().0.is_none());
        assert!(m.step(CHUNK + 1, None).is_err());
    }
}
