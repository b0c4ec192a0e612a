//! The next token of every row that is sampling, chosen on the host (the CPU's path:
//! logits copied into slices for [`LogitsSampler`]) or where the logits are
//! ([`DeviceSampler`]: on a GPU only the chosen ids come back). Either way each row draws
//! from its own seeded generator, and the repetition processors and the end-of-turn ban
//! of `min_new_tokens` act on the logits first.

use candle_core::{DType, Device, Tensor};

use super::{GenerateOptions, SamplePlace};
use crate::model::error::ModelError;
use crate::model::sampling::device::DeviceSampler;
use crate::model::sampling::repetition::RepetitionState;
use crate::model::sampling::{LogitsSampler, Sampling, SamplingError};

pub(super) struct NextTokens {
    sampling: Sampling,
    /// One generator per row, seeded `seed + row`.
    samplers: Vec<LogitsSampler>,
    /// Each row's sequence so far, when repetition control is on.
    histories: Option<Vec<RepetitionState>>,
    /// Rows' prompts, for a device sampler built at the first step (when the vocabulary
    /// size is known from the logits).
    prompts: Vec<Vec<u32>>,
    on_device: bool,
    device: Option<DeviceSampler>,
    end_ids: Vec<u32>,
    min_new_tokens: usize,
    /// Tokens recorded per row.
    sampled: Vec<usize>,
}

impl NextTokens {
    /// One row per prompt (`prompts[r]` is row r's prompt); `end_ids` end a turn.
    pub fn new(
        opts: &GenerateOptions,
        prompts: &[&[u32]],
        end_ids: &[u32],
        device: &Device,
    ) -> Self {
        let on_device = match opts.sample_on {
            SamplePlace::Auto => !device.is_cpu(),
            SamplePlace::Host => false,
            SamplePlace::Device => true,
        };
        let histories = (!opts.repetition.is_off()).then(|| {
            prompts
                .iter()
                .map(|p| RepetitionState::new(opts.repetition, p))
                .collect()
        });
        Self {
            sampling: opts.sampling,
            samplers: (0..prompts.len())
                .map(|i| LogitsSampler::new(opts.seed.wrapping_add(i as u64), opts.sampling))
                .collect(),
            histories,
            prompts: if on_device {
                prompts.iter().map(|p| p.to_vec()).collect()
            } else {
                Vec::new()
            },
            on_device,
            device: None,
            end_ids: end_ids.to_vec(),
            min_new_tokens: opts.min_new_tokens,
            sampled: vec![0; prompts.len()],
        }
    }

    /// Tokens row `r` may not take next: the n-gram bans, and the end of the turn
    /// before `min_new_tokens`.
    fn banned(&self, r: usize) -> Vec<u32> {
        let mut out = self
            .histories
            .as_ref()
            .map(|h| h[r].banned().to_vec())
            .unwrap_or_default();
        if self.sampled[r] < self.min_new_tokens {
            out.extend_from_slice(&self.end_ids);
        }
        out
    }

    /// The next token of each row of `logits` (`[rows, vocab]`) where `active`, `None`
    /// elsewhere.
    pub fn choose(
        &mut self,
        logits: &Tensor,
        active: &[bool],
    ) -> Result<Vec<Option<u32>>, ModelError> {
        let rows = self.samplers.len();
        if active.len() != rows {
            return Err(ModelError::Input(format!(
                "{} activity flags for {rows} rows",
                active.len()
            )));
        }
        let banned: Vec<Vec<u32>> = (0..rows)
            .map(|r| {
                if active[r] {
                    self.banned(r)
                } else {
                    Vec::new()
                }
            })
            .collect();
        if self.on_device {
            return self.choose_on_device(logits, active, &banned);
        }
        let mut rows_l = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let mut out = vec![None; rows];
        for (r, row) in rows_l.iter_mut().enumerate() {
            if !active[r] {
                continue;
            }
            if let Some(h) = &self.histories {
                h[r].apply(row);
            }
            for &t in &banned[r] {
                if let Some(l) = row.get_mut(t as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
            out[r] = Some(self.samplers[r].sample(row)?);
        }
        Ok(out)
    }

    fn choose_on_device(
        &mut self,
        logits: &Tensor,
        active: &[bool],
        banned: &[Vec<u32>],
    ) -> Result<Vec<Option<u32>>, ModelError> {
        let (rows, vocab) = logits.dims2()?;
        if self.device.is_none() {
            let prompts: Vec<&[u32]> = self.prompts.iter().map(Vec::as_slice).collect();
            let repetition = self
                .histories
                .as_ref()
                .and_then(|h| h.first())
                .map(RepetitionState::settings)
                .unwrap_or_default();
            self.device = Some(DeviceSampler::new(
                self.sampling,
                repetition,
                &prompts,
                vocab,
                logits.device(),
            )?);
        }
        // Greedy draws nothing, as on the host; other rows draw one uniform per step.
        let greedy = self.sampling.is_greedy();
        let uniforms: Vec<f64> = (0..rows)
            .map(|r| {
                if active[r] && !greedy {
                    self.samplers[r].uniform()
                } else {
                    0.0
                }
            })
            .collect();
        let banned: Vec<&[u32]> = banned.iter().map(Vec::as_slice).collect();
        let sampler = self
            .device
            .as_mut()
            .ok_or_else(|| ModelError::Input("device sampler missing".into()))?;
        let ids = sampler.sample(logits, &uniforms, &banned)?;
        ids.into_iter()
            .zip(active)
            .map(|(id, &a)| match (a, id) {
                (false, _) => Ok(None),
                (true, Some(t)) => Ok(Some(t)),
                (true, None) => Err(SamplingError::NoFiniteLogit(vocab).into()),
            })
            .collect()
    }

    /// Row `r`'s sequence grows by `token` (a sampled token that is fed to the model).
    pub fn record(&mut self, r: usize, token: u32) {
        self.sampled[r] += 1;
        if let Some(h) = self.histories.as_mut() {
            h[r].push(token);
        }
    }
}
