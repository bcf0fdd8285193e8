//! [`EventWriter`]: one events file, named as TensorBoard names its own
//! (`events.out.tfevents.<unix seconds>.<hostname>.<pid>.deitc`), written record by record
//! through a buffer.

use super::proto::Event;
use super::record;
use crate::train::tensor_io::WriteFailure;
use prost::Message;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What every events file name starts with (TensorBoard reads the files whose name holds
/// `tfevents`, in the order of their names).
pub const PREFIX: &str = "events.out.tfevents.";

/// An events file being written.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The events files in `dir`, in the order TensorBoard reads them (by name).
pub fn events_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The Unix seconds in an events file's name.
fn seconds_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix(PREFIX)?.split('.').next()?.parse().ok()
}

impl EventWriter {
    /// Creates a new events file in `dir` and writes its first record (`file_version`).
    ///
    /// Its name carries the current time in whole seconds, or one second more than the newest
    /// file already there: a file written later always sorts after the earlier ones, which is
    /// the order TensorBoard reads them in (a run resumed within the second it crashed).
    pub fn create(dir: &Path) -> Result<Self, WriteFailure> {
        let after = events_files(dir)
            .iter()
            .filter_map(|p| seconds_of(p))
            .max()
            .map_or(0, |s| s + 1);
        let secs = (now() as u64).max(after);
        let host: String = gethostname::gethostname()
            .to_string_lossy()
            .chars()
            .map(|c| match c {
                '/' | '\\' | ':' => '_',
                c => c,
            })
            .collect();
        let host = if host.is_empty() { "localhost" } else { &host };
        let name = format!("{PREFIX}{secs:010}.{host}.{}.deitc", std::process::id());
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| WriteFailure::new(&path, None, e))?;
        EventWriter::on(path, file)
    }

    /// Writes the events file `path`, open as `file`, from its first record.
    fn on(path: PathBuf, file: File) -> Result<Self, WriteFailure> {
        let mut w = EventWriter {
            path,
            file: BufWriter::with_capacity(64 * 1024, file),
        };
        w.write(&Event::file_version(now()))?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` as one record (buffered: see [`Self::flush`]).
    pub fn write(&mut self, event: &Event) -> Result<(), WriteFailure> {
        let bytes = record::frame(&event.encode_to_vec());
        self.file
            .write_all(&bytes)
            .map_err(|e| WriteFailure::new(&self.path, Some(bytes.len()), e))
    }

    /// Hands the buffered records to the OS, where a running TensorBoard reads them.
    pub fn flush(&mut self) -> Result<(), WriteFailure> {
        let pending = self.file.buffer().len();
        self.file
            .flush()
            .map_err(|e| WriteFailure::new(&self.path, Some(pending), e))
    }

    /// [`Self::flush`], then waits until the records are on the disk.
    pub fn sync(&mut self) -> Result<(), WriteFailure> {
        self.flush()?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(|e| WriteFailure::new(&self.path, None, e))
    }
}

/// Cuts each events file in `dir` back to its whole records: a crash (or a full disk) in the
/// middle of a write leaves a record cut short at the end of the file, which readers take
/// for one still being written; a file killed before its first record is removed. Records
/// are only ever appended, so a bad record is the last thing a writer did; what follows a
/// corrupt one (never written by deitc) is left alone.
pub fn drop_torn_tails(dir: &Path) -> Result<(), WriteFailure> {
    for path in events_files(dir) {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let whole = record::whole_prefix(&bytes);
        let torn = record::records(&bytes[whole..])
            .next()
            .is_some_and(|r| matches!(r, Err(record::RecordError::Truncated { .. })));
        if whole == 0 && (torn || bytes.is_empty()) {
            // Killed before its first record reached the file: nothing to keep.
            std::fs::remove_file(&path).map_err(|e| WriteFailure::new(&path, None, e))?;
        } else if whole < bytes.len() && torn {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(whole as u64))
                .map_err(|e| WriteFailure::new(&path, None, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{RunError, WriteKind};

    #[test]
    fn a_failed_write_is_the_run_write_error_naming_the_file() {
        // A folder that is not there.
        let missing = std::env::temp_dir().join(format!("deitc-tb-missing-{}", std::process::id()));
        let err = EventWriter::create(&missing.join("sub")).expect_err("no folder");
        assert!(err.path.starts_with(missing.join("sub")), "{:?}", err.path);
        assert!(matches!(RunError::from(err), RunError::Write { .. }));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_reported_as_one() {
        let path = PathBuf::from("/dev/full");
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else {
            return; // no /dev/full in this sandbox
        };
        let mut w = EventWriter::on(path.clone(), file).expect("buffered");
        let big = Event::summary(
            0.0,
            1,
            vec![super::super::proto::Value::text("t", &"x".repeat(100_000))],
        );
        let err = w.write(&big).expect_err("ENOSPC");
        assert_eq!(err.path, path);
        assert!(err.bytes.is_some_and(|b| b > 100_000), "{:?}", err.bytes);
        match RunError::from(err) {
            RunError::Write { kind, path, .. } => {
                assert_eq!(kind, WriteKind::DiskFull);
                assert_eq!(path, "/dev/full");
            }
            other => panic!("{other:?}"),
        }
    }
}
