//! The hook through which LoRA (or any adapter) reaches the projections of the
//! differentiable path. Target names are PEFT's `target_modules`.

use candle_core::Tensor;

/// The seven projections of a decoder layer an adapter may wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoraTarget {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl LoraTarget {
    pub const ALL: [LoraTarget; 7] = [
        Self::Q,
        Self::K,
        Self::V,
        Self::O,
        Self::Gate,
        Self::Up,
        Self::Down,
    ];

    /// The module name PEFT uses in `target_modules` and in saved adapter tensors.
    pub fn peft_name(self) -> &'static str {
        match self {
            Self::Q => "q_proj",
            Self::K => "k_proj",
            Self::V => "v_proj",
            Self::O => "o_proj",
            Self::Gate => "gate_proj",
            Self::Up => "up_proj",
            Self::Down => "down_proj",
        }
    }

    pub fn from_peft_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.peft_name() == name)
    }
}

/// What a hook does to one projection, for blocks that add the change inside a fused op
/// of their own (see [`LinearHook::update`]).
pub enum Update {
    /// The projection stays the base model's.
    Unchanged,
    /// `adapt(x, base)` is `base + delta`, with `delta` shaped as the base output.
    Delta(Tensor),
    /// Only `adapt` can say: the block takes its unfused path.
    Opaque,
}

/// Called on every projection of the differentiable path with the layer index, the
/// projection, its input `x` and the frozen base output; returns what the layer uses
/// instead (for LoRA: `base + scale * B(A(x))`).
pub trait LinearHook {
    fn adapt(
        &self,
        layer: usize,
        target: LoraTarget,
        x: &Tensor,
        base: Tensor,
    ) -> candle_core::Result<Tensor>;

    /// The change alone, where the hook can give it (the default cannot). Fused blocks
    /// call this instead of `adapt`, never both for one projection, so a hook that
    /// draws randomness (dropout) draws it once either way.
    fn update(
        &self,
        _layer: usize,
        _target: LoraTarget,
        _x: &Tensor,
    ) -> candle_core::Result<Update> {
        Ok(Update::Opaque)
    }

    /// The lowest decoder layer whose projections this hook may change (`usize::MAX`
    /// for none): every layer below it is the base model's, so its output for a given
    /// prompt can be computed once and reused. The default, 0, promises nothing.
    fn first_adapted_layer(&self) -> usize {
        0
    }
}

/// What `hook` (if any) does to one projection, for a fused block.
pub(crate) fn update_of(
    hook: Option<&dyn LinearHook>,
    layer: usize,
    target: LoraTarget,
    x: &Tensor,
) -> candle_core::Result<Update> {
    match hook {
        Some(h) => h.update(layer, target, x),
        None => Ok(Update::Unchanged),
    }
}

/// Applies `hook` (if any) to the base output of one projection.
pub(crate) fn hooked(
    hook: Option<&dyn LinearHook>,
    layer: usize,
    target: LoraTarget,
    x: &Tensor,
    base: Tensor,
) -> candle_core::Result<Tensor> {
    match hook {
        Some(h) => h.adapt(layer, target, x, base),
        None => Ok(base),
    }
}
