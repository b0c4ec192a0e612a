//! Additive attention masks (0 or -inf) built from what each row's cache slots hold:
//! causal order, left padding (pad keys are never attended), and Gemma2's sliding
//! window measured in token positions (a key is seen when `pos(q) - pos(k) < window`,
//! as in transformers' Gemma2).

use candle_core::{Device, Tensor};

/// What one row's cache slots hold: whether each slot is a real token and its rotary
/// position (pad slots sit at 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowSlots {
    pub real: Vec<bool>,
    pub pos: Vec<u32>,
}

impl RowSlots {
    /// Position the next real token of this row gets.
    pub fn next_pos(&self) -> u32 {
        self.real.iter().filter(|&&r| r).count() as u32
    }

    /// Appends slots for new tokens and returns their positions.
    pub fn extend(&mut self, real: &[bool]) -> Vec<u32> {
        let mut next = self.next_pos();
        real.iter()
            .map(|&r| {
                let p = if r { next } else { 0 };
                next += r as u32;
                self.real.push(r);
                self.pos.push(p);
                p
            })
            .collect()
    }
}

fn allowed(row: &RowSlots, q: usize, k: usize, window: Option<usize>) -> bool {
    if k > q {
        return false;
    }
    // A pad query sees only itself, so its softmax never has all entries at -inf.
    if k == q {
        return true;
    }
    if !row.real[k] || !row.real[q] {
        return false;
    }
    match window {
        Some(w) => ((row.pos[q] - row.pos[k]) as usize) < w,
        None => true,
    }
}

/// Mask `[B, 1, L, T]` for queries in slots `q_start..q_start + L` against all `T`
/// slots, or `None` when nothing needs masking (a single query that may see every slot).
pub fn attention_mask(
    rows: &[RowSlots],
    q_start: usize,
    q_len: usize,
    window: Option<usize>,
    device: &Device,
) -> candle_core::Result<Option<Tensor>> {
    let total = q_start + q_len;
    let mut data = Vec::with_capacity(rows.len() * q_len * total);
    let mut any_masked = false;
    for row in rows {
        for q in q_start..total {
            for k in 0..total {
                let ok = allowed(row, q, k, window);
                any_masked |= !ok;
                data.push(if ok { 0f32 } else { f32::NEG_INFINITY });
            }
        }
    }
    if !any_masked {
        return Ok(None);
    }
    Tensor::from_vec(data, (rows.len(), 1, q_len, total), device).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(real: &[bool]) -> RowSlots {
        let mut r = RowSlots::default();
        r.extend(real);
        r
    }

    #[test]
    fn positions_skip_left_padding() {
        let r = row(&[false, false, true, true, true]);
        assert_eq!(r.pos, vec![0, 0, 0, 1, 2]);
        assert_eq!(r.next_pos(), 3);
    }

    #[test]
    fn pads_causality_and_window() -> candle_core::Result<()> {
        let rows = [row(&[false, true, true, true])];
        let m = attention_mask(&rows, 0, 4, Some(2), &Device::Cpu)?.expect("a mask");
        let m: Vec<Vec<f32>> = m.squeeze(0)?.squeeze(0)?.to_vec2()?;
        let seen: Vec<Vec<bool>> = m
            .iter()
            .map(|r| r.iter().map(|v| *v == 0.0).collect())
            .collect();
        assert_eq!(seen[0], [true, false, false, false]);
        assert_eq!(seen[1], [false, true, false, false]);
        assert_eq!(seen[2], [false, true, true, false]);
        // window 2: the token at position 2 no longer sees position 0
        assert_eq!(seen[3], [false, false, true, true]);
        Ok(())
    }

    #[test]
    fn single_query_over_real_tokens_needs_no_mask() -> candle_core::Result<()> {
        let rows = [row(&[true, true, true])];
        assert!(attention_mask(&rows, 2, 1, None, &Device::Cpu)?.is_none());
        Ok(())
    }
}
