//! Choosing where the model runs: `--device cpu|cuda|auto`. A build without the `cuda`
//! feature, or a machine without a usable GPU, falls back to the CPU for `auto` and
//! gives a clear error for an explicit `cuda`.

use candle_core::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("--device cuda: this r2ec was built without GPU support; rebuild with `cargo build --release --features cuda` (needs the CUDA toolkit)")]
    NotBuilt,
    #[error("--device cuda: no usable CUDA GPU: {0}")]
    Unavailable(String),
}

/// The device, and a short description for headers and reports ("CPU (2 threads)", "CUDA:0").
pub fn pick_device(choice: DeviceChoice) -> Result<(Device, String), DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::Cpu, cpu_label())),
        DeviceChoice::Cuda => cuda(),
        DeviceChoice::Auto => match cuda() {
            Ok(d) => Ok(d),
            Err(_) => Ok((Device::Cpu, cpu_label())),
        },
    }
}

fn cpu_label() -> String {
    // The count the matrix kernels use (RAYON_NUM_THREADS when set), not the cores.
    let threads = candle_core::utils::get_num_threads();
    let s = if threads == 1 { "" } else { "s" };
    format!("CPU ({threads} thread{s})")
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<(Device, String), DeviceError> {
    match Device::new_cuda(0) {
        Ok(d) => Ok((d, "CUDA:0".to_string())),
        Err(e) => Err(DeviceError::Unavailable(e.to_string())),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<(Device, String), DeviceError> {
    Err(DeviceError::NotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_always_works_and_auto_never_fails() {
        assert!(pick_device(DeviceChoice::Cpu).unwrap().0.is_cpu());
        assert!(pick_device(DeviceChoice::Auto).is_ok());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn explicit_cuda_without_the_feature_says_how_to_get_it() {
        let err = pick_device(DeviceChoice::Cuda).unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
