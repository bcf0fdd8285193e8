//! Where the cursor is, read from the text alone (a recipe being typed rarely parses):
//! which block it is in, whether it starts a statement, writes a value, a reference, a
//! data source's arguments or an `extends` path. Completion works from this.

/// What the cursor is writing.
#[derive(Debug, Clone, PartialEq)]
pub enum Context {
    /// The start of a statement inside `block` (`""` at top level): `partial` is the path
    /// typed so far (`em`, `crop.ki`).
    Statement { block: String, partial: String },
    /// The value of `field`, with the word typed so far.
    Value { field: String, partial: String },
    /// A dotted reference in a value: `train.ba`, `stage.teacher.`.
    Reference { partial: String },
    /// Inside the parentheses of `call(`, in a value; `arg` when an argument name and `=`
    /// are written (`split = v`).
    CallArg {
        call: String,
        arg: Option<String>,
        partial: String,
    },
    /// Inside the string of `extends "…`, with what is typed so far.
    ExtendsPath { partial: String },
    /// Inside a comment or another string.
    Nothing,
}

#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Block(String),
    Stage(String),
    Paren(String),
    Bracket,
}

/// What the text says before `offset`, and the file's statements.
pub struct Scan {
    frames: Vec<Frame>,
    /// Start of the current statement.
    statement: usize,
    in_string: Option<usize>,
    in_comment: bool,
    /// Every `path = …` written, as full paths, with the stage it is in.
    pub assigned: Vec<(String, Option<String>)>,
    /// Every stage declared.
    pub stages: Vec<String>,
}

impl Scan {
    fn block_path(&self) -> String {
        let names: Vec<&str> = self
            .frames
            .iter()
            .filter_map(|f| match f {
                Frame::Block(n) => Some(n.as_str()),
                _ => None,
            })
            .collect();
        names.join(".")
    }

    /// The stage the cursor is in.
    pub fn stage(&self) -> Option<String> {
        self.frames.iter().find_map(|f| match f {
            Frame::Stage(n) => Some(n.clone()),
            _ => None,
        })
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The identifier that ends at `end` (skipping spaces before it), with its start.
fn word_before(text: &str, end: usize) -> Option<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut e = end;
    while e > 0 && bytes[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    let mut s = e;
    while s > 0 && is_ident(bytes[s - 1]) {
        s -= 1;
    }
    (s < e).then(|| (s, &text[s..e]))
}

/// Scans `text` up to `upto` (`text.len()` for all of `assigned` and `stages`).
pub fn scan(text: &str, upto: usize) -> Scan {
    let bytes = text.as_bytes();
    let upto = upto.min(bytes.len());
    let mut s = Scan {
        frames: Vec::new(),
        statement: 0,
        in_string: None,
        in_comment: false,
        assigned: Vec::new(),
        stages: Vec::new(),
    };
    let mut i = 0;
    while i < upto {
        let b = bytes[i];
        if s.in_string.is_some() {
            match b {
                b'\\' => i += 1,
                b'"' | b'\n' => s.in_string = None,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                if upto <= end {
                    s.in_comment = true;
                    return s;
                }
                i = end;
                continue;
            }
            b'"' => s.in_string = Some(i),
            b'\n'
                if !s
                    .frames
                    .iter()
                    .any(|f| matches!(f, Frame::Paren(_) | Frame::Bracket)) =>
            {
                s.statement = i + 1;
            }
            b'{' => {
                let name = word_before(text, i);
                let stage = name
                    .and_then(|(st, _)| word_before(text, st))
                    .map(|(_, w)| w);
                match (name, stage) {
                    (Some((_, n)), Some("stage")) => {
                        s.stages.push(n.to_string());
                        s.frames.push(Frame::Stage(n.to_string()));
                    }
                    (Some((_, n)), _) => s.frames.push(Frame::Block(n.to_string())),
                    (None, _) => s.frames.push(Frame::Block(String::new())),
                }
                s.statement = i + 1;
            }
            b'}' => {
                while let Some(f) = s.frames.pop() {
                    if matches!(f, Frame::Block(_) | Frame::Stage(_)) {
                        break;
                    }
                }
                s.statement = i + 1;
            }
            b'(' => {
                let name = word_before(text, i).map_or(String::new(), |(_, w)| w.to_string());
                s.frames.push(Frame::Paren(name));
            }
            b'[' => s.frames.push(Frame::Bracket),
            b')' | b']' => {
                if matches!(s.frames.last(), Some(Frame::Paren(_) | Frame::Bracket)) {
                    s.frames.pop();
                }
            }
            b'=' if !s
                .frames
                .iter()
                .any(|f| matches!(f, Frame::Paren(_) | Frame::Bracket)) =>
            {
                let lhs = text[s.statement..i].trim();
                if !lhs.is_empty() && lhs.bytes().all(|c| is_ident(c) || c == b'.') {
                    let block = s.block_path();
                    let full = if block.is_empty() {
                        lhs.to_string()
                    } else {
                        format!("{block}.{lhs}")
                    };
                    let stage = s.stage();
                    s.assigned.push((full, stage));
                }
            }
            _ => {}
        }
        i += 1;
    }
    s
}

/// The context of the cursor at byte `offset` of `text`.
pub fn at(text: &str, offset: usize) -> (Context, Scan) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let s = scan(text, offset);
    let whole = scan(text, text.len());
    let s = Scan {
        assigned: whole.assigned,
        stages: whole.stages,
        ..s
    };
    if s.in_comment {
        return (Context::Nothing, s);
    }
    let head = &text[s.statement.min(offset)..offset];
    if let Some(q) = s.in_string {
        let before = text[s.statement.min(q)..q].trim();
        let ctx = if before == "extends" {
            Context::ExtendsPath {
                partial: text[q + 1..offset].to_string(),
            }
        } else {
            Context::Nothing
        };
        return (ctx, s);
    }
    let Some(eq) = head.find('=') else {
        let partial = head.trim().to_string();
        return (
            Context::Statement {
                block: s.block_path(),
                partial,
            },
            s,
        );
    };
    let lhs = head[..eq].trim();
    let block = s.block_path();
    let field = if block.is_empty() {
        lhs.to_string()
    } else {
        format!("{block}.{lhs}")
    };
    let value = &head[eq + 1..];
    // The word being typed: identifier characters and dots.
    let start = value
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map_or(0, |i| i + 1);
    let partial = value[start..].to_string();
    if let Some(Frame::Paren(call)) = s.frames.last() {
        // Inside `call(…`: the text since the last comma or the parenthesis.
        let open = value.rfind('(').map_or(0, |i| i + 1);
        let piece = &value[open..];
        let piece = piece.rsplit(',').next().unwrap_or(piece);
        let arg = piece
            .split_once('=')
            .map(|(name, _)| name.trim().to_string())
            .filter(|n| !n.is_empty());
        let ctx = Context::CallArg {
            call: call.clone(),
            arg,
            partial,
        };
        return (ctx, s);
    }
    if partial.contains('.') {
        return (Context::Reference { partial }, s);
    }
    (Context::Value { field, partial }, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(text: &str) -> Context {
        let at_cursor = text.find('|').unwrap_or(text.len());
        let text = text.replace('|', "");
        at(&text, at_cursor).0
    }

    #[test]
    fn contexts_follow_blocks_values_and_strings() {
        assert_eq!(
            ctx("model {\n    em|\n}"),
            Context::Statement {
                block: "model".into(),
                partial: "em".into()
            }
        );
        assert_eq!(
            ctx("augment { crop { kind = ran|"),
            Context::Value {
                field: "augment.crop.kind".into(),
                partial: "ran".into()
            }
        );
        assert_eq!(
            ctx("optimizer.lr = 5e-4 * train.ba|"),
            Context::Reference {
                partial: "train.ba".into()
            }
        );
        assert_eq!(
            ctx("data { train = cifar10(\"x\", split = v|"),
            Context::CallArg {
                call: "cifar10".into(),
                arg: Some("split".into()),
                partial: "v".into()
            }
        );
        assert_eq!(
            ctx("extends \"../rec|"),
            Context::ExtendsPath {
                partial: "../rec".into()
            }
        );
        assert_eq!(ctx("// model { em|"), Context::Nothing);
        let s = scan(
            "stage a {\n model { embed = 1 }\n}\ntrain.batch = 2\n",
            usize::MAX,
        );
        assert_eq!(
            s.assigned,
            vec![
                ("model.embed".to_string(), Some("a".to_string())),
                ("train.batch".to_string(), None)
            ]
        );
        assert_eq!(s.stages, vec!["a".to_string()]);
    }
}
