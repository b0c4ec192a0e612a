//! `r2ec bench`: the speed figures of the model core, printed as numbers (not a timed
//! test): prefill and decode tokens/s, item-table build items/s, full-catalogue scoring
//! time, peak resident memory.
//!
//! Prefill and batch-1 decode use the same fixed 343-token ChatML prompt and the same
//! protocol as the llama.cpp anchor (prompt in one forward from an empty cache; exactly N
//! greedy steps, end of sequence ignored; median of the repeats), so the two can be
//! compared figure for figure. `gpu` holds the GPU check's parts (parity with the CPU,
//! the device sampler, seconds per recommendation, a short RecPO run).

pub mod decode;
pub mod gpu;
pub mod prompt;
pub mod scoring;

pub use decode::{bench_decode, bench_prefill};
pub use prompt::anchor_prompt;
pub use scoring::{bench_item_table, bench_scoring};

/// Peak resident memory of this process in MiB (Linux `VmHWM`), when known.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Restarts the peak that [`peak_rss_mib`] reports from the current resident memory
/// (Linux: writing 5 to `/proc/self/clear_refs`), so one process can measure the peak
/// of several configurations in turn. False where the kernel does not offer it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Median of a non-empty list (the mean of the middle two for even lengths).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_odd_even_empty() {
        assert_eq!(super::median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(super::median(&[]), 0.0);
    }
}
