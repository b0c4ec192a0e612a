//! The gated feed-forward block: `down(act(gate(x)) * up(x))`, SwiGLU (SiLU) for Llama
//! and Qwen2, GeGLU with the tanh-approximated GELU for Gemma2.

use candle_core::{Tensor, D};

use super::hook::{hooked, LinearHook, LoraTarget};
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
        let (gate, up) = self.split(&self.gate_up.forward_train(x)?)?;
        let gate = hooked(hook, layer, LoraTarget::Gate, x, gate)?;
        let up = hooked(hook, layer, LoraTarget::Up, x, up)?;
        let gated = (self.act(&gate)? * up)?;
        hooked(
            hook,
            layer,
            LoraTarget::Down,
            &gated,
            self.down.forward_train(&gated)?,
        )
    }
}
