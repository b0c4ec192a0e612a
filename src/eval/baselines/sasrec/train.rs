//! SASRec training: every train-split user sequence cut into windows of `max_len`
//! (from the most recent end), next-item prediction at every position with full-softmax
//! cross-entropy over all items (padding ignored), Adam, early stopping on valid
//! NDCG@10 with the best epoch's weights kept.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::model::SasRecModel;
use super::{left_pad, SasRec, SasRecConfig, SasRecScorer};
use crate::data::{Catalog, Example};
use crate::eval::baselines::user_sequences;
use crate::eval::run::{evaluate, select_examples, EvalOptions};
use crate::eval::EvalError;

/// One epoch, as reported while training runs.
#[derive(Debug, Clone)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub valid_ndcg10: f64,
    pub best_epoch: usize,
    pub secs: f64,
}

/// (input, labels) windows: label t is the item after input t; `PAD` labels are ignored.
fn windows(seqs: &[Vec<u32>], len: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
    let mut out = Vec::new();
    for s in seqs {
        if s.len() < 2 {
            continue;
        }
        // Positions 0..T-1 predict 1..T; cut into pieces ending at the newest position.
        let mut end = s.len() - 1;
        while end > 0 {
            let start = end.saturating_sub(len);
            out.push((
                left_pad(&s[start..end], len),
                left_pad(&s[start + 1..end + 1], len),
            ));
            end = start;
        }
    }
    out
}

/// Train on `train`, stop early on `valid`; `on_epoch` sees each epoch's numbers.
pub fn train_sasrec(
    cfg: &SasRecConfig,
    train: &[Example],
    valid: &[Example],
    catalog: &Catalog,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> Result<SasRec, EvalError> {
    if cfg.hidden == 0 || cfg.heads == 0 || !cfg.hidden.is_multiple_of(cfg.heads) {
        return Err(EvalError::Input(format!(
            "SASRec: hidden size {} must be a positive multiple of the head count {}",
            cfg.hidden, cfg.heads
        )));
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let seqs: Vec<Vec<u32>> = user_sequences(train, catalog)
        .into_iter()
        .map(|(_, s)| {
            s.iter()
                .filter_map(|i| catalog.position(&i.item_id).map(|p| p as u32 + 1))
                .collect()
        })
        .collect();
    let mut data = windows(&seqs, cfg.max_len);
    if data.is_empty() {
        return Err(EvalError::Input(
            "SASRec: the train split has no user with two interactions".into(),
        ));
    }
    let model = SasRecModel::init(cfg, catalog.len(), device, &mut rng)?;
    let mut opt = AdamW::new(
        model.vars(),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let valid_idx = select_examples(valid.len(), Some(cfg.valid_limit));
    let valid_sel: Vec<(usize, &Example)> = valid_idx.iter().map(|&i| (i, &valid[i])).collect();
    let mut sasrec = SasRec {
        model,
        best_epoch: 0,
        best_valid_ndcg10: f64::NEG_INFINITY,
    };
    let mut best: Option<Vec<Tensor>> = None;
    for epoch in 1..=cfg.max_epochs {
        let t = Instant::now();
        data.shuffle(&mut rng);
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in data.chunks(cfg.batch.max(1)) {
            let loss = batch_loss(&sasrec.model, chunk, &mut rng)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        let ndcg = if valid_sel.is_empty() {
            -loss_sum
        } else {
            let mut scorer = SasRecScorer {
                sasrec: &sasrec,
                catalog,
            };
            let opts = EvalOptions {
                batch: 512,
                batch1_samples: 0,
            };
            evaluate(catalog, &valid_sel, &mut scorer, &opts, &mut |_, _| {})?
                .metrics()
                .ndcg[1]
        };
        if ndcg > sasrec.best_valid_ndcg10 {
            sasrec.best_valid_ndcg10 = ndcg;
            sasrec.best_epoch = epoch;
            best = Some(
                sasrec
                    .model
                    .vars()
                    .iter()
                    .map(|v| v.as_tensor().copy())
                    .collect::<candle_core::Result<_>>()?,
            );
        }
        on_epoch(&EpochLog {
            epoch,
            loss: loss_sum / batches.max(1) as f64,
            valid_ndcg10: ndcg,
            best_epoch: sasrec.best_epoch,
            secs: t.elapsed().as_secs_f64(),
        });
        if epoch - sasrec.best_epoch >= cfg.patience {
            break;
        }
    }
    if let Some(best) = best {
        for (v, t) in sasrec.model.vars().iter().zip(best) {
            v.set(&t)?;
        }
    }
    Ok(sasrec)
}

/// Largest tensor a piece of the loss graph may hold. glibc serves bigger blocks with a
/// fresh mmap each time (its threshold stops growing at 32 MiB), and the kernel zeroes
/// those pages again on every use: on ML-1M (200-item windows, 3706 items) that took as
/// long as the arithmetic. Pieces under it are reused from the heap.
const PIECE_BYTES: usize = 24 << 20;

/// Mean cross-entropy over the non-padding positions of a batch of windows. The batch
/// goes through the model in sub-batches and the loss over the catalogue in row chunks,
/// each under `PIECE_BYTES`, summed into one graph: the same loss and gradient as one
/// big forward, without the large allocations.
fn batch_loss(
    model: &SasRecModel,
    batch: &[(Vec<u32>, Vec<u32>)],
    rng: &mut StdRng,
) -> Result<Tensor, EvalError> {
    let l = model.cfg.max_len;
    let per_window = (l * l).max(l * model.cfg.hidden * 4) * 4;
    let sub = (PIECE_BYTES / per_window.max(1)).clamp(1, batch.len().max(1));
    let rows_per_chunk = (PIECE_BYTES / (4 * model.n_items.max(1))).max(1);
    let dev = &model.device;
    let mut total: Option<Tensor> = None;
    let mut count = 0usize;
    for part in batch.chunks(sub) {
        let inputs: Vec<Vec<u32>> = part.iter().map(|(i, _)| i.clone()).collect();
        let h = model.forward(&inputs, Some(rng))?;
        let h = h.reshape((part.len() * l, model.cfg.hidden))?;
        let (mut rows, mut labels) = (Vec::new(), Vec::new());
        for (r, (_, lab)) in part.iter().enumerate() {
            for (t, &y) in lab.iter().enumerate() {
                if y != super::model::PAD {
                    rows.push((r * l + t) as u32);
                    labels.push(y - 1);
                }
            }
        }
        for (rows, labels) in rows
            .chunks(rows_per_chunk)
            .zip(labels.chunks(rows_per_chunk))
        {
            let n = rows.len();
            let picked = h.index_select(&Tensor::from_slice(rows, n, dev)?, 0)?;
            let logits = model.item_logits(&picked)?;
            let labels = Tensor::from_slice(labels, n, dev)?;
            // cross_entropy is a mean; weigh it by its rows so the sum is the batch total.
            let piece = (candle_nn::loss::cross_entropy(&logits, &labels)? * n as f64)?;
            total = Some(match total {
                Some(t) => (t + piece)?,
                None => piece,
            });
            count += n;
        }
    }
    let total = total.ok_or_else(|| {
        EvalError::Input("SASRec: a training batch has no position to predict".into())
    })?;
    Ok((total / count as f64)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_predict_every_next_item_once() {
        let w = windows(&[vec![1, 2, 3, 4, 5]], 3);
        assert_eq!(
            w,
            vec![
                (vec![2, 3, 4], vec![3, 4, 5]),
                (vec![0, 0, 1], vec![0, 0, 2]),
            ]
        );
        assert!(windows(&[vec![7]], 3).is_empty());
    }
}
