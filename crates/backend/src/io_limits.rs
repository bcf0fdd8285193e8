//! What the back end reads, and how much of it: every input file (weights, checkpoints,
//! images, dataset files) goes through [`read`], the bounded and kind-checked read of
//! [`deitc_diag::read`] — a FIFO, a device or a socket is refused before it is opened, and
//! never more than the limit is read, whatever the file's metadata says — and every weight
//! that is loaded through [`check_finite`].
//!
//! Each reader maps a [`ReadError`] to its own phase's error (`InteropError`, `DataError`,
//! `LoadError`), so the diagnostic keeps that phase's code.

pub use deitc_diag::read::{read_bounded as read, regular_file, show_bytes, FileKind, ReadError};

/// A weight file: a checkpoint, a timm safetensors or `.pth` (8 GiB; ViT-H/14 in f32 is
/// 2.5 GB, a checkpoint with its EMA and AdamW moments four times its weights).
pub const MAX_WEIGHTS_BYTES: u64 = 8 << 30;

/// One encoded image of an image folder (256 MiB; an ImageNet JPEG is about 110 KB).
pub const MAX_IMAGE_BYTES: u64 = 256 << 20;

/// One decoded image, width × height × channels (512 MiB, the `image` crate's default
/// allocation limit, which the pure-Rust decoders keep; libjpeg-turbo's path checks it on
/// the header before allocating): a small file that declares huge dimensions is refused.
pub const MAX_DECODED_IMAGE_BYTES: u64 = 512 << 20;

/// Records in one CIFAR binary file: the whole release (60,000 images) fits in one.
pub const MAX_CIFAR_RECORDS: u64 = 60_000;

/// One IDX file (MNIST, Fashion-MNIST), as stored and, when gzipped, inflated: 1 GiB
/// (MNIST's training images are 47 MB; EMNIST's largest file is 550 MB).
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// A small text file next to a dataset (CIFAR's class names: 64 KiB).
pub const MAX_NAMES_BYTES: u64 = 64 << 10;

/// Non-finite entries of one tensor that is being loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonFinite {
    /// The tensor's name, as the file spells it.
    pub key: String,
    pub nan: usize,
    pub inf: usize,
    /// Its element count.
    pub total: usize,
}

impl NonFinite {
    /// `3 NaN and 1 infinite of 4096 values`.
    pub fn counts(&self) -> String {
        let parts: Vec<String> = [(self.nan, "NaN"), (self.inf, "infinite")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect();
        format!(
            "{} of {}",
            parts.join(" and "),
            deitc_diag::plural(self.total, "value")
        )
    }
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` holds {}", self.key, self.counts())
    }
}

/// The one finiteness check of loaded weights (import, export, `finetune.from`, `eval`,
/// `--resume`, a teacher): `Err` naming `key` and counting its NaN and infinite entries
/// when there is any.
pub fn check_finite<T: Copy + Into<f64>>(key: &str, values: &[T]) -> Result<(), NonFinite> {
    let (mut nan, mut inf) = (0, 0);
    for v in values {
        let v: f64 = (*v).into();
        nan += usize::from(v.is_nan());
        inf += usize::from(v.is_infinite());
    }
    match nan + inf {
        0 => Ok(()),
        _ => Err(NonFinite {
            key: key.to_string(),
            nan,
            inf,
            total: values.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_values_pass_and_others_are_counted() {
        assert_eq!(
            check_finite("w", &[0.0f32, -1.5, f32::MAX, f32::MIN_POSITIVE]),
            Ok(())
        );
        let e = check_finite(
            "head.weight",
            &[f32::NAN, 1.0, f32::INFINITY, f32::NEG_INFINITY],
        )
        .expect_err("non-finite");
        assert_eq!((e.nan, e.inf, e.total), (1, 2, 4));
        assert_eq!(
            e.to_string(),
            "`head.weight` holds 1 NaN and 2 infinite of 4 values"
        );
        let e = check_finite("b", &[f64::NAN]).expect_err("NaN");
        assert_eq!(e.counts(), "1 NaN of 1 value");
        assert_eq!(check_finite::<f32>("empty", &[]), Ok(()));
    }

    #[test]
    fn the_limits_read_in_binary_units() {
        assert_eq!(show_bytes(MAX_WEIGHTS_BYTES), "8 GiB");
        assert_eq!(show_bytes(MAX_IMAGE_BYTES), "256 MiB");
        assert_eq!(show_bytes(MAX_DECODED_IMAGE_BYTES), "512 MiB");
        assert_eq!(show_bytes(MAX_IDX_BYTES), "1 GiB");
    }
}
