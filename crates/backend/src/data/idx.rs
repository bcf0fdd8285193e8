//! MNIST and Fashion-MNIST, from their IDX files as distributed (plain or gzipped).
//!
//! The layout — file names, the header, the torchvision folder — is
//! [`deitc_layout::idx`]'s, shared with the checker. Here the files are read whole through
//! the bounded reader ([`io_limits::read`], at most
//! [`MAX_IDX_BYTES`](io_limits::MAX_IDX_BYTES) stored, and as much inflated), each checked
//! in full: the magic number, 28 × 28 images, a length that is exactly what the header
//! declares (a truncated download or trailing bytes), as many labels as images, every label
//! in 0..=9. A failure is a [`DataError::Idx`] naming the file; a missing file is a
//! [`DataError::MissingFile`].
//!
//! The images are 1 × 28 × 28 (0 is the background, as released: nothing is inverted);
//! `model.channels = 3` repeats the gray plane, as PIL's `convert("RGB")`.

use super::{DataError, Dataset};
use crate::io_limits;
use crate::ir::Split;
use deitc_layout::idx::{self as layout, Files};
pub use deitc_layout::idx::{Header, Idx, IdxProblem, Part, CLASSES, SIDE};
use std::io::Read;
use std::path::Path;

/// Loads a split as 1 × 28 × 28 grayscale images.
pub fn load(path: &Path, which: Idx, split: Split) -> Result<Dataset, DataError> {
    let files = layout::split_files(path, which, split)?;
    let (images_header, images) = read(&files, Part::Images)?;
    let (labels_header, labels) = read(&files, Part::Labels)?;
    layout::check_pair(&files, &images_header, &labels_header)?;
    let labels = check_labels(&labels).map_err(|problem| DataError::Idx {
        path: files.labels.clone(),
        problem,
    })?;
    Ok(Dataset::uniform(
        images,
        labels,
        which.class_names().iter().map(|s| s.to_string()).collect(),
        1,
        SIDE,
        SIDE,
    ))
}

/// Reads one file of the split: its header and its values (after the header).
fn read(files: &Files, part: Part) -> Result<(Header, Vec<u8>), DataError> {
    let path = files.get(part);
    let bytes =
        io_limits::read(path, io_limits::MAX_IDX_BYTES).map_err(|e| DataError::read(path, e))?;
    decode(bytes, layout::is_gzip(path), part, io_limits::MAX_IDX_BYTES).map_err(|problem| {
        DataError::Idx {
            path: path.to_path_buf(),
            problem,
        }
    })
}

/// Decodes the bytes of one IDX file (gzipped when `gz`): its header and the values after
/// it, exactly as many as the header declares. At most `limit` bytes are inflated, and a
/// header that declares more is refused before anything is allocated for it.
pub fn decode(
    bytes: Vec<u8>,
    gz: bool,
    part: Part,
    limit: u64,
) -> Result<(Header, Vec<u8>), IdxProblem> {
    let mut data = if gz {
        inflate(&bytes, part, limit)?
    } else {
        bytes
    };
    let header = layout::parse_header(&data, part)?;
    let expected = layout::declared_len(&header, part);
    if expected > limit {
        return Err(IdxProblem::TooLarge {
            bytes: expected,
            limit,
        });
    }
    let found = data.len() as u64;
    if found != expected {
        return Err(IdxProblem::Length { expected, found });
    }
    data.drain(..part.header_bytes());
    Ok((header, data))
}

/// Inflates a gzip stream (all its members, as `gunzip`), reading its header first so that
/// the output is allocated once and a stream longer than the header declares stops early.
fn inflate(bytes: &[u8], part: Part, limit: u64) -> Result<Vec<u8>, IdxProblem> {
    let gzip = |e: std::io::Error| IdxProblem::Gzip {
        message: e.to_string(),
    };
    let mut stream = flate2::read::MultiGzDecoder::new(bytes);
    let mut out = Vec::with_capacity(part.header_bytes());
    (&mut stream)
        .take(part.header_bytes() as u64)
        .read_to_end(&mut out)
        .map_err(gzip)?;
    let header = layout::parse_header(&out, part)?;
    let expected = layout::declared_len(&header, part);
    if expected > limit {
        return Err(IdxProblem::TooLarge {
            bytes: expected,
            limit,
        });
    }
    // One byte more than declared tells trailing bytes from an exact fit.
    out.reserve_exact((expected as usize).saturating_sub(out.len()) + 1);
    stream
        .take(expected - out.len() as u64 + 1)
        .read_to_end(&mut out)
        .map_err(gzip)?;
    Ok(out)
}

/// The labels as class indices; a label of 10 or more is refused.
pub fn check_labels(labels: &[u8]) -> Result<Vec<u16>, IdxProblem> {
    match labels.iter().position(|&l| usize::from(l) >= CLASSES) {
        Some(index) => Err(IdxProblem::Label {
            index,
            label: labels[index],
        }),
        None => Ok(labels.iter().map(|&l| u16::from(l)).collect()),
    }
}

/// The images as `channels` channels: 1 as they are, 3 by repeating the gray plane.
pub fn with_channels(d: Dataset, which: Idx, channels: usize) -> Result<Dataset, DataError> {
    match channels {
        1 => Ok(d),
        3 => {
            let plane = SIDE * SIDE;
            let mut rgb = Vec::with_capacity(d.images.len() * 3);
            for img in d.images.chunks_exact(plane) {
                for _ in 0..3 {
                    rgb.extend_from_slice(img);
                }
            }
            Ok(Dataset::uniform(rgb, d.labels, d.classes, 3, SIDE, SIDE))
        }
        c => Err(DataError::Config {
            field: "model.channels".into(),
            message: format!("{} images load as 1 or 3 channels, not {c}", which.name()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    /// An IDX file: the header for `part` with `count` items (`side × side` images), then
    /// `body`.
    fn idx(part: Part, count: u32, side: u32, body: &[u8]) -> Vec<u8> {
        let mut out = part.magic().to_be_bytes().to_vec();
        out.extend(count.to_be_bytes());
        if part == Part::Images {
            out.extend(side.to_be_bytes());
            out.extend(side.to_be_bytes());
        }
        out.extend(body);
        out
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).expect("gzip in memory");
        e.finish().expect("gzip in memory")
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("deitc-backend-idx-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// Image `i`'s pixel `p` of a generated split.
    fn pixel(i: usize, p: usize) -> u8 {
        ((i * 31 + p * 7) % 256) as u8
    }

    /// Writes a split of `n` images (image `i` has label `i % 10`).
    fn write_split(dir: &Path, split: Split, n: usize, zipped: bool) {
        let body: Vec<u8> = (0..n)
            .flat_map(|i| (0..SIDE * SIDE).map(move |p| pixel(i, p)))
            .collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        for (part, bytes) in [
            (Part::Images, idx(Part::Images, n as u32, 28, &body)),
            (Part::Labels, idx(Part::Labels, n as u32, 0, &labels)),
        ] {
            write(dir, part.stem(split), &bytes, zipped);
        }
    }

    fn write(dir: &Path, stem: &str, bytes: &[u8], zipped: bool) {
        if zipped {
            std::fs::write(dir.join(format!("{stem}.gz")), gz(bytes)).expect("write");
        } else {
            std::fs::write(dir.join(stem), bytes).expect("write");
        }
    }

    #[test]
    fn plain_and_gzipped_splits_load_the_same_images() {
        let dir = temp("load");
        write_split(&dir, Split::Train, 12, false);
        write_split(&dir, Split::Val, 3, true);
        let train = load(&dir, Idx::FashionMnist, Split::Train).expect("train");
        assert_eq!((train.len(), train.channels, train.height), (12, 1, 28));
        assert_eq!(train.labels[..4], [0, 1, 2, 3]);
        assert_eq!(train.image(11)[5], pixel(11, 5));
        assert_eq!(train.classes[9], "Ankle boot");
        let val = load(&dir, Idx::Mnist, Split::Val).expect("val");
        assert_eq!(val.len(), 3);
        assert_eq!(val.image(2)[783], pixel(2, 783));
        assert_eq!(val.classes[9], "9");
        // Three channels repeat the plane.
        let rgb = with_channels(val, Idx::Mnist, 3).expect("rgb");
        assert_eq!(rgb.channels, 3);
        assert_eq!(rgb.image(1)[784 + 10], pixel(1, 10));
        assert_eq!(rgb.image(1)[2 * 784 + 10], pixel(1, 10));
        let e = with_channels(train, Idx::FashionMnist, 2).expect_err("2 channels");
        assert!(e.to_string().contains("1 or 3 channels"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The problem `load` reports for the val split of `dir`.
    fn problem(dir: &Path) -> (PathBuf, IdxProblem) {
        match load(dir, Idx::FashionMnist, Split::Val) {
            Err(DataError::Idx { path, problem }) => (path, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn corrupt_files_are_named_with_what_is_wrong() {
        let dir = temp("corrupt");
        let images = dir.join("t10k-images-idx3-ubyte");
        let labels = dir.join("t10k-labels-idx1-ubyte");
        // A label of 10.
        write_split(&dir, Split::Val, 3, false);
        std::fs::write(&labels, idx(Part::Labels, 3, 0, &[0, 10, 2])).expect("write");
        assert_eq!(
            problem(&dir),
            (
                labels.clone(),
                IdxProblem::Label {
                    index: 1,
                    label: 10
                }
            )
        );
        // Two labels for three images.
        std::fs::write(&labels, idx(Part::Labels, 2, 0, &[0, 1])).expect("write");
        assert_eq!(
            problem(&dir),
            (
                labels.clone(),
                IdxProblem::CountMismatch {
                    images: 3,
                    labels: 2
                }
            )
        );
        // Truncated, and with a byte too many.
        write_split(&dir, Split::Val, 3, false);
        let whole = std::fs::read(&images).expect("read");
        std::fs::write(&images, &whole[..100]).expect("write");
        assert_eq!(
            problem(&dir),
            (
                images.clone(),
                IdxProblem::Length {
                    expected: 16 + 3 * 784,
                    found: 100
                }
            )
        );
        std::fs::write(&images, [whole.as_slice(), &[0]].concat()).expect("write");
        assert!(matches!(problem(&dir).1, IdxProblem::Length { .. }));
        // Wrong magic, wrong size.
        std::fs::write(&images, idx(Part::Labels, 3, 0, &[1, 2, 3])).expect("write");
        assert_eq!(
            problem(&dir).1,
            IdxProblem::Magic {
                found: 0x801,
                expected: 0x803
            }
        );
        std::fs::write(&images, idx(Part::Images, 1, 27, &[0; 729])).expect("write");
        assert_eq!(problem(&dir).1, IdxProblem::Dims { rows: 27, cols: 27 });
        // A truncated gzip stream, and one that is not gzip at all.
        std::fs::remove_file(&images).expect("rm");
        let zipped = gz(&whole);
        let gz_path = dir.join("t10k-images-idx3-ubyte.gz");
        std::fs::write(&gz_path, &zipped[..zipped.len() / 2]).expect("write");
        let (path, p) = problem(&dir);
        assert_eq!(path, gz_path);
        assert!(matches!(p, IdxProblem::Gzip { .. }), "{p:?}");
        std::fs::write(&gz_path, b"plain text, not gzip").expect("write");
        assert!(matches!(problem(&dir).1, IdxProblem::Gzip { .. }));
        // A gzip stream whose data is short of its header's count.
        std::fs::write(&gz_path, gz(&whole[..500])).expect("write");
        assert_eq!(
            problem(&dir).1,
            IdxProblem::Length {
                expected: 16 + 3 * 784,
                found: 500
            }
        );
        // A missing file.
        std::fs::remove_file(&gz_path).expect("rm");
        match load(&dir, Idx::FashionMnist, Split::Val) {
            Err(DataError::MissingFile { path }) => assert_eq!(path, images),
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_header_over_the_limit_is_refused_before_reading_on() {
        // 10⁹ images declared in a 16-byte file.
        let bytes = idx(Part::Images, 1_000_000_000, 28, &[]);
        for gz_it in [false, true] {
            let input = if gz_it { gz(&bytes) } else { bytes.clone() };
            match decode(input, gz_it, Part::Images, 1 << 20) {
                Err(IdxProblem::TooLarge { bytes, limit }) => {
                    assert_eq!((bytes, limit), (16 + 784_000_000_000, 1 << 20))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// The real Fashion-MNIST (`apt-get install dataset-fashion-mnist`), when installed.
    #[test]
    fn reads_the_installed_fashion_mnist() {
        let root = Path::new("/usr/share/datasets/fashion-mnist");
        if !root.is_dir() {
            eprintln!("skipped: {} is not installed", root.display());
            return;
        }
        let train = load(root, Idx::FashionMnist, Split::Train).expect("train");
        let val = load(root, Idx::FashionMnist, Split::Val).expect("val");
        assert_eq!((train.len(), val.len()), (60_000, 10_000));
        // Balanced classes: 6,000 and 1,000 of each.
        for (d, each) in [(&train, 6000), (&val, 1000)] {
            let mut counts = [0usize; CLASSES];
            for &l in &d.labels {
                counts[usize::from(l)] += 1;
            }
            assert_eq!(counts, [each; CLASSES]);
        }
        // torchvision's FashionMNIST: train[0] and val[0] are ankle boots (9), then a
        // T-shirt (0) and a pullover (2); then sums of all labels and pixels.
        assert_eq!(train.labels[..4], [9, 0, 0, 3]);
        assert_eq!(val.labels[..4], [9, 2, 1, 1]);
        let pixels = |d: &Dataset| d.images.iter().map(|&p| u64::from(p)).sum::<u64>();
        let labels = |d: &Dataset| d.labels.iter().map(|&l| u64::from(l)).sum::<u64>();
        assert_eq!(labels(&train), 270_000);
        assert_eq!(labels(&val), 45_000);
        assert_eq!(pixels(&train), TRAIN_PIXEL_SUM);
        assert_eq!(pixels(&val), VAL_PIXEL_SUM);
    }

    /// Sums of every pixel of the released files (train mean 72.94 / 255 = 0.2860).
    const TRAIN_PIXEL_SUM: u64 = 3_431_114_169;
    const VAL_PIXEL_SUM: u64 = 573_469_082;
}
