//! The IDX files of MNIST and Fashion-MNIST, as distributed.
//!
//! A split is two files: `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` (train),
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (val), each plain or gzipped
//! (`….gz`, as downloaded; the plain file wins when both are there). An IDX file is a
//! big-endian header — the magic number `0x0000_08DD` (unsigned bytes, `DD` dimensions),
//! then one `u32` size per dimension — followed by the values, row-major:
//!
//! * images: magic `0x0000_0803`, sizes `N, 28, 28`, then `N × 28 × 28` pixel bytes (0 is
//!   the background);
//! * labels: magic `0x0000_0801`, size `N`, then `N` label bytes (0..=9).
//!
//! The path may name the folder holding the files, or torchvision's root (the files in
//! `MNIST/raw/` or `FashionMNIST/raw/` under it). What is learnt here comes from the
//! headers alone ([`header`], a few bytes even of a gzipped file), so checking a recipe
//! costs no decompression; the loader (`deitc_backend::data::idx`) reads the values.

use crate::LayoutError;
use deitc_ir::Split;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Which release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idx {
    /// LeCun et al.'s handwritten digits.
    Mnist,
    /// Zalando's Fashion-MNIST (Xiao et al., 2017), MNIST's drop-in replacement.
    FashionMnist,
}

/// Classes of both releases.
pub const CLASSES: usize = 10;

/// Image side of both releases, in pixels (grayscale).
pub const SIDE: usize = 28;

impl Idx {
    pub fn name(self) -> &'static str {
        match self {
            Idx::Mnist => "MNIST",
            Idx::FashionMnist => "Fashion-MNIST",
        }
    }

    /// The folder under torchvision's root that holds the files.
    pub fn torchvision_folder(self) -> &'static str {
        match self {
            Idx::Mnist => "MNIST/raw",
            Idx::FashionMnist => "FashionMNIST/raw",
        }
    }

    /// Class names in label order (torchvision's `classes`).
    pub fn class_names(self) -> [&'static str; CLASSES] {
        match self {
            Idx::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            Idx::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }

    /// The official split sizes: 60,000 train, 10,000 val.
    pub fn official_count(self, split: Split) -> usize {
        match split {
            Split::Train => 60_000,
            Split::Val => 10_000,
        }
    }
}

/// One of a split's two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Images,
    Labels,
}

impl Part {
    /// The magic number: unsigned bytes (`0x08`) and the number of dimensions.
    pub fn magic(self) -> u32 {
        match self {
            Part::Images => 0x0000_0803,
            Part::Labels => 0x0000_0801,
        }
    }

    /// Header bytes: the magic number and one `u32` per dimension.
    pub fn header_bytes(self) -> usize {
        match self {
            Part::Images => 16,
            Part::Labels => 8,
        }
    }

    /// The file name (without `.gz`) for a split.
    pub fn stem(self, split: Split) -> &'static str {
        match (split, self) {
            (Split::Train, Part::Images) => "train-images-idx3-ubyte",
            (Split::Train, Part::Labels) => "train-labels-idx1-ubyte",
            (Split::Val, Part::Images) => "t10k-images-idx3-ubyte",
            (Split::Val, Part::Labels) => "t10k-labels-idx1-ubyte",
        }
    }
}

/// What an IDX header says: the item count and, for images, their size (1 × 1 for labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub count: u64,
    pub rows: u64,
    pub cols: u64,
}

impl Header {
    /// Bytes of values after the header: `count × rows × cols` (`None` on overflow).
    pub fn body_bytes(&self) -> Option<u64> {
        self.count.checked_mul(self.rows)?.checked_mul(self.cols)
    }
}

/// What is wrong with an IDX file (or a split's pair of files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdxProblem {
    /// Fewer bytes than the header needs.
    ShortHeader { needed: usize, found: u64 },
    /// Not the magic number of this part (another element type or number of dimensions).
    Magic { found: u32, expected: u32 },
    /// Images that are not 28 × 28.
    Dims { rows: u64, cols: u64 },
    /// The file's length is not what its header declares (truncated, or trailing bytes).
    Length { expected: u64, found: u64 },
    /// The images and labels files hold different counts.
    CountMismatch { images: u64, labels: u64 },
    /// A label that is not a class.
    Label { index: usize, label: u8 },
    /// A `.gz` file that does not inflate.
    Gzip { message: String },
    /// A header that declares more than the reader's limit.
    TooLarge { bytes: u64, limit: u64 },
}

fn hex(n: u32) -> String {
    format!("0x{n:08X}")
}

impl fmt::Display for IdxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdxProblem::ShortHeader { needed, found } => write!(
                f,
                "holds {found} bytes, fewer than the {needed}-byte IDX header (truncated?)"
            ),
            IdxProblem::Magic { found, expected } => write!(
                f,
                "starts with {}, not the IDX magic number {} ({} of unsigned bytes)",
                hex(*found),
                hex(*expected),
                match *expected & 0xFF {
                    1 => "labels: 1 dimension",
                    _ => "images: 3 dimensions",
                }
            ),
            IdxProblem::Dims { rows, cols } => {
                write!(f, "holds {rows}×{cols} images, not {SIDE}×{SIDE}")
            }
            // Of a gzipped file: its inflated length.
            IdxProblem::Length { expected, found } => write!(
                f,
                "is {found} bytes, but its header declares {expected} ({})",
                if found < expected {
                    "truncated"
                } else {
                    "trailing bytes"
                }
            ),
            IdxProblem::CountMismatch { images, labels } => {
                write!(f, "holds {labels} labels for {images} images")
            }
            IdxProblem::Label { index, label } => write!(
                f,
                "holds label {label} at index {index}; the labels are 0..={}",
                CLASSES - 1
            ),
            IdxProblem::Gzip { message } => write!(f, "is not a valid gzip file: {message}"),
            IdxProblem::TooLarge { bytes, limit } => write!(
                f,
                "declares {bytes} bytes of values, more than the limit of {limit}"
            ),
        }
    }
}

/// Parses the header at the start of `bytes` (the inflated data of a `.gz` file).
pub fn parse_header(bytes: &[u8], part: Part) -> Result<Header, IdxProblem> {
    let needed = part.header_bytes();
    // The magic number first: a labels file given for images is short, but mainly wrong.
    if let Some(m) = bytes.get(..4) {
        let found = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
        if found != part.magic() {
            return Err(IdxProblem::Magic {
                found,
                expected: part.magic(),
            });
        }
    }
    let Some(head) = bytes.get(..needed) else {
        return Err(IdxProblem::ShortHeader {
            needed,
            found: bytes.len() as u64,
        });
    };
    let word = |i: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&head[4 * i..4 * i + 4]);
        u32::from_be_bytes(w)
    };
    Ok(match part {
        Part::Labels => Header {
            count: u64::from(word(1)),
            rows: 1,
            cols: 1,
        },
        Part::Images => Header {
            count: u64::from(word(1)),
            rows: u64::from(word(2)),
            cols: u64::from(word(3)),
        },
    })
}

/// The header and the file's total length as its header declares it.
pub fn declared_len(header: &Header, part: Part) -> u64 {
    header
        .body_bytes()
        .and_then(|b| b.checked_add(part.header_bytes() as u64))
        .unwrap_or(u64::MAX)
}

/// Whether a file is gzipped (by its name, `….gz`).
pub fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// The file of `stem` in `dir`: the plain file, else the `.gz` one.
fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [dir.join(stem), dir.join(format!("{stem}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

/// The folder holding the split's images file: `path` itself or torchvision's
/// `path/<Release>/raw`. None when neither holds it.
pub fn resolve(path: &Path, which: Idx, split: Split) -> Option<PathBuf> {
    let stem = Part::Images.stem(split);
    [path.to_path_buf(), path.join(which.torchvision_folder())]
        .into_iter()
        .find(|d| find(d, stem).is_some())
}

/// A split's two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub images: PathBuf,
    pub labels: PathBuf,
}

impl Files {
    pub fn get(&self, part: Part) -> &Path {
        match part {
            Part::Images => &self.images,
            Part::Labels => &self.labels,
        }
    }
}

/// The split's files (in the folder [`resolve`] finds, else `path`), or the first that is
/// missing as `Err(LayoutError::MissingFile)`, named without `.gz`.
pub fn split_files(path: &Path, which: Idx, split: Split) -> Result<Files, LayoutError> {
    if !path.is_dir() {
        return Err(LayoutError::MissingFolder {
            path: path.to_path_buf(),
        });
    }
    let dir = resolve(path, which, split).unwrap_or_else(|| path.to_path_buf());
    let get = |part: Part| {
        find(&dir, part.stem(split)).ok_or_else(|| LayoutError::MissingFile {
            path: dir.join(part.stem(split)),
        })
    };
    Ok(Files {
        images: get(Part::Images)?,
        labels: get(Part::Labels)?,
    })
}

/// Reads the header of one file, inflating only its first bytes when it is gzipped. For a
/// plain file, the length its header declares is checked against the file's size too (a
/// gzipped file's length is known only by inflating it all: the loader checks it).
pub fn header(path: &Path, part: Part) -> Result<Header, LayoutError> {
    let bad = |problem| LayoutError::Idx {
        path: path.to_path_buf(),
        problem,
    };
    let io = |source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(LayoutError::MissingFile {
            path: path.to_path_buf(),
        });
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let want = part.header_bytes() as u64;
    let mut head = Vec::with_capacity(part.header_bytes());
    if is_gzip(path) {
        flate2::read::MultiGzDecoder::new(file)
            .take(want)
            .read_to_end(&mut head)
            .map_err(|e| {
                bad(IdxProblem::Gzip {
                    message: e.to_string(),
                })
            })?;
        parse_header(&head, part).map_err(bad)
    } else {
        file.take(want).read_to_end(&mut head).map_err(io)?;
        let header = parse_header(&head, part).map_err(bad)?;
        let expected = declared_len(&header, part);
        if meta.len() != expected {
            return Err(bad(IdxProblem::Length {
                expected,
                found: meta.len(),
            }));
        }
        Ok(header)
    }
}

/// Checks that a split's two headers fit together and are MNIST's: 28 × 28 images, as
/// many labels as images.
pub fn check_pair(files: &Files, images: &Header, labels: &Header) -> Result<(), LayoutError> {
    if (images.rows, images.cols) != (SIDE as u64, SIDE as u64) {
        return Err(LayoutError::Idx {
            path: files.images.clone(),
            problem: IdxProblem::Dims {
                rows: images.rows,
                cols: images.cols,
            },
        });
    }
    if images.count != labels.count {
        return Err(LayoutError::Idx {
            path: files.labels.clone(),
            problem: IdxProblem::CountMismatch {
                images: images.count,
                labels: labels.count,
            },
        });
    }
    Ok(())
}

/// The number of samples of a split, from the two headers alone.
pub fn count(path: &Path, which: Idx, split: Split) -> Result<usize, LayoutError> {
    let files = split_files(path, which, split)?;
    let images = header(&files.images, Part::Images)?;
    let labels = header(&files.labels, Part::Labels)?;
    check_pair(&files, &images, &labels)?;
    usize::try_from(images.count).map_err(|_| LayoutError::Idx {
        path: files.images.clone(),
        problem: IdxProblem::TooLarge {
            bytes: images.count,
            limit: usize::MAX as u64,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An IDX file: the header for `part` with `count` items of `side × side`, then `body`.
    pub(crate) fn idx(part: Part, count: u32, side: u32, body: &[u8]) -> Vec<u8> {
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
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).expect("gzip in memory");
        e.finish().expect("gzip in memory")
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("deitc-layout-idx-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// Writes a val split of `n` images (28 × 28) and `labels` labels.
    fn write_split(dir: &Path, n: u32, labels: u32, zipped: bool) {
        let images = idx(Part::Images, n, 28, &vec![7u8; n as usize * 784]);
        let labs = idx(Part::Labels, labels, 0, &vec![3u8; labels as usize]);
        for (part, bytes) in [(Part::Images, images), (Part::Labels, labs)] {
            let stem = part.stem(Split::Val);
            if zipped {
                std::fs::write(dir.join(format!("{stem}.gz")), gz(&bytes)).expect("write");
            } else {
                std::fs::write(dir.join(stem), bytes).expect("write");
            }
        }
    }

    #[test]
    fn headers_parse_and_count_plain_and_gzipped_files() {
        for zipped in [false, true] {
            let dir = temp(&format!("count-{zipped}"));
            write_split(&dir, 5, 5, zipped);
            assert_eq!(
                count(&dir, Idx::FashionMnist, Split::Val).expect("count"),
                5
            );
            let files = split_files(&dir, Idx::Mnist, Split::Val).expect("files");
            assert_eq!(is_gzip(&files.images), zipped);
            let h = header(&files.images, Part::Images).expect("header");
            assert_eq!(
                h,
                Header {
                    count: 5,
                    rows: 28,
                    cols: 28
                }
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn torchvision_root_is_found() {
        let root = temp("torchvision");
        let raw = root.join("FashionMNIST/raw");
        std::fs::create_dir_all(&raw).expect("mkdir");
        write_split(&raw, 2, 2, true);
        assert_eq!(resolve(&root, Idx::FashionMnist, Split::Val), Some(raw));
        assert_eq!(
            count(&root, Idx::FashionMnist, Split::Val).expect("count"),
            2
        );
        // MNIST's folder is not Fashion-MNIST's.
        assert!(matches!(
            count(&root, Idx::Mnist, Split::Val),
            Err(LayoutError::MissingFile { .. })
        ));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn missing_folder_and_missing_file_are_told_apart() {
        let dir = temp("missing");
        assert!(matches!(
            split_files(&dir.join("nope"), Idx::Mnist, Split::Train),
            Err(LayoutError::MissingFolder { .. })
        ));
        match split_files(&dir, Idx::Mnist, Split::Train) {
            Err(LayoutError::MissingFile { path }) => {
                assert_eq!(path, dir.join("train-images-idx3-ubyte"))
            }
            other => panic!("{other:?}"),
        }
        write_split(&dir, 1, 1, false);
        std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).expect("rm");
        match split_files(&dir, Idx::Mnist, Split::Val) {
            Err(LayoutError::MissingFile { path }) => {
                assert_eq!(path, dir.join("t10k-labels-idx1-ubyte"))
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_headers_are_reported() {
        let dir = temp("corrupt");
        let problem = |r: Result<usize, LayoutError>| match r {
            Err(LayoutError::Idx { problem, .. }) => problem,
            other => panic!("{other:?}"),
        };
        // Count mismatch.
        write_split(&dir, 3, 2, false);
        assert_eq!(
            problem(count(&dir, Idx::Mnist, Split::Val)),
            IdxProblem::CountMismatch {
                images: 3,
                labels: 2
            }
        );
        // A truncated plain images file.
        write_split(&dir, 3, 3, false);
        let f = dir.join("t10k-images-idx3-ubyte");
        let bytes = std::fs::read(&f).expect("read");
        std::fs::write(&f, &bytes[..bytes.len() - 1]).expect("write");
        assert_eq!(
            problem(count(&dir, Idx::Mnist, Split::Val)),
            IdxProblem::Length {
                expected: 16 + 3 * 784,
                found: 15 + 3 * 784
            }
        );
        // Labels where images should be (another magic number).
        std::fs::write(&f, idx(Part::Labels, 3, 0, &[1, 2, 3])).expect("write");
        assert_eq!(
            problem(count(&dir, Idx::Mnist, Split::Val)),
            IdxProblem::Magic {
                found: 0x801,
                expected: 0x803
            }
        );
        // 32 × 32 images.
        std::fs::write(&f, idx(Part::Images, 1, 32, &[0; 1024])).expect("write");
        assert_eq!(
            problem(count(&dir, Idx::Mnist, Split::Val)),
            IdxProblem::Dims { rows: 32, cols: 32 }
        );
        // A header cut short.
        std::fs::write(&f, [0, 0, 8]).expect("write");
        assert_eq!(
            problem(count(&dir, Idx::Mnist, Split::Val)),
            IdxProblem::ShortHeader {
                needed: 16,
                found: 3
            }
        );
        // A `.gz` that is not gzip.
        std::fs::remove_file(&f).expect("rm");
        std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), b"not gzip at all").expect("w");
        assert!(matches!(
            problem(count(&dir, Idx::Mnist, Split::Val)),
            IdxProblem::Gzip { .. }
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn problems_read_well() {
        let says = |p: IdxProblem| p.to_string();
        assert_eq!(
            says(IdxProblem::Magic {
                found: 0x0000_0801,
                expected: 0x0000_0803
            }),
            "starts with 0x00000801, not the IDX magic number 0x00000803 (images: 3 \
             dimensions of unsigned bytes)"
        );
        assert_eq!(
            says(IdxProblem::Length {
                expected: 100,
                found: 90
            }),
            "is 90 bytes, but its header declares 100 (truncated)"
        );
        assert_eq!(
            says(IdxProblem::Label {
                index: 4,
                label: 10
            }),
            "holds label 10 at index 4; the labels are 0..=9"
        );
    }
}
