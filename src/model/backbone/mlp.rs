//! The gated feed-forward block: `down(act(gate(x)) * up(x))`, SwiGLU (SiLU) for Llama
//! and Qwen2, GeGLU with the tanh-approximated GELU for Gemma2.

use candle_core::Tensor;

use super::hook::{hooked, LinearHook, LoraTarget};
use crate::model::config::{Family, ModelConfig};
use crate::model::error::ModelError;
use crate::model::linear::{Linear, LoadOptions};
use crate::model::weights::Weights;

#[derive(Debug)]
pub struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
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
            gate: Linear::load(w, &format!("{prefix}.gate_proj.weight"), i, h, false, f)?,
            up: Linear::load(w, &format!("{prefix}.up_proj.weight"), i, h, false, f)?,
            down: Linear::load(w, &format!("{prefix}.down_proj.weight"), h, i, false, f)?,
            gelu: cfg.family == Family::Gemma2,
        })
    }

    fn act(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.gelu {
            x.gelu()
        } else {
            x.silu()
        }
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let gated = (self.act(&self.gate.forward(x)?)? * self.up.forward(x)?)?;
        self.down.forward(&gated)
    }

    pub fn forward_train(
        &self,
        x: &Tensor,
        layer: usize,
        hook: Option<&dyn LinearHook>,
    ) -> candle_core::Result<Tensor> {
        let gate = hooked(
            hook,
            layer,
            LoraTarget::Gate,
            x,
            self.gate.forward_train(x)?,
        )?;
        let up = hooked(hook, layer, LoraTarget::Up, x, self.up.forward_train(x)?)?;
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
