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
    /// The command line itself (`<command line>`), for a usage error's labels.
    CommandLine,
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Display name: the path as the user wrote it, `<cli:N>`, `<default>` or `<command line>`.
    pub name: String,
    pub text: String,
    pub kind: SourceKind,
}

/// The text of a recipe file as deitc reads it: a leading UTF-8 byte-order mark is dropped
/// (as rustc does), and a lone `\r` (a classic Mac OS line end) becomes `\n`, so that every
/// count of lines agrees (the grammar's, miette's snippets, `file:line` in `explain`); `\r\n`
/// is kept. Every byte offset into the result is the offset into the file, less the 3 bytes
/// of a BOM when there was one.
pub fn normalize(text: String) -> String {
    let text = match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    if !text.contains('\r') {
        return text;
    }
    let bytes = text.as_bytes();
    let out: Vec<u8> = bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if b == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
                b'\n'
            } else {
                b
            }
        })
        .collect();
    // Only ASCII bytes were replaced by ASCII bytes.
    String::from_utf8(out).unwrap_or(text)
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

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn a_bom_is_dropped_and_lone_carriage_returns_end_lines() {
        assert_eq!(normalize("\u{FEFF}a = 1\n".into()), "a = 1\n");
        assert_eq!(normalize("a\rb\r\nc\r".into()), "a\nb\r\nc\n");
        assert_eq!(normalize("é\r\u{FEFF}".into()), "é\n\u{FEFF}");
        assert_eq!(normalize(String::new()), "");
    }
}
