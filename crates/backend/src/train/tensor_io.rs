//! Named f32 tensors to and from one safetensors file, written atomically.
//!
//! A checkpoint is a single file so that replacing it is one `rename`: the bytes go to
//! `<name>.tmp` in the same folder, are fsynced, then renamed over the old file (and the
//! folder is fsynced). A crash at any point leaves either the old or the new checkpoint.

use dfdx::nn::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef,
};
use dfdx::prelude::*;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// A named tensor on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Every tensor of `model`, under `prefix` + its timm name.
pub fn collect<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &M,
    prefix: &str,
) -> Result<Vec<Named>, D::Err> {
    let mut c = Collect {
        prefix,
        out: Vec::new(),
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut c,
    })?;
    Ok(c.out)
}

struct Collect<'a> {
    prefix: &'a str,
    out: Vec<Named>,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Collect<'_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        (t, name): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        self.out.push(Named {
            name: format!("{}{name}", self.prefix),
            shape: t.shape().concrete().into_iter().collect(),
            data: t.as_vec(),
        });
        Ok(None)
    }
}

/// The safetensors bytes of `tensors` with string `metadata`.
pub fn to_bytes(tensors: &[Named], metadata: HashMap<String, String>) -> Result<Vec<u8>, String> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.shape.clone(),
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            ::safetensors::tensor::TensorView::new(::safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    ::safetensors::serialize(views, &Some(metadata)).map_err(|e| e.to_string())
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename. On any failure the
/// temporary file is removed: a full disk leaves the old file and nothing else.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, bytes, |f, b| f.write_all(b))
}

/// The temporary file [`write_atomically`] writes before renaming it over `path`:
/// `.<name>.tmp` in the same folder.
pub fn temporary(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    folder(path).join(format!(".{name}.tmp"))
}

fn folder(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// [`write_atomically`], with `write` putting the bytes into the temporary file (the
/// checkpoint writer passes the fault-injection hook of [`super::fault`] here).
pub fn write_atomically_with(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = folder(path);
    std::fs::create_dir_all(dir)?;
    let tmp = temporary(path);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        write(&mut f, bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // Best effort: the error that matters is `e`; the file may not even exist.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A file (or folder) that could not be written: where, how many bytes were being written
/// (when a file's content was), and why.
#[derive(Debug)]
pub struct WriteFailure {
    pub path: std::path::PathBuf,
    pub bytes: Option<u64>,
    pub error: std::io::Error,
}

impl WriteFailure {
    pub fn new(path: &Path, bytes: Option<usize>, error: std::io::Error) -> Self {
        WriteFailure {
            path: path.to_path_buf(),
            bytes: bytes.map(|b| b as u64),
            error,
        }
    }
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write `{}`: {}", self.path.display(), self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("deitc-tensor-io-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_failed_write_removes_its_temporary_file_and_keeps_the_old_file() {
        let dir = temp("full");
        let path = dir.join("checkpoint.safetensors");
        write_atomically(&path, b"old").expect("first write");
        // A disk that fills up half-way through the bytes.
        let err = write_atomically_with(&path, b"new bytes", |f, b| {
            f.write_all(&b[..b.len() / 2])?;
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ))
        })
        .expect_err("disk full");
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
        assert!(!temporary(&path).exists(), "the temporary file is left");
        assert_eq!(std::fs::read(&path).expect("old file"), b"old");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["checkpoint.safetensors"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_path_under_a_file_fails_as_not_a_directory() {
        let dir = temp("notdir");
        let file = dir.join("file");
        std::fs::write(&file, b"x").expect("write");
        let err = write_atomically(&file.join("run").join("checkpoint.safetensors"), b"x")
            .expect_err("under a file");
        assert_eq!(err.kind(), std::io::ErrorKind::NotADirectory);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
