//! Key-to-frame latency: each key is stamped when the input thread reads it, and when
//! the first frame drawn after the key is handled reaches the terminal, the difference
//! is recorded, tagged with whether the model was generating. Lines go to an optional
//! log file; a summary (median, 95th percentile, max) is kept for the status bar.

use std::io::Write;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub ms: f64,
    pub generating: bool,
}

#[derive(Debug, Default)]
pub struct LatencyLog {
    /// Keys handled since the last frame.
    pending: Vec<Instant>,
    pub samples: Vec<Sample>,
    file: Option<std::fs::File>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

impl LatencyLog {
    pub fn new(file: Option<std::fs::File>) -> Self {
        Self {
            file,
            ..Default::default()
        }
    }

    pub fn key_handled(&mut self, at: Instant) {
        self.pending.push(at);
    }

    pub fn frame_drawn(&mut self, now: Instant, generating: bool) {
        for at in self.pending.drain(..) {
            let ms = now.duration_since(at).as_secs_f64() * 1000.0;
            self.samples.push(Sample { ms, generating });
            if let Some(f) = &mut self.file {
                let _ = writeln!(
                    f,
                    "{ms:.3}\t{}",
                    if generating { "generating" } else { "idle" }
                );
            }
        }
    }

    /// Summary of the samples taken while generating (`true`) or idle (`false`).
    pub fn summary(&self, generating: bool) -> Summary {
        let mut v: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.generating == generating)
            .map(|s| s.ms)
            .collect();
        summarise(&mut v)
    }
}

/// Nearest-rank percentiles of `v` (sorted in place).
pub fn summarise(v: &mut [f64]) -> Summary {
    if v.is_empty() {
        return Summary::default();
    }
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Summary {
        count: v.len(),
        p50: at(0.5),
        p95: at(0.95),
        max: v[v.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn records_keys_at_the_next_frame_only() {
        let mut log = LatencyLog::new(None);
        let t0 = Instant::now();
        log.key_handled(t0);
        log.frame_drawn(t0 + Duration::from_millis(5), true);
        log.frame_drawn(t0 + Duration::from_millis(50), true);
        assert_eq!(log.samples.len(), 1);
        assert!((log.samples[0].ms - 5.0).abs() < 1e-6);
        assert_eq!(log.summary(false).count, 0);
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        let s = summarise(&mut v);
        assert_eq!((s.p50, s.p95, s.max), (2.0, 4.0, 4.0));
    }
}
