//! The two losses of RecPO (SPEC §5.5), as differentiable candle expressions:
//! - the clipped surrogate `-min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)` with
//!   `r = exp(logp - old_logp)`; RecPO makes one update per rollout, so `old_logp` is
//!   `logp` detached (r = 1 in value, its gradient flows), as in the reference's GRPO;
//! - the item loss's log-probability of the target under a softmax of cos(h_T, v) / tau
//!   over the batch's target-item vectors (in-batch negatives).
//!
//! Clipping (asymmetric, DAPO's "clip-higher"): <https://arxiv.org/abs/2503.14476>.

use candle_core::{DType, Device, Tensor, D};

use super::config::RecPoConfig;
use crate::data::prepared::PreparedDataset;
use crate::eval::baselines::Popularity;
use crate::rec::ItemTable;

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

/// How the item loss turns a user vector and the batch's item vectors into logits.
/// cos / tau as at inference, centred by the run's centre when it has one
/// (`crate::rec::centre`); with logQ, column j's logit is lowered by log q_j, the
/// share of item j among the train split's interactions. In-batch negatives are drawn
/// in proportion to q, so without the correction the softmax learns to demote popular
/// items (the sampled-softmax correction of Yi et al., RecSys 2019).
#[derive(Debug, Clone)]
pub struct ItemScoring {
    pub tau: f64,
    /// The centre's mean `[1, H]`.
    pub centre: Option<Tensor>,
    /// log q per catalogue position.
    log_q: Option<Vec<f32>>,
    /// The full-table term of the contrastive step (`cfg.table_loss`): the scoring
    /// rows of the run's item table `[M, H]` in catalogue order, and the term's weight.
    pub table: Option<(Tensor, f64)>,
}

impl ItemScoring {
    /// Plain cos / tau: no centre, no correction.
    pub fn plain(tau: f64) -> Self {
        Self {
            tau,
            centre: None,
            log_q: None,
            table: None,
        }
    }

    /// With the full-table term: `table`'s scoring rows (centred as `table` scores)
    /// at `weight` (0: without).
    pub fn with_table(
        mut self,
        table: &ItemTable,
        weight: f64,
        device: &Device,
    ) -> candle_core::Result<Self> {
        self.table = if weight > 0.0 {
            let rows =
                Tensor::from_slice(table.scoring_rows(), (table.len(), table.dim()), device)?;
            Some((rows, weight))
        } else {
            None
        };
        Ok(self)
    }

    /// Centred by `centre` (a `[H]` vector) when given.
    pub fn with_centre(
        mut self,
        centre: Option<&[f32]>,
        device: &Device,
    ) -> candle_core::Result<Self> {
        self.centre = match centre {
            Some(m) => Some(Tensor::from_slice(m, (1, m.len()), device)?),
            None => None,
        };
        Ok(self)
    }

    /// With the logQ correction from interaction counts per catalogue position (each
    /// count + 1, so an item never seen in train still has a finite log q).
    pub fn with_counts(mut self, counts: &[u32]) -> Self {
        let total: f64 = counts.iter().map(|&c| f64::from(c) + 1.0).sum();
        self.log_q = Some(
            counts
                .iter()
                .map(|&c| ((f64::from(c) + 1.0) / total).ln() as f32)
                .collect(),
        );
        self
    }

    /// The columns' log q for items at catalogue positions `columns` (`None` without
    /// the correction).
    pub fn log_q(&self, columns: &[usize]) -> Option<Vec<f32>> {
        let q = self.log_q.as_ref()?;
        Some(
            columns
                .iter()
                .map(|&p| q.get(p).copied().unwrap_or(0.0))
                .collect(),
        )
    }

    /// The columns' correction when `b` of them are the batch's targets (drawn by
    /// popularity) and `u` were drawn uniformly from the M items: log of each item's
    /// expected count among the columns, ln(b q_j + u / M). With `u` = 0 this is
    /// ln q_j shifted by ln b, which the softmax does not see.
    pub fn log_q_mixed(&self, columns: &[usize], b: usize, u: usize) -> Option<Vec<f32>> {
        if u == 0 {
            // The same softmax; kept bit for bit as runs without uniform negatives had it.
            return self.log_q(columns);
        }
        let q = self.log_q.as_ref()?;
        let m = q.len().max(1) as f64;
        Some(
            columns
                .iter()
                .map(|&p| {
                    let share = q.get(p).map_or(0.0, |&l| f64::from(l).exp());
                    (b as f64 * share + u as f64 / m)
                        .max(f64::MIN_POSITIVE)
                        .ln() as f32
                })
                .collect(),
        )
    }

    /// Rows of `x` `[N, H]` as scored: unit length, centred, unit length again.
    pub fn unit(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let u = l2_normalise(x)?;
        match &self.centre {
            Some(c) => l2_normalise(&u.broadcast_sub(c)?),
            None => Ok(u),
        }
    }
}

/// A run's item scoring: its tau, the centre of `table` (which is the run's, see
/// `RecPo::open`) and, with `cfg.logq`, the train split's interaction counts.
pub fn run_scoring(
    cfg: &RecPoConfig,
    data: &PreparedDataset,
    table: &ItemTable,
    device: &Device,
) -> candle_core::Result<ItemScoring> {
    let s = ItemScoring::plain(cfg.tau as f64)
        .with_centre(table.centre().map(|c| c.mean.as_slice()), device)?;
    Ok(if cfg.logq {
        s.with_counts(&Popularity::from_train(&data.train, &data.catalog).counts)
    } else {
        s
    })
}

/// In-batch item log-probabilities: row i of `user` `[N, H]` against every row of
/// `items` `[B, H]`, logits as `scoring` makes them (`log_q` `[B]`, the columns'
/// correction), softmax over the B items; returns `log p(items[own[i]] | user i)`
/// `[N]`. Columns holding the same item as the row's own target (`same[i][j]`,
/// j != own[i]) are left out: a duplicate is no negative.
pub fn in_batch_item_logprobs(
    user: &Tensor,
    items: &Tensor,
    own: &[usize],
    same: &[Vec<bool>],
    scoring: &ItemScoring,
    log_q: Option<&[f32]>,
) -> candle_core::Result<Tensor> {
    let (n, b) = (user.dim(0)?, items.dim(0)?);
    let logits = (scoring.unit(user)?.matmul(&scoring.unit(items)?.t()?)? / scoring.tau)?;
    let mut mask = vec![0f32; n * b];
    for i in 0..n {
        for j in 0..b {
            if j != own[i] && same[i][j] {
                mask[i * b + j] = -1e9;
            } else if let Some(q) = log_q {
                mask[i * b + j] = -q[j];
            }
        }
    }
    let logits = (logits + Tensor::from_vec(mask, (n, b), user.device())?)?;
    let own: Vec<u32> = own.iter().map(|&j| j as u32).collect();
    token_logprobs(&logits, &own)
}

/// The full-table term: row i of `user` `[N, H]` against every row of the item table
/// (`rows` `[M, H]`, unit and centred already, no gradient), the rows at `masked[i]`
/// (the user's history) left out unless it is the target; returns
/// `log p(rows[target[i]] | user i)` `[N]`. The target and its negatives come from the
/// same table, so nothing tells a fresh vector from a stale one: only the user side
/// learns from it, against the whole catalogue as the probe ranks it.
pub fn table_logprobs(
    user: &Tensor,
    rows: &Tensor,
    targets: &[usize],
    masked: &[Vec<usize>],
    scoring: &ItemScoring,
) -> candle_core::Result<Tensor> {
    let (n, m) = (user.dim(0)?, rows.dim(0)?);
    let logits = (scoring.unit(user)?.matmul(&rows.t()?)? / scoring.tau)?;
    let mut mask = vec![0f32; n * m];
    for (i, rows) in masked.iter().enumerate() {
        for &j in rows {
            if j < m && j != targets[i] {
                mask[i * m + j] = -1e9;
            }
        }
    }
    let logits = (logits + Tensor::from_vec(mask, (n, m), user.device())?)?;
    let targets: Vec<u32> = targets.iter().map(|&j| j as u32).collect();
    token_logprobs(&logits, &targets)
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
        let lp = in_batch_item_logprobs(
            &user,
            &items,
            &[0, 1],
            &same,
            &ItemScoring::plain(0.5),
            None,
        )?
        .to_vec1::<f32>()?;
        // Row 0: item 2 duplicates the target and is left out: logits 2 and 0.
        let want0 = 2.0 - (2f64.exp() + 1.0).ln();
        // Row 1: cos = 1/sqrt2 to items 0, 1 and 2: uniform over three.
        let want1 = -(3f64).ln();
        assert!((lp[0] as f64 - want0).abs() < 1e-5, "{lp:?}");
        assert!((lp[1] as f64 - want1).abs() < 1e-5, "{lp:?}");
        Ok(())
    }

    #[test]
    fn log_q_lowers_popular_columns_and_centre_matches_the_table() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // One user equally close to two items: plain, each gets log 1/2.
        let user = Tensor::new(&[[1.0f32, 1.0]], &dev)?;
        let items = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &dev)?;
        let same = vec![vec![true, false]];
        // Item 0 (the target) seen 3 times, item 1 once: counts + 1 = 4 and 2.
        let s = ItemScoring::plain(1.0).with_counts(&[3, 1]);
        let q = s.log_q(&[0, 1]).unwrap();
        assert!((q[0] as f64 - (4.0f64 / 6.0).ln()).abs() < 1e-6);
        // Mixed: 2 batch columns and 3 uniform ones over M = 2 items.
        let mixed = s.log_q_mixed(&[0, 1], 2, 3).unwrap();
        let want = [
            (2.0 * 4.0 / 6.0 + 1.5f64).ln(),
            (2.0 * 2.0 / 6.0 + 1.5f64).ln(),
        ];
        for (g, w) in mixed.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-6, "{mixed:?}");
        }
        assert_eq!(s.log_q_mixed(&[0, 1], 2, 0), s.log_q(&[0, 1]));
        let lp = in_batch_item_logprobs(&user, &items, &[0], &same, &s, Some(&q))?;
        // Logits c - log q: the popular target loses probability, 2 : 4 against it.
        let want = (2.0f64 / 6.0).ln();
        assert!((lp.to_vec1::<f32>()?[0] as f64 - want).abs() < 1e-5);
        // Centred scoring is the table's: unit, minus the mean, unit.
        let mean = [0.5f32, 0.5];
        let c = ItemScoring::plain(1.0).with_centre(Some(&mean), &dev)?;
        let got = c
            .unit(&Tensor::new(&[[3.0f32, 0.0]], &dev)?)?
            .to_vec2::<f32>()?;
        let want = crate::rec::Centre {
            mean: mean.to_vec(),
        }
        .apply(&[3.0, 0.0]);
        for (g, w) in got[0].iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        Ok(())
    }

    #[test]
    fn table_logprobs_mask_the_history_but_never_the_target() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let user = Tensor::new(&[[1.0f32, 1.0]], &dev)?;
        // Three unit rows; the user is equally close to rows 0 and 1, row 2 is opposite.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let rows = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0], [-h, -h]], &dev)?;
        let s = ItemScoring::plain(1.0);
        let c = h; // cos(user, row 0) = cos(user, row 1)
        let z = 2.0 * f64::from(c).exp() + (-1f64).exp();
        let lp = table_logprobs(&user, &rows, &[0], &[vec![]], &s)?.to_vec1::<f32>()?;
        assert!(
            (f64::from(lp[0]) - (f64::from(c) - z.ln())).abs() < 1e-5,
            "{lp:?}"
        );
        // Row 1 in the history: out of the softmax. The target itself is never masked.
        let z = f64::from(c).exp() + (-1f64).exp();
        let lp = table_logprobs(&user, &rows, &[0], &[vec![1, 0]], &s)?.to_vec1::<f32>()?;
        assert!(
            (f64::from(lp[0]) - (f64::from(c) - z.ln())).abs() < 1e-5,
            "{lp:?}"
        );
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
