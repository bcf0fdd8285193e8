//! Reading a whole file, bounded and kind-checked: the one way deitc reads an input file
//! (a recipe, a checkpoint, an image, a dataset file), shared by the language and the back
//! end.
//!
//! * The path is looked up first (`std::fs::metadata`, following symlinks) and anything but
//!   a regular file is refused **before it is opened**: opening a FIFO blocks until a writer
//!   comes, and a device such as `/dev/zero` never ends.
//! * At most `limit` bytes are read, whatever the metadata says (`Read::take(limit + 1)`):
//!   files under `/proc` report a size of 0, and a file may grow while it is read.
//! * What was opened is checked again (`File::metadata`), in case the path changed between
//!   the look-up and the open.
//!
//! Each caller maps [`ReadError`] to its own phase's error, with its own limit.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// What a path is, as far as reading it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Regular,
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    /// Anything else the OS reports (or a kind this platform does not tell apart).
    Other,
}

impl FileKind {
    /// The kind of a file, from its (symlink-following) metadata's type.
    pub fn of(t: std::fs::FileType) -> FileKind {
        if t.is_file() {
            return FileKind::Regular;
        }
        if t.is_dir() {
            return FileKind::Directory;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if t.is_fifo() {
                return FileKind::Fifo;
            }
            if t.is_char_device() {
                return FileKind::CharDevice;
            }
            if t.is_block_device() {
                return FileKind::BlockDevice;
            }
            if t.is_socket() {
                return FileKind::Socket;
            }
        }
        FileKind::Other
    }

    /// The kind with its article, for messages: `a FIFO (named pipe)`.
    pub fn words(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "a special file",
        }
    }
}

/// Why [`read_bounded`] read nothing.
#[derive(Debug)]
pub enum ReadError {
    /// A directory.
    IsDirectory,
    /// A FIFO, a device, a socket: never opened.
    NotRegular { kind: FileKind },
    /// Larger than the caller's limit: `size` from the metadata when it said so, `None`
    /// when more than `limit` bytes were read from a file whose metadata said less.
    TooLarge { limit: u64, size: Option<u64> },
    /// A failure of the OS: nothing at the path ([`ReadError::is_not_found`]), permissions,
    /// a path through a file, …
    Io(std::io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::IsDirectory => f.write_str("it is a directory"),
            ReadError::NotRegular { kind } => {
                write!(f, "it is {}, not a regular file", kind.words())
            }
            ReadError::TooLarge {
                limit,
                size: Some(size),
            } => write!(
                f,
                "it is {size} bytes, over the limit of {}",
                show_bytes(*limit)
            ),
            ReadError::TooLarge { limit, size: None } => {
                write!(f, "it holds more than the limit of {}", show_bytes(*limit))
            }
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl ReadError {
    /// Nothing at the path (or a dangling symlink).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The metadata of `path` (symlinks followed) if it is a regular file; never opens it.
pub fn regular_file(path: &Path) -> Result<std::fs::Metadata, ReadError> {
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    match FileKind::of(meta.file_type()) {
        FileKind::Regular => Ok(meta),
        FileKind::Directory => Err(ReadError::IsDirectory),
        kind => Err(ReadError::NotRegular { kind }),
    }
}

/// The bytes of the regular file at `path`, at most `limit` of them (see the module docs).
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = regular_file(path)?;
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            limit,
            size: Some(meta.len()),
        });
    }
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    // The path may have been replaced between the look-up and the open.
    let opened = file.metadata().map_err(ReadError::Io)?;
    match FileKind::of(opened.file_type()) {
        FileKind::Regular => {}
        FileKind::Directory => return Err(ReadError::IsDirectory),
        kind => return Err(ReadError::NotRegular { kind }),
    }
    let expected = usize::try_from(opened.len().min(limit)).unwrap_or(0);
    let mut out = Vec::with_capacity(expected);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit, size: None });
    }
    Ok(out)
}

/// A byte count in the largest binary unit that divides it (`1 MiB`, `8 GiB`), else bytes.
pub fn show_bytes(n: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("deitc-diag-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir.join(name)
    }

    #[test]
    fn reads_a_file_up_to_and_including_the_limit() {
        let p = scratch("ten.bin");
        std::fs::write(&p, [7u8; 10]).expect("write");
        assert_eq!(read_bounded(&p, 10).expect("at the limit"), [7u8; 10]);
        assert!(matches!(
            read_bounded(&p, 9),
            Err(ReadError::TooLarge {
                limit: 9,
                size: Some(10)
            })
        ));
    }

    #[test]
    fn refuses_missing_paths_and_directories() {
        assert!(read_bounded(Path::new("/no/such/deitc/file"), 10)
            .expect_err("missing")
            .is_not_found());
        assert!(matches!(
            read_bounded(&std::env::temp_dir(), 10),
            Err(ReadError::IsDirectory)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_devices_and_symlinks_to_them_without_reading() {
        let dev = Path::new("/dev/zero");
        if !dev.exists() {
            return;
        }
        let err = read_bounded(dev, 1 << 20).expect_err("a device");
        assert!(matches!(
            err,
            ReadError::NotRegular {
                kind: FileKind::CharDevice
            }
        ));
        assert_eq!(
            err.to_string(),
            "it is a character device, not a regular file"
        );
        let link = scratch("zero.safetensors");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(dev, &link).expect("symlink");
        assert!(matches!(
            read_bounded(&link, 1 << 20),
            Err(ReadError::NotRegular {
                kind: FileKind::CharDevice
            })
        ));
    }

    /// Opening a FIFO blocks until a writer comes: it must be refused before that.
    #[cfg(unix)]
    #[test]
    fn refuses_a_fifo_without_opening_it() {
        let p = scratch("pipe.deit");
        let _ = std::fs::remove_file(&p);
        let made = std::process::Command::new("mkfifo").arg(&p).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        assert!(matches!(
            read_bounded(&p, 10),
            Err(ReadError::NotRegular {
                kind: FileKind::Fifo
            })
        ));
        let _ = std::fs::remove_file(&p);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_larger_than_its_metadata_says_is_cut_at_the_limit() {
        // procfs reports a size of 0 for files that hold more.
        let p = Path::new("/proc/self/maps");
        if regular_file(p).is_ok_and(|m| m.len() == 0) {
            assert!(matches!(
                read_bounded(p, 4),
                Err(ReadError::TooLarge {
                    limit: 4,
                    size: None
                })
            ));
        }
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(show_bytes(1 << 20), "1 MiB");
        assert_eq!(show_bytes(8 << 30), "8 GiB");
        assert_eq!(show_bytes(1000), "1000 bytes");
        assert_eq!(show_bytes(3 << 10), "3 KiB");
    }
}
