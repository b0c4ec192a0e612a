//! The two forward paths against each other, padding, the KV cache, the hook.

use candle_core::{Device, Tensor, Var, D};

use super::*;
use crate::model::config::Family;
use crate::model::random::{random_weights, tiny_config};

const FAMILIES: [Family; 3] = [Family::Llama, Family::Qwen2, Family::Gemma2];

fn model(family: Family, seed: u64) -> (Backbone, Weights) {
    let cfg = tiny_config(family);
    let w = random_weights(&cfg, seed, &Device::Cpu).expect("random weights");
    let m = Backbone::new(&cfg, &w, &LoadOptions::default()).expect("backbone");
    (m, w)
}

fn ids(rows: &[&[u32]]) -> Tensor {
    let l = rows[0].len();
    let flat: Vec<u32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(flat, (rows.len(), l), &Device::Cpu).expect("ids")
}

/// Largest absolute difference of two tensors (shared by the backbone's test modules).
pub(super) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let d = (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0));
    d.and_then(|d| d.to_scalar::<f32>()).expect("diff")
}

/// `f` at `x0`, and the gradient of `sum(f(x0) * probe)` with respect to `x0`: how the
/// fused training ops are checked against candle's composites.
pub(super) fn value_and_grad(
    x0: &Tensor,
    probe: &Tensor,
    f: impl Fn(&Tensor) -> Tensor,
) -> (Tensor, Tensor) {
    let x = candle_core::Var::from_tensor(x0).expect("var");
    let y = f(x.as_tensor());
    let grads = (&y * probe)
        .and_then(|t| t.sum_all())
        .and_then(|t| t.backward())
        .expect("backward");
    let g = grads.get(x.as_tensor()).expect("a gradient for x").clone();
    (y, g)
}

const PROMPT: [u32; 9] = [5, 17, 3, 42, 8, 8, 60, 1, 33];

#[test]
fn fast_and_differentiable_paths_agree() -> candle_core::Result<()> {
    for family in FAMILIES {
        let (m, _) = model(family, 7);
        let x = ids(&[&PROMPT, &[0, 0, 0, 9, 4, 11, 2, 50, 7]]);
        let pad = ids(&[&[1; 9], &[0, 0, 0, 1, 1, 1, 1, 1, 1]]);
        let mut cache = KvCache::new(m.config(), 2);
        let fast = m.forward_hidden(&x, &mut cache, Some(&pad))?;
        let slow = m.forward_hidden_train(&x, Some(&pad), None)?;
        assert_eq!(fast.dims(), [2, 9, 32]);
        // pad positions carry no meaning; compare real tokens only
        assert!(
            max_diff(&fast.narrow(1, 3, 6)?, &slow.narrow(1, 3, 6)?) < 1e-4,
            "{family:?}"
        );
        assert!(max_diff(&fast.get(0)?, &slow.get(0)?) < 1e-4, "{family:?}");
    }
    Ok(())
}

#[test]
fn left_padded_batch_matches_each_prompt_alone() -> candle_core::Result<()> {
    for family in FAMILIES {
        let (m, _) = model(family, 11);
        let short: [u32; 5] = [9, 4, 11, 2, 50];
        let alone = |p: &[u32]| -> candle_core::Result<Tensor> {
            let mut cache = KvCache::new(m.config(), 1);
            let h = m.forward_hidden(&ids(&[p]), &mut cache, None)?;
            h.get(0)?.get(p.len() - 1)
        };
        let padded: Vec<u32> = [0u32; 4].iter().chain(short.iter()).copied().collect();
        let x = ids(&[&PROMPT, &padded]);
        let pad = ids(&[&[1; 9], &[0, 0, 0, 0, 1, 1, 1, 1, 1]]);
        let mut cache = KvCache::new(m.config(), 2);
        let h = m.forward_hidden(&x, &mut cache, Some(&pad))?;
        assert!(
            max_diff(&h.get(0)?.get(8)?, &alone(&PROMPT)?) < 1e-4,
            "{family:?}"
        );
        assert!(
            max_diff(&h.get(1)?.get(8)?, &alone(&short)?) < 1e-4,
            "{family:?}"
        );
        // a decode step after the padded prompt continues each row at its own position
        let next = ids(&[&[21], &[21]]);
        let step = m.forward_hidden(&next, &mut cache, None)?;
        let mut longer = short.to_vec();
        longer.push(21);
        assert!(
            max_diff(&step.get(1)?.get(0)?, &alone(&longer)?) < 1e-4,
            "{family:?}"
        );
    }
    Ok(())
}

#[test]
fn prefill_then_decode_equals_full_forward() -> candle_core::Result<()> {
    for family in FAMILIES {
        let (m, _) = model(family, 3);
        let mut cache = KvCache::new(m.config(), 1);
        let full = m.forward_hidden(&ids(&[&PROMPT]), &mut cache, None)?;
        cache.clear();
        assert!(cache.is_empty());
        let prefill = m.forward_hidden(&ids(&[&PROMPT[..3]]), &mut cache, None)?;
        assert!(
            max_diff(&prefill, &full.narrow(1, 0, 3)?) < 1e-4,
            "{family:?}"
        );
        // past Gemma2's window of 4, so the local layers' decode masks are exercised
        for (t, &tok) in PROMPT.iter().enumerate().skip(3) {
            let h = m.forward_hidden(&ids(&[&[tok]]), &mut cache, None)?;
            assert!(
                max_diff(&h.get(0)?.get(0)?, &full.get(0)?.get(t)?) < 1e-4,
                "{family:?} t={t}"
            );
        }
        assert_eq!(cache.len(), PROMPT.len());
        let logits = m.logits(&full.narrow(1, 8, 1)?)?;
        assert_eq!(logits.dims(), [1, 1, 64]);
    }
    Ok(())
}

#[test]
fn repeated_rows_decode_like_the_original() -> candle_core::Result<()> {
    let (m, _) = model(Family::Llama, 5);
    let mut cache = KvCache::new(m.config(), 1);
    m.forward_hidden(&ids(&[&PROMPT]), &mut cache, None)?;
    let mut copies = cache.repeat_rows(3)?;
    assert_eq!((copies.batch(), copies.len()), (3, 9));
    let a = m.forward_hidden(&ids(&[&[4]]), &mut cache, None)?;
    let b = m.forward_hidden(&ids(&[&[4], &[9], &[4]]), &mut copies, None)?;
    assert!(max_diff(&a.get(0)?, &b.get(0)?) < 1e-5);
    assert!(max_diff(&a.get(0)?, &b.get(2)?) < 1e-5);
    assert!(max_diff(&a.get(0)?, &b.get(1)?) > 1e-3);
    Ok(())
}

/// Adds a fixed vector to one projection's output in one layer.
struct AddDelta {
    layer: usize,
    target: LoraTarget,
    delta: Tensor,
}

impl LinearHook for AddDelta {
    fn adapt(
        &self,
        layer: usize,
        target: LoraTarget,
        _x: &Tensor,
        base: Tensor,
    ) -> candle_core::Result<Tensor> {
        if layer == self.layer && target == self.target {
            base.broadcast_add(&self.delta)
        } else {
            Ok(base)
        }
    }
}

#[test]
fn hook_deltas_reach_the_output_as_expected() -> candle_core::Result<()> {
    let (m, w) = model(Family::Llama, 9);
    let x = ids(&[&PROMPT]);
    let plain = m.forward_hidden_train(&x, None, None)?;
    // Attention rows sum to one, so adding delta to every value vector adds delta to
    // each head's output, i.e. W_o * delta (per head) to the o projection's output.
    let delta_v: Vec<f32> = (0..16).map(|i| 0.05 * i as f32 - 0.3).collect();
    let delta_v = Tensor::from_vec(delta_v, 16, &Device::Cpu)?;
    // query heads 0,1 read kv head 0 and heads 2,3 kv head 1
    let (kv0, kv1) = (delta_v.narrow(0, 0, 8)?, delta_v.narrow(0, 8, 8)?);
    let per_head = Tensor::cat(&[&kv0, &kv0, &kv1, &kv1], 0)?;
    let w_o = w
        .dense("model.layers.1.self_attn.o_proj.weight", &[32, 32])
        .expect("o_proj");
    let delta_o = w_o.matmul(&per_head.unsqueeze(1)?)?.squeeze(1)?;
    let via_v = AddDelta {
        layer: 1,
        target: LoraTarget::V,
        delta: delta_v,
    };
    let via_o = AddDelta {
        layer: 1,
        target: LoraTarget::O,
        delta: delta_o,
    };
    let hv = m.forward_hidden_train(&x, None, Some(&via_v))?;
    let ho = m.forward_hidden_train(&x, None, Some(&via_o))?;
    assert!(max_diff(&hv, &ho) < 1e-4);
    assert!(max_diff(&hv, &plain) > 1e-2);
    Ok(())
}

#[test]
fn differentiable_path_has_gradients() -> candle_core::Result<()> {
    let (m, _) = model(Family::Gemma2, 13);
    let var = Var::zeros(64, candle_core::DType::F32, &Device::Cpu)?;
    let hook = AddDelta {
        layer: 0,
        target: LoraTarget::Up,
        delta: var.as_tensor().clone(),
    };
    let h = m.forward_hidden_train(&ids(&[&PROMPT]), None, Some(&hook))?;
    let loss = m.logits_train(&h)?.sum_all()?;
    let grads = loss.backward()?;
    let g = grads
        .get(var.as_tensor())
        .expect("gradient for the hooked delta");
    assert!(g.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
    assert_eq!(h.dim(D::Minus1)?, 32);
    Ok(())
}

#[test]
fn peft_names_round_trip() {
    for t in LoraTarget::ALL {
        assert_eq!(LoraTarget::from_peft_name(t.peft_name()), Some(t));
    }
    assert_eq!(LoraTarget::Gate.peft_name(), "gate_proj");
}

#[test]
fn quantized_weights_stay_close_to_dense() -> candle_core::Result<()> {
    let cfg = tiny_config(Family::Qwen2);
    let w = random_weights(&cfg, 17, &Device::Cpu)?;
    let x = ids(&[&[
        3, 9, 27, 14, 5, 8, 1, 2, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49,
    ]]);
    let hidden = |opts: LoadOptions| -> candle_core::Result<Tensor> {
        let m = Backbone::new(&cfg, &w, &opts).expect("backbone");
        let mut cache = KvCache::new(&cfg, 1);
        m.forward_hidden(&x, &mut cache, None)
    };
    let dense = hidden(LoadOptions {
        format: WeightFormat::F32,
        dense_prefill: true,
    })?;
    let q8 = hidden(LoadOptions {
        format: WeightFormat::Q8_0,
        dense_prefill: false,
    })?;
    let q8_dense_prefill = hidden(LoadOptions {
        format: WeightFormat::Q8_0,
        dense_prefill: true,
    })?;
    let d = max_diff(&dense, &q8);
    assert!(d > 0.0 && d < 0.15, "q8_0 vs f32 differ by {d}");
    // Prefill through the dequantized copy keeps the weight rounding but skips the
    // rounding of activations that candle's quantized matmul adds: closer to f32.
    let d_prefill = max_diff(&dense, &q8_dense_prefill);
    assert!(d_prefill > 0.0 && d_prefill < d, "{d_prefill} vs {d}");
    assert!(max_diff(&q8, &q8_dense_prefill) > 1e-4);
    Ok(())
}

#[test]
fn a_pass_cut_at_a_layer_is_the_whole_pass_bit_for_bit() -> candle_core::Result<()> {
    for family in FAMILIES {
        let (m, _) = model(family, 19);
        let x = ids(&[&PROMPT, &[0, 0, 0, 9, 4, 11, 2, 50, 7]]);
        let pad = ids(&[&[1; 9], &[0, 0, 0, 1, 1, 1, 1, 1, 1]]);
        let real = real_flags(2, 9, Some(&pad))?;
        // A hook on the top layer only, as `--lora-layers 1` puts it.
        let delta = Tensor::full(0.25f32, m.config().hidden_size, &Device::Cpu)?;
        let hook = AddDelta {
            layer: 1,
            target: LoraTarget::O,
            delta,
        };
        let hook: Option<&dyn LinearHook> = Some(&hook);
        let mut cache = KvCache::new(m.config(), 2);
        let whole = m.forward_hidden_flags(&x, &mut cache, &real, hook)?;
        let lower = m.forward_lower_flags(&x, &real, 1, hook)?;
        let cut = m.forward_upper_flags(&lower, &real, 1, hook)?;
        assert_eq!(max_diff(&whole, &cut), 0.0, "{family:?} fast path");
        let whole = m.forward_hidden_train(&x, Some(&pad), hook)?;
        let lower = m.forward_lower_train(&x, Some(&pad), 1, hook)?;
        let cut = m.forward_upper_train(&lower, Some(&pad), 1, hook)?;
        assert_eq!(
            max_diff(&whole, &cut),
            0.0,
            "{family:?} differentiable path"
        );
        // Cut at 0 is the whole pass; the hook is seen above the cut.
        let plain = m.forward_upper_train(&m.embed(&x)?, Some(&pad), 0, None)?;
        assert!(
            max_diff(&plain, &whole) > 1e-3,
            "{family:?}: the hook changed nothing"
        );
    }
    Ok(())
}
