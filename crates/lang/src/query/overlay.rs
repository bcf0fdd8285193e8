//! An overlay of in-memory texts over the file system: while [`with_overlay`] runs, every
//! recipe the checker reads (the file, its bases, a teacher's recipe) comes from the overlay
//! when it holds that path, so an editor's unsaved buffers are checked as they stand, bases
//! included. It can also answer the checker's questions about data sources
//! ([`DatasetFacts`]), so that an editor never waits for a dataset folder to be listed.
//!
//! The overlay is per thread and scoped: outside `with_overlay` (the command line) the
//! checker reads the disk as always.

use crate::check::dataset::{self, SourceFacts};
use crate::ir::Source;
use crate::source::{load_file, LoadError, MAX_SOURCE_BYTES};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Answers what the checker asks of a data source (class and sample counts).
pub type DatasetFacts = dyn Fn(&Source) -> SourceFacts + Send + Sync;

/// Texts by path, and optionally who answers for data sources.
#[derive(Clone, Default)]
pub struct Overlay {
    texts: HashMap<PathBuf, Arc<str>>,
    datasets: Option<Arc<DatasetFacts>>,
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("texts", &self.texts.keys().collect::<Vec<_>>())
            .field("datasets", &self.datasets.is_some())
            .finish()
    }
}

impl Overlay {
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds `text` for `path` (made absolute; a symlink is also held at its target).
    pub fn insert(&mut self, path: &Path, text: impl Into<Arc<str>>) {
        let text = text.into();
        if let Ok(c) = std::fs::canonicalize(path) {
            self.texts.insert(key(&c), text.clone());
        }
        self.texts.insert(key(path), text);
    }

    /// The text held for `path`, if any.
    pub fn text(&self, path: &Path) -> Option<&str> {
        if let Some(t) = self.texts.get(&key(path)) {
            return Some(t);
        }
        let c = std::fs::canonicalize(path).ok()?;
        self.texts.get(&key(&c)).map(|t| &**t)
    }

    /// Data sources are answered by `facts` instead of being looked at on disk.
    pub fn with_datasets(mut self, facts: Arc<DatasetFacts>) -> Self {
        self.datasets = Some(facts);
        self
    }
}

/// `path` absolute and without `.`/`..` (lexically), the overlay's key.
fn key(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Overlay>>> = const { RefCell::new(None) };
}

/// Puts the previous overlay back, also when `f` unwinds.
struct Restore(Option<Arc<Overlay>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Runs `f` (a `check`, a `resolve`) with `overlay` in front of the file system on this
/// thread.
pub fn with_overlay<R>(overlay: Arc<Overlay>, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(overlay));
    let _restore = Restore(previous);
    f()
}

fn current() -> Option<Arc<Overlay>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// A recipe's text: the overlay's when it holds the path (under the same limits as a file:
/// at most [`MAX_SOURCE_BYTES`], no NUL byte), else the file's.
pub(crate) fn load(path: &Path) -> Result<String, LoadError> {
    let Some(overlay) = current() else {
        return load_file(path);
    };
    let Some(text) = overlay.text(path) else {
        return load_file(path);
    };
    if text.len() as u64 > MAX_SOURCE_BYTES {
        return Err(LoadError::TooLarge {
            bytes: Some(text.len() as u64),
        });
    }
    if text.contains('\0') {
        return Err(LoadError::Binary);
    }
    Ok(text.to_string())
}

/// What the checker learns about a data source: from the overlay's answerer when there is
/// one, else from the disk.
pub(crate) fn dataset_facts(source: &Source) -> SourceFacts {
    match current().and_then(|o| o.datasets.clone()) {
        Some(facts) => facts(source),
        None => dataset::facts(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlay_is_read_first_and_only_inside_its_scope() {
        let dir = std::env::temp_dir().join(format!("deitc-overlay-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("r.deit");
        let _ = std::fs::write(&path, "on disk");
        let mut o = Overlay::new();
        o.insert(&dir.join("sub/../r.deit"), "in memory");
        let inside = with_overlay(Arc::new(o), || load(&path));
        assert_eq!(inside.as_deref(), Ok("in memory"));
        assert_eq!(load(&path).as_deref(), Ok("on disk"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn overlay_texts_keep_the_file_limits() {
        let mut o = Overlay::new();
        let path = Path::new("/nonexistent/big.deit");
        o.insert(path, "x".repeat(MAX_SOURCE_BYTES as usize + 1));
        let r = with_overlay(Arc::new(o), || load(path));
        assert!(matches!(r, Err(LoadError::TooLarge { .. })));
    }
}
