//! Reading events files back, strictly: every record's two CRCs verified, every record a
//! decodable `Event`, the first one a `file_version`. [`load`] reads a run directory as
//! TensorBoard does — files in name order, a `SessionLog.START` at step `s` after the first
//! one discarding what was read at steps `≥ s` — for tests and tools.

use super::proto::{Event, Kind, SessionStatus, What};
use super::record::{self, RecordError};
use super::writer::events_files;
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why an events file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Record {
        path: PathBuf,
        error: RecordError,
    },
    /// A record is not an `Event`.
    Decode {
        path: PathBuf,
        record: usize,
        error: prost::DecodeError,
    },
    /// The first record is not `file_version: "brain.Event:2"`.
    FileVersion {
        path: PathBuf,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io { path, error } => write!(f, "`{}`: {error}", path.display()),
            ReadError::Record { path, error } => write!(f, "`{}`: {error}", path.display()),
            ReadError::Decode {
                path,
                record,
                error,
            } => write!(f, "`{}`: record {record}: {error}", path.display()),
            ReadError::FileVersion { path } => write!(
                f,
                "`{}` does not start with `file_version: \"brain.Event:2\"`",
                path.display()
            ),
        }
    }
}

/// Every event of the events file `path`, in order.
pub fn read_file(path: &Path) -> Result<Vec<Event>, ReadError> {
    let bytes = std::fs::read(path).map_err(|error| ReadError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let mut events = Vec::new();
    for (i, data) in record::records(&bytes).enumerate() {
        let data = data.map_err(|error| ReadError::Record {
            path: path.to_path_buf(),
            error,
        })?;
        let event = Event::decode(data).map_err(|error| ReadError::Decode {
            path: path.to_path_buf(),
            record: i,
            error,
        })?;
        events.push(event);
    }
    match events.first().and_then(|e| e.what.as_ref()) {
        Some(What::FileVersion(v)) if v == "brain.Event:2" => Ok(events),
        _ => Err(ReadError::FileVersion {
            path: path.to_path_buf(),
        }),
    }
}

/// A decoded image summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageValue {
    pub width: i32,
    pub height: i32,
    pub colorspace: i32,
    pub encoded: Vec<u8>,
}

/// What a run directory shows in TensorBoard: per tag, `(step, value)` in the order read,
/// after the restarts' purges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunEvents {
    /// The events files, in the order read.
    pub files: Vec<PathBuf>,
    /// The steps of the `SessionLog.START` events: the run's beginning, then its restarts.
    pub starts: Vec<i64>,
    pub scalars: BTreeMap<String, Vec<(i64, f32)>>,
    /// Text summaries (`string_val`s joined), with the plugin that their metadata names.
    pub texts: BTreeMap<String, Vec<(i64, String)>>,
    pub text_plugins: BTreeMap<String, String>,
    pub images: BTreeMap<String, Vec<(i64, ImageValue)>>,
}

impl RunEvents {
    /// The values of scalar `tag` (empty when absent).
    pub fn scalar(&self, tag: &str) -> &[(i64, f32)] {
        self.scalars.get(tag).map_or(&[], Vec::as_slice)
    }

    fn purge(&mut self, from: i64) {
        self.scalars
            .values_mut()
            .for_each(|v| v.retain(|p| p.0 < from));
        self.texts
            .values_mut()
            .for_each(|v| v.retain(|p| p.0 < from));
        self.images
            .values_mut()
            .for_each(|v| v.retain(|p| p.0 < from));
    }
}

/// Reads every events file of `dir` (strictly, see [`read_file`]) into what TensorBoard
/// shows.
pub fn load(dir: &Path) -> Result<RunEvents, ReadError> {
    let mut run = RunEvents::default();
    for path in events_files(dir) {
        for event in read_file(&path)? {
            match event.what {
                Some(What::SessionLog(s)) if s.status == SessionStatus::Start as i32 => {
                    // The first START begins the run; a later one is a restart.
                    if !run.starts.is_empty() {
                        run.purge(event.step);
                    }
                    run.starts.push(event.step);
                }
                Some(What::Summary(s)) => {
                    for v in s.value {
                        let tag = v.tag;
                        match v.value {
                            Some(Kind::SimpleValue(x)) => {
                                run.scalars.entry(tag).or_default().push((event.step, x))
                            }
                            Some(Kind::Tensor(t)) => {
                                let text = t
                                    .string_val
                                    .iter()
                                    .map(|s| String::from_utf8_lossy(s).into_owned())
                                    .collect::<Vec<_>>()
                                    .join("\n");
                                if let Some(p) = v.metadata.and_then(|m| m.plugin_data) {
                                    run.text_plugins.insert(tag.clone(), p.plugin_name);
                                }
                                run.texts.entry(tag).or_default().push((event.step, text));
                            }
                            Some(Kind::Image(i)) => run.images.entry(tag).or_default().push((
                                event.step,
                                ImageValue {
                                    width: i.width,
                                    height: i.height,
                                    colorspace: i.colorspace,
                                    encoded: i.encoded_image_string,
                                },
                            )),
                            None => {}
                        }
                    }
                }
                _ => {}
            }
        }
        run.files.push(path);
    }
    Ok(run)
}
