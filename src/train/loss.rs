//! The two losses of RecPO (SPEC §5.5), as differentiable candle expressions:
//! - the clipped surrogate `-min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)` with
//!   `r = exp(logp - old_logp)`; RecPO makes one update per rollout, so `old_logp` is
//!   `logp` detached (r = 1 in value, its gradient flows), as in the reference's GRPO;
//! - the item loss's log-probability of the target under a softmax of cos(h_T, v) / tau
//!   over the batch's target-item vectors (in-batch negatives).
//!
//! Clipping (asymmetric, DAPO's "clip-higher"): <https://arxiv.org/abs/2503.14476>.

use candle_core::{DType, Tensor, D};

/// The ratio's clip range [1 - eps_low, 1 + eps_high].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipRange {
    pub eps_low: f64,
    pub eps_high: f64,
}

/// The summed clipped objective of some tokens and how many of them were clipped.
pub struct ClippedSum {
    /// `sum_t -min(r_t A_t, clip(r_t) A_t)`, a scalar with gradient.
    pub loss_sum: Tensor,
    /// Tokens where the clipped branch is the one taken and carries no gradient.
    pub clipped: usize,
    pub count: usize,
}

/// The clipped surrogate summed over tokens. `logp`, `old_logp` and `adv` are `[T]`;
/// the caller divides by its own token count (RecPO averages over every generated token
/// of every chain in the batch, one global mean, so long chains weigh more than short).
pub fn clipped_objective_sum(
    logp: &Tensor,
    old_logp: &Tensor,
    adv: &Tensor,
    clip: ClipRange,
) -> candle_core::Result<ClippedSum> {
    let count = logp.dim(0)?;
    if count == 0 {
        return Ok(ClippedSum {
            loss_sum: Tensor::zeros((), DType::F32, logp.device())?,
            clipped: 0,
            count,
        });
    }
    let ratio = (logp - old_logp)?.exp()?;
    let (lo, hi) = (1.0 - clip.eps_low, 1.0 + clip.eps_high);
    let surrogate = (&ratio * adv)?;
    let clipped = (ratio.clamp(lo, hi)? * adv)?;
    let loss_sum = surrogate.minimum(&clipped)?.neg()?.sum_all()?;
    // Clipping is active where the ratio left the range in the direction the
    // advantage pushes it: min() then takes the constant branch.
    let r = ratio.to_vec1::<f32>()?;
    let a = adv.to_vec1::<f32>()?;
    let clipped = r
        .iter()
        .zip(&a)
        .filter(|(&r, &a)| (a > 0.0 && r as f64 > hi) || (a < 0.0 && (r as f64) < lo))
        .count();
    Ok(ClippedSum {
        loss_sum,
        clipped,
        count,
    })
}

/// Log-probability of each `targets[t]` under `logits` `[T, V]`.
pub fn token_logprobs(logits: &Tensor, targets: &[u32]) -> candle_core::Result<Tensor> {
    let idx = Tensor::new(targets, logits.device())?.unsqueeze(1)?;
    candle_nn::ops::log_softmax(logits, D::Minus1)?
        .gather(&idx, 1)?
        .squeeze(1)
}

/// `x / max(|x|, 1e-12)` row-wise, differentiable (F.normalize).
pub fn l2_normalise(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
    x.broadcast_div(&norm)
}

/// In-batch item log-probabilities: row i of `user` `[N, H]` against every row of
/// `items` `[B, H]`, logits cos / tau, softmax over the B items; returns
/// `log p(items[own[i]] | user i)` `[N]`. Columns holding the same item as the row's
/// own target (`same[i][j]`, j != own[i]) are left out: a duplicate is no negative.
pub fn in_batch_item_logprobs(
    user: &Tensor,
    items: &Tensor,
    own: &[usize],
    same: &[Vec<bool>],
    tau: f64,
) -> candle_core::Result<Tensor> {
    let (n, b) = (user.dim(0)?, items.dim(0)?);
    let logits = (l2_normalise(user)?.matmul(&l2_normalise(items)?.t()?)? / tau)?;
    let mut mask = vec![0f32; n * b];
    for i in 0..n {
        for j in 0..b {
            if j != own[i] && same[i][j] {
                mask[i * b + j] = -1e9;
            }
        }
    }
    let logits = (logits + Tensor::from_vec(mask, (n, b), user.device())?)?;
    let own: Vec<u32> = own.iter().map(|&j| j as u32).collect();
    token_logprobs(&logits, &own)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    const CLIP: ClipRange = ClipRange {
        eps_low: 0.2,
        eps_high: 0.28,
    };

    /// With old = new (one update per rollout) the loss is -mean(A) and its gradient
    /// with respect to logp is -A / T: no token is clipped.
    #[test]
    fn on_policy_gradient_is_minus_advantage() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let logp = Var::new(&[-1.0f32, -0.5, -2.0], &dev)?;
        let adv = Tensor::new(&[1.5f32, -0.5, 0.0], &dev)?;
        let old = logp.as_tensor().detach();
        let s = clipped_objective_sum(logp.as_tensor(), &old, &adv, CLIP)?;
        let loss = (s.loss_sum / 3.0)?;
        assert!((loss.to_scalar::<f32>()? - (-1.0 / 3.0)).abs() < 1e-6);
        let g = loss.backward()?.get(&logp).unwrap().to_vec1::<f32>()?;
        for (g, a) in g.iter().zip([1.5f32, -0.5, 0.0]) {
            assert!((g + a / 3.0).abs() < 1e-6, "{g} vs {}", -a / 3.0);
        }
        assert_eq!(s.clipped, 0);
        Ok(())
    }

    /// Off-policy ratios: above 1 + eps_high with A > 0 and below 1 - eps_low with A < 0
    /// are clipped (value from the clip bound, no gradient); the other side is not.
    #[test]
    fn clipping_by_hand() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let ratios = [1.5f32, 1.5, 0.5, 0.5, 1.1];
        let adv = [1.0f32, -1.0, -1.0, 1.0, 2.0];
        let new = Var::new(&ratios.map(|r| r.ln())[..], &dev)?;
        let old = Tensor::zeros(5, DType::F32, &dev)?;
        let a = Tensor::new(&adv[..], &dev)?;
        let s = clipped_objective_sum(new.as_tensor(), &old, &a, CLIP)?;
        // -min(rA, clip(r)A) per token.
        let want = -1.28 + 1.5 + 0.8 - 0.5 - 1.1 * 2.0;
        assert!((s.loss_sum.to_scalar::<f32>()? as f64 - want).abs() < 1e-5);
        assert_eq!((s.clipped, s.count), (2, 5));
        let g = s.loss_sum.backward()?.get(&new).unwrap().to_vec1::<f32>()?;
        // d/dlogp of -rA is -rA where unclipped, 0 where clipped.
        let want_g = [0.0, 1.5, 0.0, -0.5, -2.2];
        for (g, w) in g.iter().zip(want_g) {
            assert!((g - w).abs() < 1e-5, "{g:?} vs {want_g:?}");
        }
        Ok(())
    }

    #[test]
    fn in_batch_logprobs_by_hand() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // User 0 points at item 0, user 1 halfway between item 0 and item 1.
        let user = Tensor::new(&[[2.0f32, 0.0], [1.0, 1.0]], &dev)?;
        let items = Tensor::new(&[[1.0f32, 0.0], [0.0, 3.0], [1.0, 0.0]], &dev)?;
        let same = vec![vec![true, false, true], vec![false, true, false]];
        let lp = in_batch_item_logprobs(&user, &items, &[0, 1], &same, 0.5)?.to_vec1::<f32>()?;
        // Row 0: item 2 duplicates the target and is left out: logits 2 and 0.
        let want0 = 2.0 - (2f64.exp() + 1.0).ln();
        // Row 1: cos = 1/sqrt2 to items 0, 1 and 2: uniform over three.
        let want1 = -(3f64).ln();
        assert!((lp[0] as f64 - want0).abs() < 1e-5, "{lp:?}");
        assert!((lp[1] as f64 - want1).abs() < 1e-5, "{lp:?}");
        Ok(())
    }

    #[test]
    fn token_logprobs_pick_the_targets() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[0.0f32, 0.0], [1.0, 3.0]], &dev)?;
        let lp = token_logprobs(&logits, &[1, 0])?.to_vec1::<f32>()?;
        assert!((lp[0] as f64 - 0.5f64.ln()).abs() < 1e-6);
        assert!((lp[1] as f64 - (1.0 - (1f64.exp() + 3f64.exp()).ln())).abs() < 1e-5);
        Ok(())
    }
}
