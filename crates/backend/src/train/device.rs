//! Where a graph runs: dfdx's `Cpu`, or its `Cuda` device when deitc is built with
//! `--features cuda`. The loop never names a device; [`Backend`] is the one seam.

use crate::ir::Device as DeviceIr;
use dfdx::prelude::*;

/// A dfdx device deitc can train on.
pub trait Backend: Device<f32> + TensorToArray<(), f32, Array = f32> + Clone + 'static {
    /// The device's name as the language spells it (`train.device`).
    const NAME: &'static str;
    /// Opens the device with its random generator seeded from `seed`.
    fn open(seed: u64) -> Result<Self, String>;
}

impl Backend for Cpu {
    const NAME: &'static str = "cpu";
    fn open(seed: u64) -> Result<Self, String> {
        Ok(Cpu::seed_from_u64(seed))
    }
}

#[cfg(feature = "cuda")]
impl Backend for Cuda {
    const NAME: &'static str = "cuda";
    /// cudarc's device constructor unwraps the driver's answers (no GPU, a stub or missing
    /// driver), so a panic there is caught, kept quiet, and becomes the error.
    fn open(seed: u64) -> Result<Self, String> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let opened = std::panic::catch_unwind(|| Cuda::try_build(0, seed));
        std::panic::set_hook(hook);
        match opened {
            Ok(device) => device.map_err(|e| format!("{e:?}")),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the CUDA driver could not be initialised".into());
                let unwrapped = "called `Result::unwrap()` on an `Err` value: ";
                Err(message.trim_start_matches(unwrapped).to_string())
            }
        }
    }
}

/// Whether this build of deitc can run on `device`.
pub fn available(device: DeviceIr) -> bool {
    match device {
        DeviceIr::Cpu => true,
        DeviceIr::Cuda => cfg!(feature = "cuda"),
    }
}
