//! Turning a GGUF tensor into the `WeightTensor` the backbone expects: matrices stay
//! quantized, norms and biases become dense f32, llama's Q/K rows go back to Hugging
//! Face's half-split rotary order, Gemma2's norms lose the `+1` the converter added.
//!
//! The row permutation undone here is `LlamaModel.permute` in llama.cpp's
//! `convert_hf_to_gguf.py`: `w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2)`, so GGUF row
//! `h*hd + 2*i + s` holds HF row `h*hd + s*hd/2 + i`. ggml quantizes each row on its
//! own (blocks never straddle rows), so moving whole rows of quantized bytes is exact.

use std::sync::Arc;

use candle_core::Device;

use super::error::GgufError;
use super::file::GgufFile;
use super::names::{ExpectedTensor, TensorRole};
use crate::model::config::Family;
use crate::model::weights::WeightTensor;

/// Undo llama.cpp's interleaved-rotary row permutation for a tensor of `rows` rows
/// (`bytes.len() / rows` bytes each) split into `heads` heads. `None` when the rows do
/// not split into heads of even size.
pub fn unpermute_rows(bytes: &[u8], rows: usize, heads: usize) -> Option<Vec<u8>> {
    if rows == 0
        || heads == 0
        || !rows.is_multiple_of(2 * heads)
        || !bytes.len().is_multiple_of(rows)
    {
        return None;
    }
    let row_bytes = bytes.len() / rows;
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let mut out = vec![0u8; bytes.len()];
    for h in 0..heads {
        for s in 0..2 {
            for i in 0..half {
                let hf_row = h * head_dim + s * half + i;
                let gguf_row = h * head_dim + 2 * i + s;
                out[hf_row * row_bytes..(hf_row + 1) * row_bytes]
                    .copy_from_slice(&bytes[gguf_row * row_bytes..(gguf_row + 1) * row_bytes]);
            }
        }
    }
    Some(out)
}

/// Check that the file holds `e` with the expected shape, without reading it.
pub(super) fn check_tensor(file: &GgufFile, e: &ExpectedTensor) -> Result<(), GgufError> {
    let Some(dims) = file.tensor_dims(&e.gguf_name) else {
        return Err(GgufError::MissingTensor {
            path: file.path().to_path_buf(),
            tensor: e.gguf_name.clone(),
            hf_name: e.hf_name.clone(),
        });
    };
    if dims != e.shape.as_slice() {
        return Err(GgufError::ShapeMismatch {
            path: file.path().to_path_buf(),
            tensor: e.gguf_name.clone(),
            expected: e.shape.clone(),
            found: dims.to_vec(),
        });
    }
    Ok(())
}

/// Read `e` and convert it to the form the backbone takes.
pub(super) fn load_tensor(
    file: &mut GgufFile,
    e: &ExpectedTensor,
    family: Family,
    device: &Device,
) -> Result<WeightTensor, GgufError> {
    let mut raw = file.read_raw(&e.gguf_name)?;
    if let Some(heads) = e.rotary_heads {
        let rows = raw.dims.first().copied().unwrap_or(0);
        raw.bytes = unpermute_rows(&raw.bytes, rows, heads).ok_or_else(|| {
            let msg = format!("{rows} rows do not split into {heads} rotary heads of even size");
            file.tensor_error(&e.gguf_name, msg)
        })?;
    }
    let q = file.to_qtensor(&e.gguf_name, raw, device)?;
    let candle_err = |err: candle_core::Error| file.tensor_error(&e.gguf_name, err.to_string());
    match e.role {
        TensorRole::Matrix => Ok(WeightTensor::Quantized(Arc::new(q))),
        TensorRole::Bias => Ok(WeightTensor::Dense(
            q.dequantize(device).map_err(candle_err)?,
        )),
        TensorRole::Norm => {
            let w = q.dequantize(device).map_err(candle_err)?;
            // llama.cpp's Gemma2 converter stores `1 + w`; HF (and our backbone) keep `w`.
            let w = if family == Family::Gemma2 {
                w.affine(1.0, -1.0).map_err(candle_err)?
            } else {
                w
            };
            Ok(WeightTensor::Dense(w))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's `permute` on row indices, written the way the converter does it.
    fn permute_like_llama_cpp(rows: &[u32], heads: usize) -> Vec<u32> {
        let hd = rows.len() / heads;
        let mut out = Vec::with_capacity(rows.len());
        for h in 0..heads {
            // reshape(heads, 2, hd/2).swapaxes(1, 2): new index (h, i, s) <- old (h, s, i)
            for i in 0..hd / 2 {
                for s in 0..2 {
                    out.push(rows[h * hd + s * (hd / 2) + i]);
                }
            }
        }
        out
    }

    #[test]
    fn unpermute_inverts_the_converter_permutation() {
        for (n_rows, heads) in [(8usize, 1usize), (24, 3), (64, 2)] {
            let hf: Vec<u32> = (0..n_rows as u32).collect();
            let gguf = permute_like_llama_cpp(&hf, heads);
            assert_ne!(gguf, hf);
            // Three bytes per row, so rows are moved as wholes, not element-wise.
            let bytes: Vec<u8> = gguf
                .iter()
                .flat_map(|&r| [r as u8, 7, r as u8 ^ 0xff])
                .collect();
            let back = unpermute_rows(&bytes, n_rows, heads).unwrap();
            let want: Vec<u8> = hf
                .iter()
                .flat_map(|&r| [r as u8, 7, r as u8 ^ 0xff])
                .collect();
            assert_eq!(back, want, "rows {n_rows}, heads {heads}");
        }
    }

    #[test]
    fn unpermute_rejects_odd_heads() {
        assert!(unpermute_rows(&[0u8; 12], 6, 2).is_none());
        assert!(unpermute_rows(&[0u8; 13], 4, 2).is_none());
        assert!(unpermute_rows(&[], 0, 1).is_none());
    }
}
