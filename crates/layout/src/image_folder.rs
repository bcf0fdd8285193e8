//! torchvision's `ImageFolder` layout, `<root>/<class>/<image>.png|jpg|jpeg`, listed.
//!
//! * Classes are the sub-folders of `root`, sorted by name (byte order, as Python's
//!   `sorted` on `str`); label `k` is the `k`-th of them.
//! * Images are the files directly in a class folder whose extension is `png`, `jpg` or
//!   `jpeg` in any case, sorted by file name. Other files are ignored; unlike torchvision,
//!   nested folders inside a class folder are not walked.

use crate::LayoutError;
use std::path::{Path, PathBuf};

/// What an ImageFolder root holds, before decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// Class names, sorted; label k is `classes[k]`.
    pub classes: Vec<String>,
    /// Every image file with its label, class by class, files sorted by name.
    pub files: Vec<(PathBuf, u16)>,
}

impl Listing {
    /// The image files, in order.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|(p, _)| p.clone()).collect()
    }
}

/// The sorted classes and the `(file, label)` list of an ImageFolder root.
pub fn list(root: &Path) -> Result<Listing, LayoutError> {
    if !root.is_dir() {
        return Err(LayoutError::MissingFolder {
            path: root.to_path_buf(),
        });
    }
    let mut class_dirs: Vec<(String, PathBuf)> = read_dir(root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|p| (file_name(&p), p))
        .collect();
    class_dirs.sort();
    if class_dirs.is_empty() {
        return Err(LayoutError::NoClasses {
            path: root.to_path_buf(),
        });
    }
    if class_dirs.len() > u16::MAX as usize + 1 {
        return Err(LayoutError::TooManyClasses {
            path: root.to_path_buf(),
            count: class_dirs.len(),
        });
    }
    let mut files = Vec::new();
    for (label, (_, dir)) in class_dirs.iter().enumerate() {
        let mut images: Vec<PathBuf> = read_dir(dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if images.is_empty() {
            return Err(LayoutError::EmptyClass { path: dir.clone() });
        }
        images.sort_by_key(|p| file_name(p));
        files.extend(images.into_iter().map(|p| (p, label as u16)));
    }
    Ok(Listing {
        classes: class_dirs.into_iter().map(|(n, _)| n).collect(),
        files,
    })
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, LayoutError> {
    let io = |source| LayoutError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()).map_err(io))
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `.png`, `.jpg` or `.jpeg`, any case.
pub fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}
