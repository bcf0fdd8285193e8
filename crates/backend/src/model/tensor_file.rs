//! A minimal reader for `.safetensors` files (the format timm checkpoints and the parity
//! fixtures use).
//!
//! dfdx 0.13 reads safetensors through the `safetensors` crate but does not re-export it, and
//! its own loader panics or errors without naming the key; this reader needs only
//! `serde_json`. The format: an 8-byte little-endian header length `n`, `n` bytes of JSON
//! (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__":
//! {..}}`), then the data, offsets relative to its start.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::LoadError;
use crate::io_limits;

/// One tensor's header entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TensorInfo {
    /// safetensors dtype name: `F32`, `F64`, `I64`, …
    pub dtype: String,
    pub shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// A whole `.safetensors` file, held in memory.
#[derive(Debug, Clone)]
pub struct TensorFile {
    data: Vec<u8>,
    /// Where the data section starts in `data`.
    start: usize,
    tensors: BTreeMap<String, TensorInfo>,
    metadata: BTreeMap<String, String>,
}

impl TensorFile {
    /// Reads and parses the file at `path`: a regular file of at most
    /// [`MAX_WEIGHTS_BYTES`](crate::io_limits::MAX_WEIGHTS_BYTES) (see [`crate::io_limits`]).
    pub fn read(path: impl AsRef<Path>) -> Result<TensorFile, LoadError> {
        let path = path.as_ref();
        let bytes = io_limits::read(path, io_limits::MAX_WEIGHTS_BYTES).map_err(|error| {
            LoadError::Read {
                path: path.to_path_buf(),
                error,
            }
        })?;
        TensorFile::parse(bytes)
    }

    pub fn parse(data: Vec<u8>) -> Result<TensorFile, LoadError> {
        let bad = |reason: String| LoadError::Format { reason };
        let len_bytes: [u8; 8] = data
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("shorter than the 8-byte header length".into()))?;
        let header_len = usize::try_from(u64::from_le_bytes(len_bytes))
            .map_err(|_| bad("header length does not fit in memory".into()))?;
        let start = 8usize
            .checked_add(header_len)
            .filter(|&s| s <= data.len())
            .ok_or_else(|| bad(format!("header length {header_len} runs past the file end")))?;
        let header: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&data[8..start]).map_err(|e| bad(format!("header: {e}")))?;
        let mut tensors = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        for (key, value) in header {
            if key == "__metadata__" {
                metadata =
                    serde_json::from_value(value).map_err(|e| bad(format!("__metadata__: {e}")))?;
                continue;
            }
            let info: TensorInfo =
                serde_json::from_value(value).map_err(|e| bad(format!("`{key}`: {e}")))?;
            let [begin, end] = info.data_offsets;
            // Checked: a hostile header may name shapes or offsets whose product overflows.
            let numel = info.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            let want = match (dtype_size(&info.dtype), numel) {
                (Some(size), Some(n)) => Some(size.checked_mul(n)),
                (Some(_), None) => Some(None),
                (None, _) => None,
            };
            let in_file = start.checked_add(end).is_some_and(|e| e <= data.len());
            let sized = begin <= end
                && match want {
                    Some(Some(w)) => w == end - begin,
                    Some(None) => false,
                    None => true,
                };
            if !in_file || !sized {
                let numel = numel.map_or("too many".to_string(), |n| n.to_string());
                return Err(bad(format!(
                    "`{key}`: data offsets {begin}..{end} do not hold {numel} {} values",
                    info.dtype
                )));
            }
            tensors.insert(key, info);
        }
        Ok(TensorFile {
            data,
            start,
            tensors,
            metadata,
        })
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn info(&self, key: &str) -> Option<&TensorInfo> {
        self.tensors.get(key)
    }

    /// Whether the file is a deitc checkpoint (weights under `model.`, maybe `ema.` and the
    /// optimizer's moments) rather than a bare `state_dict`.
    pub fn is_checkpoint(&self) -> bool {
        self.keys().any(|k| k.starts_with("model."))
    }

    /// The key prefix of the weights to load: `model.` (or with `ema`, `ema.`) in a deitc
    /// checkpoint, none in a bare `state_dict`.
    pub fn weights_prefix(&self, ema: bool) -> &'static str {
        match (self.is_checkpoint(), ema) {
            (true, false) => "model.",
            (true, true) => "ema.",
            (false, _) => "",
        }
    }

    /// The `__metadata__` string map.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// A floating-point tensor (`F32` or `F64`) as f64, with its shape.
    pub fn f64s(&self, key: &str) -> Result<(Vec<usize>, Vec<f64>), LoadError> {
        let (info, bytes) = self.raw(key)?;
        let values = match info.dtype.as_str() {
            "F32" => bytes
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            "F64" => bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            _ => return Err(self.dtype_error(key, "F32 or F64")),
        };
        Ok((info.shape.clone(), values))
    }

    /// A floating-point tensor as f32 (`F64` is rounded), with its shape.
    pub fn f32s(&self, key: &str) -> Result<(Vec<usize>, Vec<f32>), LoadError> {
        let (shape, values) = self.f64s(key)?;
        Ok((shape, values.into_iter().map(|v| v as f32).collect()))
    }

    /// An integer tensor (`I64` or `I32`) as i64, with its shape.
    pub fn i64s(&self, key: &str) -> Result<(Vec<usize>, Vec<i64>), LoadError> {
        let (info, bytes) = self.raw(key)?;
        let values = match info.dtype.as_str() {
            "I64" => bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            "I32" => bytes
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            _ => return Err(self.dtype_error(key, "I64 or I32")),
        };
        Ok((info.shape.clone(), values))
    }

    fn raw(&self, key: &str) -> Result<(&TensorInfo, &[u8]), LoadError> {
        let info = self.tensors.get(key).ok_or_else(|| LoadError::Missing {
            key: key.to_string(),
        })?;
        let [begin, end] = info.data_offsets;
        Ok((info, &self.data[self.start + begin..self.start + end]))
    }

    fn dtype_error(&self, key: &str, expected: &'static str) -> LoadError {
        LoadError::Dtype {
            key: key.to_string(),
            found: self
                .tensors
                .get(key)
                .map(|i| i.dtype.clone())
                .unwrap_or_default(),
            expected,
        }
    }
}

/// Bytes per element, for the dtypes whose size is known.
fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn reads_f32_and_i64_tensors_and_metadata() {
        let mut data = Vec::new();
        for v in [1.5f32, -2.0] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        data.extend_from_slice(&7i64.to_le_bytes());
        let header = r#"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}"#;
        let f = TensorFile::parse(file(header, &data)).unwrap();
        assert_eq!(f.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(f.f32s("a").unwrap(), (vec![1, 2], vec![1.5, -2.0]));
        assert_eq!(f.i64s("b").unwrap(), (vec![1], vec![7]));
        assert_eq!(f.metadata()["k"], "v");
        assert!(matches!(f.f32s("b"), Err(LoadError::Dtype { .. })));
        assert!(matches!(f.f32s("c"), Err(LoadError::Missing { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_device_or_a_missing_file_is_refused_without_being_read() {
        let err = TensorFile::read("/dev/zero").unwrap_err();
        assert!(
            matches!(
                &err,
                LoadError::Read {
                    error: crate::io_limits::ReadError::NotRegular { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "cannot read `/dev/zero`: it is a character device, not a regular file"
        );
        let err = TensorFile::read("/no/such/checkpoint.safetensors").unwrap_err();
        assert!(matches!(&err, LoadError::Read { error, .. } if error.is_not_found()));
    }

    #[test]
    fn rejects_truncated_files() {
        assert!(TensorFile::parse(vec![1, 2, 3]).is_err());
        let header = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let err = TensorFile::parse(file(header, &[0; 8])).unwrap_err();
        assert!(err.to_string().contains("`a`"), "{err}");
    }

    #[test]
    fn rejects_headers_whose_sizes_overflow() {
        for header in [
            r#"{"a":{"dtype":"F32","shape":[8589934592,8589934592],"data_offsets":[0,8]}}"#,
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#,
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}}"#,
        ] {
            let err = TensorFile::parse(file(header, &[0; 8])).unwrap_err();
            assert!(err.to_string().contains("`a`"), "{err}");
        }
    }
}
