//! torchvision's `ImageFolder` layout: `<root>/<class>/<image>.png|jpg|jpeg`.
//!
//! * Classes are the sub-folders of `root`, sorted by name (byte order, as Python's
//!   `sorted` on `str`); label `k` is the `k`-th of them.
//! * Images are the files directly in a class folder whose extension is `png`, `jpg` or
//!   `jpeg` in any case, sorted by file name. Other files are ignored; unlike torchvision,
//!   nested folders inside a class folder are not walked.
//! * Decoding, in parallel: JPEG with libjpeg-turbo, Pillow's decoder, where its shared
//!   library is present ([`turbojpeg`](super::turbojpeg)), else, and for PNG, with the
//!   `image` crate (PNG and JPEG only).
//! * Channels: for `channels = 3` everything becomes RGB (grayscale is replicated, alpha is
//!   dropped, as PIL's `convert("RGB")`); for `channels = 1` colour becomes luma with PIL's
//!   `convert("L")` formula (ITU-R 601-2, `(19595 R + 38470 G + 7471 B + 2¹⁵) >> 16`).
//! * Size: see [`Fit`]. With `Fit::Square(size)` (what [`load`] uses) every image that is
//!   not already `size × size` is resized to exactly `size × size` (aspect ratio not kept)
//!   with PIL's bicubic ([`resample`](super::resample)), so the dataset has one shape;
//!   `Fit::Native` keeps each image's own size (RandomResizedCrop crops the original), and
//!   `Fit::Eval` applies the official eval resize and center crop while loading.
//! * Preloading: [`load_fit`] decodes every image up front; [`open`] may instead return a
//!   streamed dataset ([`stream`](super::stream)) that decodes each image when needed.

use super::source::Fit;
use super::stream::{decoded_bytes, streams};
use super::{DataError, Dataset};
use crate::io_limits;
use crate::ir::Preload;
pub use deitc_layout::image_folder::{is_image, Listing};
use image::{DynamicImage, GrayImage, RgbImage};
use rayon::prelude::*;
use std::path::Path;

/// Loads an ImageFolder split at `root` as `channels` (1 or 3) × `size` × `size` images.
pub fn load(root: &Path, channels: usize, size: usize) -> Result<Dataset, DataError> {
    load_fit(root, channels, Fit::Square(size), false)
}

/// Loads an ImageFolder split at `root` as `channels` (1 or 3) images sized by `fit`.
///
/// A file that cannot be read or decoded stops the load with an error naming it, unless
/// `skip_unreadable`: then it is left out and listed in [`Dataset::skipped`]. A class whose
/// files are all unreadable is still an error ([`DataError::EmptyClass`]).
pub fn load_fit(
    root: &Path,
    channels: usize,
    fit: Fit,
    skip_unreadable: bool,
) -> Result<Dataset, DataError> {
    if channels != 1 && channels != 3 {
        return Err(DataError::Config {
            field: "model.channels".into(),
            message: format!("image folders load as 1 or 3 channels, not {channels}"),
        });
    }
    fit.check()?;
    preload(root, list(root)?, channels, fit, skip_unreadable)
}

/// Opens an ImageFolder split at `root` as [`load_fit`] does, or with `preload` saying so
/// (`Never`, or `Auto` above [`PRELOAD_LIMIT`](super::stream::PRELOAD_LIMIT) decoded), as a streamed dataset that reads
/// each image when a batch needs it. Listing errors (missing folder, empty class) are
/// reported now either way; a streamed file that cannot be decoded is reported when it is
/// needed.
pub fn open(
    root: &Path,
    channels: usize,
    fit: Fit,
    skip_unreadable: bool,
    mode: Preload,
) -> Result<Dataset, DataError> {
    if channels != 1 && channels != 3 {
        return load_fit(root, channels, fit, skip_unreadable);
    }
    fit.check()?;
    let listing = list(root)?;
    let stream = match mode {
        Preload::Always => false,
        Preload::Never => true,
        Preload::Auto => streams(mode, decoded_bytes(&listing.paths(), channels, fit)),
    };
    if !stream {
        return preload(root, listing, channels, fit, skip_unreadable);
    }
    let Listing { classes, files } = listing;
    let (files, labels) = files.into_iter().unzip();
    Ok(Dataset::streamed(
        files,
        labels,
        classes,
        channels,
        fit,
        skip_unreadable,
    ))
}

/// Decodes and fits every file of `listing` in parallel.
fn preload(
    root: &Path,
    listing: Listing,
    channels: usize,
    fit: Fit,
    skip_unreadable: bool,
) -> Result<Dataset, DataError> {
    let Listing { classes, files } = listing;
    let results: Vec<Result<Fitted, DataError>> = files
        .par_iter()
        .map(|(path, _)| {
            let (img, h, w) = decode(path, channels)?;
            Ok(fit.apply(&img, (channels, h, w)))
        })
        .collect();
    let (mut images, mut sizes, mut labels, mut skipped) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut holes = std::collections::BTreeMap::new();
    let mut readable = vec![0usize; classes.len()];
    for (i, ((path, label), r)) in files.iter().zip(results).enumerate() {
        match r {
            Ok((img, size)) => {
                images.push(img);
                sizes.push(size);
                labels.push(*label);
                if let Some(n) = readable.get_mut(usize::from(*label)) {
                    *n += 1;
                }
            }
            Err(e) if skip_unreadable && super::stream::is_unreadable(&e) => {
                // The file keeps its place, blank, and answers with its error: the sample
                // order is the listing's, as when the split is streamed.
                let (blank, size) = fit.apply(&vec![0u8; channels], (channels, 1, 1));
                images.push(blank);
                sizes.push(size);
                labels.push(*label);
                holes.insert(i, (path.clone(), e.to_string()));
                skipped.push((path.clone(), e.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(k) = readable.iter().position(|&n| n == 0) {
        return Err(DataError::EmptyClass {
            path: root.join(classes.get(k).map_or("", String::as_str)),
        });
    }
    let mut d = Dataset::from_images(images, &sizes, labels, classes, channels);
    d.skipped = skipped;
    d.holes = holes;
    Ok(d)
}

/// One decoded image after its fit: the pixels and `(height, width)`.
type Fitted = (Vec<u8>, (usize, usize));

/// The sorted classes and the `(file, label)` list of an ImageFolder root (listed by
/// [`deitc_layout::image_folder::list`], the same listing `check` counts).
pub fn list(root: &Path) -> Result<Listing, DataError> {
    Ok(deitc_layout::image_folder::list(root)?)
}

/// Decodes one file (PNG or JPEG, whatever its extension) to `channels × h × w` u8 pixels (CHW) at its own size.
/// Only a regular file of at most [`MAX_IMAGE_BYTES`](crate::io_limits::MAX_IMAGE_BYTES)
/// is read.
pub fn decode(path: &Path, channels: usize) -> Result<(Vec<u8>, usize, usize), DataError> {
    let bytes =
        io_limits::read(path, io_limits::MAX_IMAGE_BYTES).map_err(|e| DataError::read(path, e))?;
    decode_bytes(&bytes, channels).map_err(|message| DataError::Decode {
        path: path.to_path_buf(),
        message,
    })
}

/// Decodes the bytes of one PNG or JPEG file (the format guessed from them) to
/// `channels × h × w` u8 pixels (CHW), or says why not. Never panics, whatever the bytes.
/// A JPEG goes to libjpeg-turbo when it is loaded ([`turbojpeg`](super::turbojpeg)), and
/// to the `image` crate when not, or when libjpeg-turbo does not decode it cleanly; at
/// most [`MAX_DECODED_IMAGE_BYTES`](io_limits::MAX_DECODED_IMAGE_BYTES) are decoded.
pub fn decode_bytes(bytes: &[u8], channels: usize) -> Result<(Vec<u8>, usize, usize), String> {
    if let Some(d) = super::turbojpeg::decode(bytes) {
        return Ok(planes(d, channels));
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(io_limits::MAX_DECODED_IMAGE_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err("the image is empty".into());
    }
    Ok(if channels == 1 {
        (luma(&img).into_raw(), h, w)
    } else {
        let rgb: RgbImage = img.to_rgb8();
        (hwc_to_chw(rgb.as_raw(), 3), h, w)
    })
}

/// libjpeg-turbo's interleaved pixels as `channels` planes, as Pillow converts its `L` or
/// `RGB` image: grayscale replicated (`convert("RGB")`), colour to luma (`convert("L")`).
fn planes(d: super::turbojpeg::Decoded, channels: usize) -> (Vec<u8>, usize, usize) {
    let px = match (d.components, channels) {
        (1, 1) => d.pixels,
        (1, _) => d.pixels.repeat(3),
        (_, 1) => d.pixels.chunks_exact(3).map(pil_luma).collect(),
        (c, _) => hwc_to_chw(&d.pixels, c),
    };
    (px, d.height, d.width)
}

/// PIL's `convert("L")` of one RGB pixel: ITU-R 601-2 luma,
/// `(19595 R + 38470 G + 7471 B + 2¹⁵) >> 16`.
fn pil_luma(p: &[u8]) -> u8 {
    let l = 19595 * u32::from(p[0]) + 38470 * u32::from(p[1]) + 7471 * u32::from(p[2]) + 0x8000;
    (l >> 16) as u8
}

/// PIL's `convert("L")`: grayscale stays as it is, colour uses ITU-R 601-2 luma.
fn luma(img: &DynamicImage) -> GrayImage {
    match img {
        DynamicImage::ImageLuma8(g) => g.clone(),
        DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_) => img.to_luma8(),
        _ => {
            let rgb = img.to_rgb8();
            let (w, h) = rgb.dimensions();
            let px = rgb.as_raw().chunks_exact(3).map(pil_luma).collect();
            GrayImage::from_raw(w, h, px).unwrap_or_else(|| GrayImage::new(w, h))
        }
    }
}

/// Interleaved H×W×C to planar C×H×W.
fn hwc_to_chw(hwc: &[u8], c: usize) -> Vec<u8> {
    let hw = hwc.len() / c;
    let mut out = vec![0; hwc.len()];
    for (i, px) in hwc.chunks_exact(c).enumerate() {
        for (k, &v) in px.iter().enumerate() {
            out[k * hw + i] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_device_named_like_an_image_is_refused_without_being_read() {
        let e = decode(Path::new("/dev/zero"), 3).expect_err("a device");
        assert!(matches!(e, DataError::Unreadable { .. }), "{e}");
        assert!(super::super::stream::is_unreadable(&e));
        assert_eq!(
            e.to_string(),
            "cannot read `/dev/zero`: it is a character device, not a regular file"
        );
    }

    #[test]
    fn bytes_that_are_no_image_are_an_error() {
        assert!(decode_bytes(b"", 3).is_err());
        assert!(decode_bytes(b"\x89PNG\r\n\x1a\n\0\0", 1).is_err());
    }
}
