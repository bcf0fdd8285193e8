//! Positions as the protocol counts them (lines, and UTF-16 code units within a line)
//! against byte offsets into a text, and the edits of `didChange`.

use lsp_types::{Position, Range, TextDocumentContentChangeEvent};

/// The byte offset of each line's start. A line ends at `\n`, `\r\n` or a lone `\r`, as
/// the protocol says.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        LineIndex { starts }
    }

    /// The position of byte `offset` (clamped to the text, and back to a char boundary).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts[line];
        let character: usize = text[start..offset].chars().map(char::len_utf16).sum();
        Position::new(line as u32, character as u32)
    }

    /// The byte offset of `pos`, clamped to its line (a position past the end of a line is
    /// its end; past the last line, the end of the text).
    pub fn offset(&self, text: &str, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .copied()
            .unwrap_or(text.len());
        let line = text.get(start..end).unwrap_or("");
        let line = line.trim_end_matches(['\n', '\r']);
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            if units >= pos.character as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        start + line.len()
    }

    pub fn range(&self, text: &str, start: usize, end: usize) -> Range {
        Range::new(self.position(text, start), self.position(text, end))
    }
}

/// Applies `didChange` edits in order: a change with a range replaces it (incremental
/// sync), one without replaces the whole text.
pub fn apply_changes(text: &mut String, changes: Vec<TextDocumentContentChangeEvent>) {
    for change in changes {
        match change.range {
            Some(range) => {
                let index = LineIndex::new(text);
                let start = index.offset(text, range.start);
                let end = index.offset(text, range.end).max(start);
                text.replace_range(start..end, &change.text);
            }
            None => *text = change.text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_every_line_end() {
        let text = "a\r\nbé𝄞c\rd\n";
        let idx = LineIndex::new(text);
        let c = text.find('c').unwrap_or(0);
        assert_eq!(idx.position(text, c), Position::new(1, 4));
        assert_eq!(idx.offset(text, Position::new(1, 4)), c);
        assert_eq!(
            idx.position(text, text.find('d').unwrap_or(0)),
            Position::new(2, 0)
        );
        assert_eq!(idx.offset(text, Position::new(0, 99)), 1);
        assert_eq!(idx.offset(text, Position::new(9, 0)), text.len());
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut text = "model {\n    embed = 192\n}\n".to_string();
        let edit = |l1, c1, l2, c2, t: &str| TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(l1, c1), Position::new(l2, c2))),
            range_length: None,
            text: t.into(),
        };
        apply_changes(
            &mut text,
            vec![edit(1, 12, 1, 15, "384"), edit(1, 4, 1, 4, "// x\n    ")],
        );
        assert_eq!(text, "model {\n    // x\n    embed = 384\n}\n");
    }
}
