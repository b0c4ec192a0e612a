//! The gated feed-forward block: `down(act(gate(x)) * up(x))`, SwiGLU (SiLU) for Llama
//! and Qwen2, GeGLU with the tanh-approximated GELU for Gemma2.

use candle_core::{Tensor, D};

use super::hook::{hooked, update_of, LinearHook, LoraTarget, Update};
use super::swiglu;
use crate::model::config::{Family, ModelConfig};
use crate::model::error::ModelError;
use crate::model::linear::{Linear, LoadOptions};
use crate::model::weights::Weights;

#[derive(Debug)]
pub struct Mlp {
    /// gate and up projections fused row-wise: `[2 I, hidden]`.
    gate_up: Linear,
    down: Linear,
    intermediate: usize,
    gelu: bool,
}

impl Mlp {
    pub fn load(
        cfg: &ModelConfig,
        w: &Weights,
        prefix: &str,
        opts: &LoadOptions,
    ) -> Result<Self, ModelError> {
        let (h, i, f) = (cfg.hidden_size, cfg.intermediate_size, opts);
        Ok(Self {
            gate_up: Linear::concat(vec![
                Linear::load(w, &format!("{prefix}.gate_proj.weight"), i, h, false, f)?,
                Linear::load(w, &format!("{prefix}.up_proj.weight"), i, h, false, f)?,
            ])?,
            down: Linear::load(w, &format!("{prefix}.down_proj.weight"), h, i, false, f)?,
            intermediate: i,
            gelu: cfg.family == Family::Gemma2,
        })
    }

    /// The block's matrices (for reports of how they are stored).
    pub fn linears(&self) -> [&Linear; 2] {
        [&self.gate_up, &self.down]
    }

    fn act(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.gelu {
            x.gelu()
        } else {
            x.silu()
        }
    }

    fn split(&self, y: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let i = self.intermediate;
        Ok((y.narrow(D::Minus1, 0, i)?, y.narrow(D::Minus1, i, i)?))
    }

    pub fn forward(
        &self,
        x: &Tensor,
        layer: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let (gate, up) = self.split(&self.gate_up.forward(x)?)?;
        let (gate, up) = match hook {
            Some(_) => (
                hooked(hook, layer, LoraTarget::Gate, x, gate)?,
                hooked(hook, layer, LoraTarget::Up, x, up)?,
            ),
            None => (gate, up),
        };
        let gated = (self.act(&gate)? * up)?;
        hooked(
            hook,
            layer,
            LoraTarget::Down,
            &gated,
            self.down.forward(&gated)?,
        )
    }

    pub fn forward_train(
        &self,
        x: &Tensor,
        layer: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let y = self.gate_up.forward_train(x)?;
        let gated = if !self.gelu && swiglu::applies(&y) {
            self.swiglu_train(&y, layer, hook, x)?
        } else {
            let (gate, up) = self.split(&y)?;
            let gate = hooked(hook, layer, LoraTarget::Gate, x, gate)?;
            let up = hooked(hook, layer, LoraTarget::Up, x, up)?;
            (self.act(&gate)? * up)?
        };
        hooked(
            hook,
            layer,
            LoraTarget::Down,
            &gated,
            self.down.forward_train(&gated)?,
        )
    }

    /// `silu(gate) * up` of the fused output `y` as one op, the adapter's updates of
    /// gate and up added inside it (`swiglu.rs`); an opaque hook takes the unfused path.
    fn swiglu_train(
        &self,
        y: &Tensor,
        layer: usize,
        hook: Option<&dyn LinearHook>,
        x: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let gate = update_of(hook, layer, LoraTarget::Gate, x)?;
        let up = update_of(hook, layer, LoraTarget::Up, x)?;
        let delta = |u: &Update| match u {
            Update::Delta(d) => Some(d.clone()),
            _ => None,
        };
        if !matches!(gate, Update::Opaque) && !matches!(up, Update::Opaque) {
            return swiglu::swiglu_train(y, delta(&gate).as_ref(), delta(&up).as_ref());
        }
        // Each projection's change is applied once, from what the hook already gave.
        let (g, u) = self.split(y)?;
        let apply = |u: Update, target, base: Tensor| match u {
            Update::Unchanged => Ok(base),
            Update::Delta(d) => base + d,
            Update::Opaque => hooked(hook, layer, target, x, base),
        };
        let g = apply(gate, LoraTarget::Gate, g)?;
        let u = apply(up, LoraTarget::Up, u)?;
        self.act(&g)? * u
    }
}
