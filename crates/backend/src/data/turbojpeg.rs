//! JPEG decoding with libjpeg-turbo, the decoder behind Pillow, through its TurboJPEG API.
//!
//! * The shared library is loaded at run time, once per process, never linked: deitc
//!   builds and runs without it, and then every JPEG goes to the `image` crate's pure-Rust
//!   decoder (zune-jpeg), whose pixels differ from Pillow's by a few levels.
//! * Where it is looked for: `$DEITC_TURBOJPEG` when it names a file, else
//!   `libturbojpeg.so.0`, then `libturbojpeg.so`, where the dynamic loader finds them (on
//!   Debian and Ubuntu the package `libturbojpeg0`). `DEITC_TURBOJPEG=off` keeps the
//!   pure-Rust decoder; [`decoder`] says which one this process uses.
//! * Decoding matches Pillow's defaults (`src/libImaging/JpegDecode.c` leaves libjpeg's
//!   defaults alone): the accurate integer IDCT (ISLOW) and fancy (smooth) chroma
//!   upsampling, which are TurboJPEG's defaults when decompressing, so neither
//!   `TJFLAG_FASTDCT` nor `TJFLAG_FASTUPSAMPLE` is set; `TJFLAG_LIMITSCANS` refuses
//!   progressive files with an absurd number of scans (a denial-of-service pattern).
//!   Output is `TJPF_RGB` for YCbCr and RGB files and `TJPF_GRAY` for grayscale ones, as
//!   Pillow opens them in mode `RGB` or `L`.
//! * Whatever this path does not decode cleanly goes to the pure-Rust decoder, image by
//!   image: CMYK and YCCK files, 12-bit and other precisions the 8-bit API refuses, an
//!   unknown subsampling, a decoded size over
//!   [`MAX_DECODED_IMAGE_BYTES`](crate::io_limits::MAX_DECODED_IMAGE_BYTES) (checked on the
//!   header before anything is allocated), and any error or warning (corrupt or truncated
//!   data), so unreadable files are reported as before.
//!
//! The FFI is this module's few small `unsafe` functions, each with its `SAFETY` argument.

use crate::io_limits;
use std::ffi::{c_int, c_uchar, c_ulong, c_void, OsStr, OsString};
use std::ptr::NonNull;
use std::sync::OnceLock;

/// The environment variable naming the library to load, or `off`.
pub const ENV: &str = "DEITC_TURBOJPEG";

/// The names tried, in order, when [`ENV`] is unset.
const NAMES: [&str; 2] = ["libturbojpeg.so.0", "libturbojpeg.so"];

// turbojpeg.h (TurboJPEG 1.4+; the same values in 2.x and 3.x).
const TJPF_RGB: c_int = 0;
const TJPF_GRAY: c_int = 6;
const TJCS_RGB: c_int = 0;
const TJCS_YCBCR: c_int = 1;
const TJCS_GRAY: c_int = 2;
/// The accurate IDCT, already TurboJPEG's default when decompressing: said, not relied on.
const TJFLAG_ACCURATEDCT: c_int = 4096;
const TJFLAG_LIMITSCANS: c_int = 32768;

type Handle = *mut c_void;
/// `tjhandle tjInitDecompress(void)`
type InitDecompress = unsafe extern "C" fn() -> Handle;
/// `int tjDecompressHeader3(tjhandle, const unsigned char *jpegBuf, unsigned long jpegSize,
/// int *width, int *height, int *jpegSubsamp, int *jpegColorspace)`
type DecompressHeader3 = unsafe extern "C" fn(
    Handle,
    *const c_uchar,
    c_ulong,
    *mut c_int,
    *mut c_int,
    *mut c_int,
    *mut c_int,
) -> c_int;
/// `int tjDecompress2(tjhandle, const unsigned char *jpegBuf, unsigned long jpegSize,
/// unsigned char *dstBuf, int width, int pitch, int height, int pixelFormat, int flags)`
type Decompress2 = unsafe extern "C" fn(
    Handle,
    *const c_uchar,
    c_ulong,
    *mut c_uchar,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
) -> c_int;
/// `int tjDestroy(tjhandle)`
type Destroy = unsafe extern "C" fn(Handle) -> c_int;

/// The four TurboJPEG functions, from a library that stays loaded for the process.
struct Api {
    init: InitDecompress,
    header: DecompressHeader3,
    decompress: Decompress2,
    destroy: Destroy,
    /// The file that was loaded, as [`Decoder::Turbo`] names it.
    file: String,
    /// Keeps the functions above mapped; never dropped (the `Api` lives in a static).
    _lib: libloading::Library,
}

/// Which JPEG decoder this process uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoder {
    /// libjpeg-turbo, from this file.
    Turbo { file: String },
    /// The `image` crate's pure-Rust decoder, and why.
    PureRust(Fallback),
}

/// Why libjpeg-turbo is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// `DEITC_TURBOJPEG=off`.
    Off,
    /// No `libturbojpeg.so.0` or `libturbojpeg.so` where the loader looks.
    NotFound,
    /// `DEITC_TURBOJPEG` names a file that did not load as libturbojpeg.
    Failed { path: String, error: String },
}

impl std::fmt::Display for Decoder {
    /// `libjpeg-turbo (/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0.2.0): Pillow's pixels`,
    /// or `pure-Rust (libturbojpeg not found): within a few levels of Pillow's pixels`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self {
            Decoder::Turbo { file } => return write!(f, "libjpeg-turbo ({file}): Pillow's pixels"),
            Decoder::PureRust(Fallback::Off) => format!("{ENV}=off"),
            Decoder::PureRust(Fallback::NotFound) => "libturbojpeg not found".to_string(),
            Decoder::PureRust(Fallback::Failed { path, error }) => {
                format!("{ENV}={path} did not load: {error}")
            }
        };
        write!(
            f,
            "pure-Rust ({why}): within a few levels of Pillow's pixels"
        )
    }
}

/// The decoder this process uses for JPEG files (loading libjpeg-turbo on the first call).
pub fn decoder() -> Decoder {
    match loaded() {
        Ok(api) => Decoder::Turbo {
            file: api.file.clone(),
        },
        Err(why) => Decoder::PureRust(why.clone()),
    }
}

/// The library, loaded on first use as [`ENV`] says.
fn loaded() -> &'static Result<Api, Fallback> {
    static API: OnceLock<Result<Api, Fallback>> = OnceLock::new();
    API.get_or_init(|| load(std::env::var_os(ENV)))
}

/// Loads the library as the value of [`ENV`] says (unset or empty: the usual names).
fn load(setting: Option<OsString>) -> Result<Api, Fallback> {
    match setting {
        Some(v) if v.eq_ignore_ascii_case("off") => Err(Fallback::Off),
        Some(v) if !v.is_empty() => open(&v).map_err(|error| Fallback::Failed {
            path: v.to_string_lossy().into_owned(),
            error,
        }),
        _ => NAMES
            .iter()
            .find_map(|name| open(OsStr::new(name)).ok())
            .ok_or(Fallback::NotFound),
    }
}

/// Loads `name` and looks up the four functions.
#[allow(unsafe_code)]
fn open(name: &OsStr) -> Result<Api, String> {
    // SAFETY: loading a library runs its initialisers. libturbojpeg's only set up its own
    // static state (libjpeg-turbo's SIMD detection); it starts no thread and changes no
    // process state that Rust relies on. A file that is not libturbojpeg at all is the
    // user's explicit `DEITC_TURBOJPEG` choice, and is then refused below unless it exports
    // these four functions.
    let lib = unsafe { libloading::Library::new(name) }.map_err(why)?;
    // SAFETY: each type is the function's prototype in turbojpeg.h, the same from
    // TurboJPEG 1.4 to 3.x. The pointers are copied out of their `Symbol`s, and stay valid
    // because `lib` is kept in the same `Api`, which lives in a static and is never dropped.
    let (init, header, decompress, destroy) = unsafe {
        (
            *lib.get::<InitDecompress>("tjInitDecompress\0")
                .map_err(why)?,
            *lib.get::<DecompressHeader3>("tjDecompressHeader3\0")
                .map_err(why)?,
            *lib.get::<Decompress2>("tjDecompress2\0").map_err(why)?,
            *lib.get::<Destroy>("tjDestroy\0").map_err(why)?,
        )
    };
    Ok(Api {
        init,
        header,
        decompress,
        destroy,
        file: loaded_file(name),
        _lib: lib,
    })
}

/// What the loader said (`dlerror`'s text), else what failed.
fn why(e: libloading::Error) -> String {
    std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string)
}

/// The file behind a loaded `name`: the path itself when it names one, else the mapped
/// `libturbojpeg*` file in `/proc/self/maps` (the soname's target, which says the
/// version), else `name`.
fn loaded_file(name: &OsStr) -> String {
    let shown = name.to_string_lossy().into_owned();
    if shown.contains('/') {
        return std::fs::canonicalize(name)
            .map(|p| p.display().to_string())
            .unwrap_or(shown);
    }
    std::fs::read_to_string("/proc/self/maps")
        .ok()
        .and_then(|maps| {
            maps.lines()
                .filter_map(|l| l.split_whitespace().nth(5))
                .find(|p| {
                    std::path::Path::new(p)
                        .file_name()
                        .is_some_and(|f| f.to_string_lossy().starts_with("libturbojpeg"))
                })
                .map(str::to_string)
        })
        .unwrap_or(shown)
}

/// A JPEG decoded by libjpeg-turbo: rows top to bottom, `components` bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub pixels: Vec<u8>,
    pub width: usize,
    pub height: usize,
    /// 1 (grayscale file) or 3 (RGB).
    pub components: usize,
}

/// Decodes `bytes` with libjpeg-turbo, or `None` when this path does not take them: not a
/// JPEG, the library not loaded, or a file it does not decode cleanly (see the module
/// docs). The caller then decodes them with the pure-Rust decoder.
pub fn decode(bytes: &[u8]) -> Option<Decoded> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    loaded()
        .as_ref()
        .ok()?
        .decode(bytes, io_limits::MAX_DECODED_IMAGE_BYTES)
}

impl Api {
    fn decode(&self, bytes: &[u8], limit: u64) -> Option<Decoded> {
        let tj = Instance::new(self)?;
        let (width, height, colorspace) = tj.header(bytes)?;
        let (components, format) = match colorspace {
            TJCS_GRAY => (1, TJPF_GRAY),
            TJCS_YCBCR | TJCS_RGB => (3, TJPF_RGB),
            _ => return None, // CMYK, YCCK
        };
        let (w, h) = (usize::try_from(width).ok()?, usize::try_from(height).ok()?);
        if w == 0 || h == 0 {
            return None;
        }
        let len = w.checked_mul(h)?.checked_mul(components)?;
        if u64::try_from(len).ok()? > limit {
            return None;
        }
        let pitch = c_int::try_from(w * components).ok()?;
        let mut pixels = vec![0u8; len];
        tj.decompress(bytes, &mut pixels, (width, pitch, height), format)?;
        Some(Decoded {
            pixels,
            width: w,
            height: h,
            components,
        })
    }
}

/// One TurboJPEG decompressor, destroyed when dropped.
struct Instance<'a> {
    api: &'a Api,
    handle: NonNull<c_void>,
}

impl<'a> Instance<'a> {
    #[allow(unsafe_code)]
    fn new(api: &'a Api) -> Option<Self> {
        // SAFETY: `tjInitDecompress` takes no argument and returns a new instance, owned by
        // the caller, or NULL on failure (checked here).
        let handle = NonNull::new(unsafe { (api.init)() })?;
        Some(Self { api, handle })
    }

    /// `(width, height, colorspace)` from the header, or `None` on any error or warning.
    #[allow(unsafe_code)]
    fn header(&self, bytes: &[u8]) -> Option<(c_int, c_int, c_int)> {
        let size = c_ulong::try_from(bytes.len()).ok()?;
        let (mut w, mut h, mut subsamp, mut colorspace) = (0, 0, -1, -1);
        // SAFETY: the handle is a live decompressor (`new`); the library reads at most
        // `size` bytes from `bytes`, which holds that many, and writes only the four
        // `c_int`s, which are locals here.
        let rc = unsafe {
            (self.api.header)(
                self.handle.as_ptr(),
                bytes.as_ptr(),
                size,
                &mut w,
                &mut h,
                &mut subsamp,
                &mut colorspace,
            )
        };
        (rc == 0).then_some((w, h, colorspace))
    }

    /// Decodes `bytes` at scale 1 into `out`: `height` rows of `pitch` bytes, `width`
    /// pixels each, as the header said; `None` on any error or warning.
    #[allow(unsafe_code)]
    fn decompress(
        &self,
        bytes: &[u8],
        out: &mut [u8],
        (width, pitch, height): (c_int, c_int, c_int),
        format: c_int,
    ) -> Option<()> {
        let size = c_ulong::try_from(bytes.len()).ok()?;
        let (p, h) = (usize::try_from(pitch).ok()?, usize::try_from(height).ok()?);
        let px = if format == TJPF_GRAY { 1 } else { 3 };
        if out.len() < p.checked_mul(h)? || p < usize::try_from(width).ok()?.checked_mul(px)? {
            return None;
        }
        // SAFETY: the handle is a live decompressor; the library reads at most `size` bytes
        // of `bytes`. Given the header's own `width` and `height`, it picks scale 1 and
        // writes `height` rows of `pitch` bytes, each row's `width` pixels of `format`
        // (3 or 1 bytes) within its `pitch`: `out` holds that much (checked above). `bytes`
        // is borrowed immutably, so it is the very data `header` read.
        let rc = unsafe {
            (self.api.decompress)(
                self.handle.as_ptr(),
                bytes.as_ptr(),
                size,
                out.as_mut_ptr(),
                width,
                pitch,
                height,
                format,
                TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS,
            )
        };
        (rc == 0).then_some(())
    }
}

impl Drop for Instance<'_> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the handle came from `tjInitDecompress` and is destroyed once, here; no
        // call on it is in progress (`Instance` is not shared).
        unsafe { (self.api.destroy)(self.handle.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A photo-like RGB test card (gradients and edges), `w × h`, interleaved.
    fn card(w: u32, h: u32) -> image::RgbImage {
        image::RgbImage::from_fn(w, h, |x, y| {
            let r = (x * 255 / w.max(1)) as u8;
            let g = (y * 255 / h.max(1)) as u8;
            let b: u8 = if (x / 5 + y / 3) % 2 == 0 { 40 } else { 210 };
            image::Rgb([r, g, b.wrapping_add((x * y) as u8 / 8)])
        })
    }

    fn jpeg(img: &image::DynamicImage, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(img)
            .expect("encode a JPEG");
        out
    }

    /// The library, or a printed note and `None`.
    fn library() -> Option<&'static Api> {
        match loaded() {
            Ok(api) => Some(api),
            Err(why) => {
                eprintln!(
                    "note: skipped, libjpeg-turbo is not used here: {}",
                    Decoder::PureRust(why.clone())
                );
                None
            }
        }
    }

    /// The pure-Rust decoder's interleaved pixels and channel count.
    fn pure_rust(bytes: &[u8]) -> (Vec<u8>, usize, usize, usize) {
        let img = image::load_from_memory(bytes).expect("pure-Rust decode");
        let (w, h) = (img.width() as usize, img.height() as usize);
        match img {
            image::DynamicImage::ImageLuma8(g) => (g.into_raw(), w, h, 1),
            other => (other.to_rgb8().into_raw(), w, h, 3),
        }
    }

    #[test]
    fn turbojpeg_and_the_pure_rust_decoder_agree_within_a_few_levels() {
        let Some(api) = library() else { return };
        let colour = image::DynamicImage::ImageRgb8(card(37, 23));
        let gray = image::DynamicImage::ImageLuma8(image::imageops::grayscale(&card(50, 31)));
        for (what, img) in [("colour 4:2:0", &colour), ("grayscale", &gray)] {
            let bytes = jpeg(img, 90);
            let t = api
                .decode(&bytes, io_limits::MAX_DECODED_IMAGE_BYTES)
                .expect("libjpeg-turbo decodes it");
            let (px, w, h, c) = pure_rust(&bytes);
            assert_eq!((t.width, t.height, t.components), (w, h, c), "{what}");
            let worst = t
                .pixels
                .iter()
                .zip(&px)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            assert!(worst <= 8, "{what}: differ by up to {worst} levels");
        }
    }

    #[test]
    fn what_turbojpeg_does_not_take_is_left_to_the_fallback() {
        let Some(api) = library() else { return };
        let bytes = jpeg(&image::DynamicImage::ImageRgb8(card(40, 30)), 85);
        // Over the size limit: refused on the header, before allocating.
        assert_eq!(api.decode(&bytes, 40 * 30 * 3 - 1), None);
        assert!(api.decode(&bytes, 40 * 30 * 3).is_some());
        // Truncated (a warning in libjpeg-turbo), garbage, empty: not decoded here.
        assert_eq!(
            api.decode(
                &bytes[..bytes.len() / 2],
                io_limits::MAX_DECODED_IMAGE_BYTES
            ),
            None
        );
        assert_eq!(api.decode(b"\xFF\xD8\xFF\xE0junk", u64::MAX), None);
        assert_eq!(decode(b""), None);
        // Not a JPEG at all: never handed to the library.
        assert_eq!(decode(b"\x89PNG\r\n\x1a\n"), None);
    }

    #[test]
    fn off_and_a_bad_path_fall_back_and_say_why() {
        assert_eq!(load(Some("off".into())).err(), Some(Fallback::Off));
        assert_eq!(load(Some("OFF".into())).err(), Some(Fallback::Off));
        let bad = load(Some("/nonexistent/libturbojpeg.so".into())).err();
        assert!(
            matches!(&bad, Some(Fallback::Failed { path, .. }) if path == "/nonexistent/libturbojpeg.so"),
            "{bad:?}"
        );
        assert_eq!(
            Decoder::PureRust(Fallback::Off).to_string(),
            "pure-Rust (DEITC_TURBOJPEG=off): within a few levels of Pillow's pixels"
        );
        assert_eq!(
            Decoder::PureRust(Fallback::NotFound).to_string(),
            "pure-Rust (libturbojpeg not found): within a few levels of Pillow's pixels"
        );
    }

    #[test]
    fn the_library_is_named_by_its_file() {
        let d = Decoder::Turbo {
            file: "/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0.2.0".into(),
        };
        assert_eq!(
            d.to_string(),
            "libjpeg-turbo (/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0.2.0): Pillow's pixels"
        );
        // Where the library loads, it is found by its usual name and named by its file.
        if let Ok(api) = load(None) {
            assert!(api.file.contains("turbojpeg"), "{}", api.file);
        }
    }
}
