//! glibc's malloc, tuned for tensors. By default it serves every allocation above its
//! mmap threshold (128 KiB to start) with fresh pages from the kernel and gives them
//! back on free, and it trims the heap's free top above 128 KiB. A training pass
//! allocates and frees activation-sized tensors (hundreds of KiB to tens of MiB) all the
//! time, so most of them came back as new pages that fault in zeroed: a LoRA update of a
//! 32-row decode step took 200 µs instead of 20, and a RecPO step spent a tenth of its
//! time there. Raising the mmap threshold and never trimming keeps freed memory in the
//! heap for reuse. (A trim threshold of 2 GiB was not enough: a RecPO step frees its
//! whole 9 GiB of activations at once, the heap's free top was handed back, and the next
//! step faulted it all in again.)
//! (mimalloc and jemalloc as the global allocator were both slower here.)

/// Allocations below this come from the heap and are reused after free (SASRec's
/// logits on ML-1M are about 400 MiB).
pub const MMAP_THRESHOLD: usize = 1 << 30;
/// The trim threshold glibc is given: mallopt takes an `int` and stores it as a
/// `size_t`, so -1 is the largest threshold there is: the heap's free top is never
/// handed back (the process keeps its peak, which it reaches again every step).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const NEVER_TRIM: libc::c_int = -1;

/// Applies the thresholds above; whether glibc took them (false on other C libraries,
/// where nothing is changed). Call it first in `main`, before threads start.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only stores the parameter; it is called before other threads.
        let set =
            |param: libc::c_int, value: libc::c_int| unsafe { libc::mallopt(param, value) == 1 };
        let mmap = libc::c_int::try_from(MMAP_THRESHOLD).unwrap_or(libc::c_int::MAX);
        set(libc::M_MMAP_THRESHOLD, mmap) && set(libc::M_TRIM_THRESHOLD, NEVER_TRIM)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc accepts both settings (the build and CI machines are glibc Linux).
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_thresholds() {
        assert!(keep_freed_memory());
        // A 1 MiB buffer now comes from the heap, which still hands out working memory.
        let v = vec![7u8; 1 << 20];
        assert_eq!(v.iter().map(|&x| x as usize).sum::<usize>(), 7 << 20);
    }
}
