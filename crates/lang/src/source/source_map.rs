//! The registry of every text deitc has read in one invocation.

use super::{FileId, Span};
use std::path::{Path, PathBuf};

/// Where a source came from; decides how origins are shown in `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A recipe file on disk (its path as given, and canonicalised for cycle checks).
    File { path: PathBuf, canonical: PathBuf },
    /// The N-th `--set` argument (1-based).
    Cli(usize),
    /// A built-in default of the schema.
    Default,
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Display name: the path as the user wrote it, `<cli:N>` or `<default>`.
    pub name: String,
    pub text: String,
    pub kind: SourceKind,
}

#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(
        &mut self,
        name: impl Into<String>,
        text: impl Into<String>,
        kind: SourceKind,
    ) -> FileId {
        self.files.push(SourceFile {
            name: name.into(),
            text: text.into(),
            kind,
        });
        FileId((self.files.len() - 1) as u32)
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn name(&self, id: FileId) -> &str {
        &self.file(id).name
    }

    pub fn text(&self, id: FileId) -> &str {
        &self.file(id).text
    }

    /// The text a span covers.
    pub fn slice(&self, span: Span) -> &str {
        self.text(span.file).get(span.range()).unwrap_or("")
    }

    /// 1-based line and column of a span's start.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        let text = self.text(span.file);
        let upto = &text[..(span.start as usize).min(text.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// `name:line`, the short form used in `explain` and notes.
    pub fn location(&self, span: Span) -> String {
        let (line, _) = self.line_col(span);
        match self.file(span.file).kind {
            SourceKind::File { .. } => format!("{}:{}", self.name(span.file), line),
            _ => self.name(span.file).to_string(),
        }
    }

    /// The file id of an already-loaded file with this canonical path.
    pub fn find_canonical(&self, canonical: &Path) -> Option<FileId> {
        self.files
            .iter()
            .position(
                |f| matches!(&f.kind, SourceKind::File { canonical: c, .. } if c == canonical),
            )
            .map(|i| FileId(i as u32))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
