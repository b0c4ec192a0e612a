//! The SASRec network (Kang & McAuley, "Self-Attentive Sequential Recommendation",
//! ICDM 2018, arXiv 1808.09781): item embedding plus a learned position embedding,
//! pre-norm causal self-attention blocks with a point-wise feed-forward layer, a final
//! layer norm, and scores as the dot product with the (shared) item embedding.
//!
//! Written with differentiable candle ops only (layer norm and softmax by hand; candle's
//! fused kernels have no backward pass), and dropout masks drawn from a seeded rng so a
//! training run is reproducible.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};
use rand::rngs::StdRng;
use rand::Rng;

use super::SasRecConfig;

/// Token 0 is padding; item at catalogue position p is token p + 1.
pub const PAD: u32 = 0;

const LN_EPS: f64 = 1e-8;

/// Names of the parameters, in a fixed order (the optimiser and the file use it).
pub fn param_shapes(cfg: &SasRecConfig, n_items: usize) -> Vec<(String, Vec<usize>)> {
    let d = cfg.hidden;
    let mut out = vec![
        ("item_emb".to_string(), vec![n_items + 1, d]),
        ("pos_emb".to_string(), vec![cfg.max_len, d]),
    ];
    for b in 0..cfg.blocks {
        for (name, shape) in [
            ("attn_norm.weight", vec![d]),
            ("attn_norm.bias", vec![d]),
            ("q.weight", vec![d, d]),
            ("q.bias", vec![d]),
            ("k.weight", vec![d, d]),
            ("k.bias", vec![d]),
            ("v.weight", vec![d, d]),
            ("v.bias", vec![d]),
            ("o.weight", vec![d, d]),
            ("o.bias", vec![d]),
            ("ffn_norm.weight", vec![d]),
            ("ffn_norm.bias", vec![d]),
            ("ffn1.weight", vec![d, d]),
            ("ffn1.bias", vec![d]),
            ("ffn2.weight", vec![d, d]),
            ("ffn2.bias", vec![d]),
        ] {
            out.push((format!("blocks.{b}.{name}"), shape));
        }
    }
    out.push(("final_norm.weight".into(), vec![d]));
    out.push(("final_norm.bias".into(), vec![d]));
    out
}

pub struct SasRecModel {
    pub cfg: SasRecConfig,
    pub n_items: usize,
    pub params: HashMap<String, Var>,
    pub device: Device,
}

impl SasRecModel {
    /// Fresh weights: normal(0, 0.02) for matrices and embeddings (RecBole's
    /// initializer_range), ones and zeros for norms and biases.
    pub fn init(
        cfg: &SasRecConfig,
        n_items: usize,
        device: &Device,
        rng: &mut StdRng,
    ) -> candle_core::Result<Self> {
        let mut params = HashMap::new();
        for (name, shape) in param_shapes(cfg, n_items) {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = if name.ends_with("norm.weight") {
                vec![1.0; n]
            } else if name.ends_with("bias") {
                vec![0.0; n]
            } else {
                (0..n).map(|_| 0.02 * normal(rng)).collect()
            };
            let t = Tensor::from_vec(data, shape, device)?;
            params.insert(name, Var::from_tensor(&t)?);
        }
        Ok(Self {
            cfg: cfg.clone(),
            n_items,
            params,
            device: device.clone(),
        })
    }

    /// Weights read back from tensors (a saved file); every parameter must be present
    /// with its shape.
    pub fn from_tensors(
        cfg: &SasRecConfig,
        n_items: usize,
        tensors: &HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self, String> {
        let mut params = HashMap::new();
        for (name, shape) in param_shapes(cfg, n_items) {
            let t = tensors
                .get(&name)
                .ok_or_else(|| format!("tensor `{name}` missing"))?;
            if t.dims() != shape.as_slice() {
                return Err(format!(
                    "tensor `{name}` has shape {:?}, expected {shape:?}",
                    t.dims()
                ));
            }
            let t = t.to_dtype(DType::F32).map_err(|e| e.to_string())?;
            params.insert(name, Var::from_tensor(&t).map_err(|e| e.to_string())?);
        }
        Ok(Self {
            cfg: cfg.clone(),
            n_items,
            params,
            device: device.clone(),
        })
    }

    /// Parameters in `param_shapes` order.
    pub fn vars(&self) -> Vec<Var> {
        param_shapes(&self.cfg, self.n_items)
            .into_iter()
            .filter_map(|(name, _)| self.params.get(&name).cloned())
            .collect()
    }

    fn p(&self, name: &str) -> candle_core::Result<&Tensor> {
        self.params
            .get(name)
            .map(|v| v.as_tensor())
            .ok_or_else(|| candle_core::Error::Msg(format!("SASRec parameter `{name}` missing")))
    }

    /// Hidden states `[B, L, d]` for left-padded token ids `[B, L]` (L = max_len).
    /// `dropout` is `Some(rng)` in training.
    pub fn forward(
        &self,
        ids: &[Vec<u32>],
        mut dropout: Option<&mut StdRng>,
    ) -> candle_core::Result<Tensor> {
        let (b, l, d) = (ids.len(), self.cfg.max_len, self.cfg.hidden);
        let flat: Vec<u32> = ids.iter().flat_map(|r| r.iter().copied()).collect();
        if flat.len() != b * l {
            candle_core::bail!("SASRec input rows must all have {l} ids");
        }
        let dev = &self.device;
        let ids_t = Tensor::from_vec(flat.clone(), b * l, dev)?;
        let mut x = self
            .p("item_emb")?
            .index_select(&ids_t, 0)?
            .reshape((b, l, d))?
            .broadcast_add(self.p("pos_emb")?)?;
        let keep: Vec<f32> = flat
            .iter()
            .map(|&t| if t == PAD { 0.0 } else { 1.0 })
            .collect();
        let timeline = Tensor::from_vec(keep, (b, l, 1), dev)?;
        let bias = attention_bias(ids, self.cfg.heads, dev)?;
        x = self
            .dropout(&x, dropout.as_deref_mut())?
            .broadcast_mul(&timeline)?;
        for blk in 0..self.cfg.blocks {
            let name = |s: &str| format!("blocks.{blk}.{s}");
            let h = self.layer_norm(&x, &name("attn_norm"))?;
            let a = self.attention(&h, &bias, blk, dropout.as_deref_mut())?;
            x = (x + self.dropout(&a, dropout.as_deref_mut())?)?;
            let h = self.layer_norm(&x, &name("ffn_norm"))?;
            let f = self.linear(&h, &name("ffn1"))?.relu()?;
            let f = self.dropout(&f, dropout.as_deref_mut())?;
            let f = self.linear(&f, &name("ffn2"))?;
            x = (x + self.dropout(&f, dropout.as_deref_mut())?)?;
            x = x.broadcast_mul(&timeline)?;
        }
        self.layer_norm(&x, "final_norm")
    }

    /// Scores of every item (catalogue order) from hidden states `[N, d]`.
    pub fn item_logits(&self, h: &Tensor) -> candle_core::Result<Tensor> {
        let items = self.p("item_emb")?.narrow(0, 1, self.n_items)?;
        h.matmul(&items.t()?)
    }

    fn attention(
        &self,
        h: &Tensor,
        bias: &Tensor,
        blk: usize,
        dropout: Option<&mut StdRng>,
    ) -> candle_core::Result<Tensor> {
        let (b, l, d) = h.dims3()?;
        let heads = self.cfg.heads;
        let dh = d / heads;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, l, heads, dh))?.transpose(1, 2)?.contiguous()
        };
        let q = split(self.linear(h, &format!("blocks.{blk}.q"))?)?;
        let k = split(self.linear(h, &format!("blocks.{blk}.k"))?)?;
        let v = split(self.linear(h, &format!("blocks.{blk}.v"))?)?;
        let scores =
            (q.matmul(&k.t()?.contiguous()?)? / (dh as f64).sqrt())?.broadcast_add(bias)?;
        let attn = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let attn = self.dropout(&attn, dropout)?;
        let out = attn
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, l, d))?;
        self.linear(&out, &format!("blocks.{blk}.o"))
    }

    fn linear(&self, x: &Tensor, name: &str) -> candle_core::Result<Tensor> {
        let w = self.p(&format!("{name}.weight"))?;
        let b = self.p(&format!("{name}.bias"))?;
        x.broadcast_matmul(&w.t()?)?.broadcast_add(b)
    }

    fn layer_norm(&self, x: &Tensor, name: &str) -> candle_core::Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + LN_EPS)?.sqrt()?)?;
        normed
            .broadcast_mul(self.p(&format!("{name}.weight"))?)?
            .broadcast_add(self.p(&format!("{name}.bias"))?)
    }

    /// Inverted dropout with a mask from the seeded rng; identity outside training.
    fn dropout(&self, x: &Tensor, rng: Option<&mut StdRng>) -> candle_core::Result<Tensor> {
        let p = self.cfg.dropout as f32;
        match rng {
            Some(rng) if p > 0.0 => {
                let scale = 1.0 / (1.0 - p);
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| if rng.random::<f32>() < p { 0.0 } else { scale })
                    .collect();
                x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
            }
            _ => Ok(x.clone()),
        }
    }
}

/// A standard normal draw (Box-Muller), so initialisation needs no extra crate.
fn normal(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Additive attention bias `[B, 1, L, L]`: 0 where query i may read key j (j <= i and
/// j is not padding), a large negative number elsewhere (not -inf, so a padded query
/// row, whose output is discarded, stays finite).
fn attention_bias(ids: &[Vec<u32>], _heads: usize, dev: &Device) -> candle_core::Result<Tensor> {
    let b = ids.len();
    let l = ids.first().map_or(0, |r| r.len());
    let mut bias = vec![0f32; b * l * l];
    for (r, row) in ids.iter().enumerate() {
        for i in 0..l {
            for (j, &t) in row.iter().enumerate() {
                if j > i || t == PAD {
                    bias[(r * l + i) * l + j] = -1e9;
                }
            }
        }
    }
    Tensor::from_vec(bias, (b, 1, l, l), dev)
}
