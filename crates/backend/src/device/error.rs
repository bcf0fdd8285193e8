//! [`DeviceError`]: why a device cannot run a graph.

use deitc_diag::{Code, Describe, Description};

/// A device this build or this machine cannot open.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceError {
    /// `--device cuda` on a build without the `cuda` feature.
    NoCuda,
    /// The device exists in this build but could not be opened (no GPU, no driver).
    Unavailable { device: String, message: String },
}

impl Describe for DeviceError {
    fn describe(&self) -> Description {
        match self {
            DeviceError::NoCuda => {
                Description::new(Code::RunNoCuda, "this build of deitc has no CUDA support").help(
                    "build with `cargo build --release --features cuda`, or pass `--device cpu`",
                )
            }
            DeviceError::Unavailable { device, message } => Description::new(
                Code::RunDeviceUnavailable,
                format!("cannot open the `{device}` device: {message}"),
            )
            .help("check the GPU and its driver (`nvidia-smi`), or pass `--device cpu`"),
        }
    }
}
