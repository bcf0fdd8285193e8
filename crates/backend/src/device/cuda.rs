//! dfdx's `Cuda` device as a [`Backend`]: every kernel method keeps its dfdx-op composition
//! ([`super::compose`]) until a fused CUDA kernel overrides it.

use super::{Backend, Kernels};
use dfdx::prelude::*;

impl Kernels<f32> for Cuda {}

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
