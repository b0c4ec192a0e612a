//! AdamW with PyTorch's math (decoupled weight decay, bias-corrected moments), written
//! out so its moments can be saved and a resumed run continues exactly; candle-nn's
//! `AdamW` keeps them private. Also the global gradient-norm clip of
//! `torch.nn.utils.clip_grad_norm_`.
//! <https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html>

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

pub struct AdamW {
    vars: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates applied so far (the bias corrections use it).
    t: u64,
    params: AdamWParams,
}

#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: optimizer state lacks tensor `{name}` (saved for other variables?)")]
    Missing { path: String, name: String },
    #[error("{path}: tensor `{name}` has shape {got:?}, the variable has {want:?}")]
    Shape {
        path: String,
        name: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
}

impl AdamW {
    pub fn new(vars: Vec<Var>, params: AdamWParams) -> candle_core::Result<Self> {
        let m = vars
            .iter()
            .map(|v| v.as_tensor().zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self {
            vars,
            m,
            v,
            t: 0,
            params,
        })
    }

    pub fn steps_taken(&self) -> u64 {
        self.t
    }

    /// One update with learning rate `lr`; `grads[i]` belongs to `vars[i]` (None: no
    /// gradient reached it this step, so it is left as torch leaves a `None` grad).
    pub fn step(&mut self, grads: &[Option<Tensor>], lr: f64) -> candle_core::Result<()> {
        self.t += 1;
        let p = self.params;
        let bc1 = 1.0 - p.beta1.powi(self.t as i32);
        let bc2 = 1.0 - p.beta2.powi(self.t as i32);
        for (i, var) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(i).and_then(Option::as_ref) else {
                continue;
            };
            let m = ((&self.m[i] * p.beta1)? + (g * (1.0 - p.beta1))?)?;
            let v = ((&self.v[i] * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
            let m_hat = (&m / bc1)?;
            let v_hat = (&v / bc2)?;
            let decayed = (var.as_tensor() * (1.0 - lr * p.weight_decay))?;
            let update = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
            var.set(&(decayed - (update * lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// Moments as `m.{i}` / `v.{i}` in a safetensors file; `t` goes to the checkpoint's
    /// state.json.
    pub fn save(&self, path: &Path) -> candle_core::Result<()> {
        let mut map = HashMap::new();
        for i in 0..self.vars.len() {
            map.insert(format!("m.{i}"), self.m[i].clone());
            map.insert(format!("v.{i}"), self.v[i].clone());
        }
        candle_core::safetensors::save(&map, path)
    }

    pub fn load(&mut self, path: &Path, t: u64, device: &Device) -> Result<(), OptimError> {
        let map = candle_core::safetensors::load(path, device)?;
        let shown = path.display().to_string();
        for i in 0..self.vars.len() {
            let want = self.vars[i].dims().to_vec();
            for (name, slot) in [
                (format!("m.{i}"), &mut self.m[i]),
                (format!("v.{i}"), &mut self.v[i]),
            ] {
                let tensor = map.get(&name).ok_or_else(|| OptimError::Missing {
                    path: shown.clone(),
                    name: name.clone(),
                })?;
                if tensor.dims() != want.as_slice() {
                    return Err(OptimError::Shape {
                        path: shown.clone(),
                        name,
                        got: tensor.dims().to_vec(),
                        want: want.clone(),
                    });
                }
                *slot = tensor.clone();
            }
        }
        self.t = t;
        Ok(())
    }
}

/// Scales the gradients in place so their global L2 norm is at most `max_norm`
/// (coefficient `max_norm / (norm + 1e-6)`, as torch); returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Option<Tensor>], max_norm: f64) -> candle_core::Result<f64> {
    let mut sq = 0.0f64;
    for g in grads.iter().flatten() {
        sq += g
            .sqr()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
    }
    let norm = sq.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for g in grads.iter_mut().flatten() {
            *g = (&*g * coef)?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps of AdamW on one scalar, against the formula written out by hand.
    #[test]
    fn matches_torch_adamw_by_hand() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let var = Var::new(&[1.0f32, -2.0], &dev)?;
        let params = AdamWParams {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut opt = AdamW::new(vec![var.clone()], params)?;
        let (lr, g1, g2) = (0.01f64, [0.5f64, -1.0], [0.25f64, 2.0]);
        opt.step(&[Some(Tensor::new(&[0.5f32, -1.0], &dev)?)], lr)?;
        opt.step(&[Some(Tensor::new(&[0.25f32, 2.0], &dev)?)], lr)?;
        let got = var.as_tensor().to_vec1::<f32>()?;
        for (k, p0) in [1.0f64, -2.0].into_iter().enumerate() {
            let (mut p, mut m, mut v) = (p0, 0.0, 0.0);
            for (t, g) in [(1, g1[k]), (2, g2[k])] {
                p *= 1.0 - lr * 0.1;
                m = 0.9 * m + 0.1 * g;
                v = 0.999 * v + 0.001 * g * g;
                let mh = m / (1.0 - 0.9f64.powi(t));
                let vh = v / (1.0 - 0.999f64.powi(t));
                p -= lr * mh / (vh.sqrt() + 1e-8);
            }
            assert!((got[k] as f64 - p).abs() < 1e-6, "{k}: {} vs {p}", got[k]);
        }
        assert_eq!(opt.steps_taken(), 2);
        Ok(())
    }

    #[test]
    fn saved_moments_continue_identically() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let dir = tempfile::tempdir().map_err(candle_core::Error::wrap)?;
        let params = AdamWParams {
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let g = |x: f32| Tensor::new(&[x, 2.0 * x, -x], &dev);
        let a = Var::new(&[0.1f32, 0.2, 0.3], &dev)?;
        let mut opt_a = AdamW::new(vec![a.clone()], params)?;
        opt_a.step(&[Some(g(1.0)?)], 0.1)?;
        let path = dir.path().join("opt.safetensors");
        opt_a.save(&path)?;
        let b = Var::new(&a.as_tensor().to_vec1::<f32>()?[..], &dev)?;
        let mut opt_b = AdamW::new(vec![b.clone()], params)?;
        opt_b.load(&path, opt_a.steps_taken(), &dev).unwrap();
        opt_a.step(&[Some(g(0.5)?)], 0.1)?;
        opt_b.step(&[Some(g(0.5)?)], 0.1)?;
        assert_eq!(
            a.as_tensor().to_vec1::<f32>()?,
            b.as_tensor().to_vec1::<f32>()?
        );
        Ok(())
    }

    #[test]
    fn clipping_scales_to_the_max_norm() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // Global norm of (3, 4) and (12) is 13.
        let mut grads = vec![
            Some(Tensor::new(&[3.0f32, 4.0], &dev)?),
            None,
            Some(Tensor::new(&[12.0f32], &dev)?),
        ];
        let norm = clip_grad_norm(&mut grads, 1.0)?;
        assert!((norm - 13.0).abs() < 1e-9);
        let a = grads[0].as_ref().unwrap().to_vec1::<f32>()?;
        assert!((a[0] - 3.0 / 13.0).abs() < 1e-6 && (a[1] - 4.0 / 13.0).abs() < 1e-6);
        // Under the limit nothing changes.
        let mut small = vec![Some(Tensor::new(&[0.3f32], &dev)?)];
        clip_grad_norm(&mut small, 1.0)?;
        assert_eq!(small[0].as_ref().unwrap().to_vec1::<f32>()?, vec![0.3]);
        Ok(())
    }
}
