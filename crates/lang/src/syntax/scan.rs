//! A lexical pre-scan shared by the nesting limit, the formatter and the error bridge:
//! brackets and comments outside string literals, with their byte offsets.

/// One mark in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `(`, `[` or `{` at this offset.
    Open(usize, u8),
    /// `)`, `]` or `}` at this offset.
    Close(usize, u8),
    /// A `//` comment over `start..end` (the line end, `\n`, `\r\n` or `\r`, excluded).
    Comment(usize, usize),
}

/// Every bracket and comment of `text`, in order; strings are skipped (up to their closing
/// quote or the end of the line).
pub fn marks(text: &str) -> Vec<Mark> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
                out.push(Mark::Comment(start, i));
                continue;
            }
            b @ (b'(' | b'[' | b'{') => out.push(Mark::Open(i, b)),
            b @ (b')' | b']' | b'}') => out.push(Mark::Close(i, b)),
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_hide_brackets_and_comment_markers() {
        let m = marks("a = \"(//\" // c)\nb { }");
        assert_eq!(
            m,
            vec![
                Mark::Comment(10, 15),
                Mark::Open(18, b'{'),
                Mark::Close(20, b'}')
            ]
        );
    }
}
