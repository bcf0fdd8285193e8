//! The canonical layout of a recipe (`deitc fmt`): one item per line, 4-space indentation,
//! single spaces around `=` and operators, at most one blank line kept between items, a
//! blank line between top-level blocks. Comments are kept: own-line comments before the
//! item that follows them, end-of-line comments after their item. A value prints on one line,
//! except a list or a call whose brackets hold a comment: it prints one element per line, each
//! with its comments (own-line before it, end-of-line after it).

use super::ast::*;
use super::scan::{marks, Mark};
use crate::source::Span;

/// A `//` comment in the source.
#[derive(Debug, Clone)]
struct Comment {
    start: usize,
    end: usize,
    text: String,
}

/// Formats `file` (parsed from `text`).
pub fn format(file: &File, text: &str) -> String {
    let mut f = Formatter {
        text,
        comments: comments(text),
        next: 0,
        out: String::new(),
        last_end: 0,
    };
    for e in &file.extends {
        f.leading(e.span.start as usize, 0, true);
        if f.blank_before(e.span.start as usize) {
            f.blank();
        }
        f.line(0, &format!("extends {}", quote(&e.path)));
        f.trailing(e.span);
    }
    for (i, item) in file.items.iter().enumerate() {
        let force_blank = i == 0 && !file.extends.is_empty()
            || i > 0 && matches!(item, Item::Block(_) | Item::Stage(_))
            || i > 0 && matches!(file.items[i - 1], Item::Block(_) | Item::Stage(_));
        f.item(item, 0, force_blank);
    }
    f.leading(text.len(), 0, false);
    f.out
}

struct Formatter<'a> {
    text: &'a str,
    comments: Vec<Comment>,
    /// Index of the first comment not yet printed.
    next: usize,
    out: String,
    /// End of the last printed source piece, to find blank lines.
    last_end: usize,
}

impl Formatter<'_> {
    fn line(&mut self, depth: usize, s: &str) {
        for _ in 0..depth {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    /// Was there a blank line in the source between the last printed piece and `pos`?
    fn blank_before(&self, pos: usize) -> bool {
        let gap = &self.text[self.last_end.min(pos)..pos];
        gap.matches('\n').count() >= 2
    }

    fn blank(&mut self) {
        let opened = ["{\n", "[\n", "(\n", "\n\n"];
        if !self.out.is_empty() && !opened.iter().any(|o| self.out.ends_with(o)) {
            self.out.push('\n');
        }
    }

    /// Prints the comments that start before `pos`, each on its own line.
    fn leading(&mut self, pos: usize, depth: usize, allow_blank: bool) {
        while let Some(c) = self
            .comments
            .get(self.next)
            .filter(|c| c.start < pos)
            .cloned()
        {
            if allow_blank && self.blank_before(c.start) {
                self.blank();
            }
            self.line(depth, &c.text);
            self.last_end = c.end;
            self.next += 1;
        }
    }

    /// Appends an end-of-line comment that follows `span` on its last line.
    fn trailing(&mut self, span: Span) {
        self.trailing_before(span, usize::MAX);
    }

    /// As `trailing`, for a comment that starts before `limit` only.
    fn trailing_before(&mut self, span: Span, limit: usize) {
        let end = span.end as usize;
        self.last_end = end;
        let next = self
            .comments
            .get(self.next)
            .filter(|c| c.start >= end && c.start < limit);
        if let Some(c) = next.cloned() {
            if !self.text[end..c.start].contains('\n') {
                self.out.pop();
                self.out.push(' ');
                self.out.push_str(&c.text);
                self.out.push('\n');
                self.last_end = c.end;
                self.next += 1;
            }
        }
    }

    fn item(&mut self, item: &Item, depth: usize, force_blank: bool) {
        let start = item.span().start as usize;
        let had_comments = self
            .comments
            .get(self.next)
            .is_some_and(|c| c.start < start);
        if force_blank || (!had_comments && self.blank_before(start)) {
            self.blank();
        }
        self.leading(start, depth, true);
        if had_comments && self.blank_before(start) {
            self.blank();
        }
        match item {
            Item::Field(field) => {
                let head = format!("{} = ", field.path.dotted());
                // Comments before the value move above the field; so do those inside a value
                // that prints on one line.
                self.leading(field.value.span.start as usize, depth, false);
                if !self.sequence(&head, &field.value, depth, "") {
                    self.leading(field.span.end as usize, depth, false);
                    self.line(depth, &format!("{head}{}", expr(&field.value)));
                }
                self.trailing(field.span);
            }
            Item::Delete(d) => {
                self.line(depth, &format!("delete {}", d.path.dotted()));
                self.trailing(d.span);
            }
            Item::Block(b) => self.braced(&b.name.name, b.name.span, b.span, &[], &b.items, depth),
            Item::Stage(s) => self.braced(
                &format!("stage {}", s.name.name),
                s.name.span,
                s.span,
                &s.extends,
                &s.items,
                depth,
            ),
        }
    }

    /// A list or call whose brackets hold a comment, one element per line after `head` (a
    /// field's `path = `, an argument's `name = `), closed by `]` or `)` and `suffix`. Each
    /// element keeps its comments: own-line ones before it, an end-of-line one after it.
    /// Returns `false`, printing nothing, for any other expression.
    fn sequence(&mut self, head: &str, e: &Expr, depth: usize, suffix: &str) -> bool {
        let (start, end) = (e.span.start as usize, e.span.end as usize);
        let holds_comment = self.comments[self.next..]
            .iter()
            .any(|c| c.start > start && c.start < end);
        // Each element: what prints before it, where it starts, its value.
        let (opener, close, elements): (String, char, Vec<(String, usize, &Expr)>) = match &e.kind {
            ExprKind::List(items) => (
                "[".into(),
                ']',
                items
                    .iter()
                    .map(|x| (String::new(), x.span.start as usize, x))
                    .collect(),
            ),
            ExprKind::Call { name, args } => (
                format!("{}(", name.name),
                ')',
                args.iter()
                    .map(|a| match &a.name {
                        Some(n) => (format!("{} = ", n.name), n.span.start as usize, &a.value),
                        None => (String::new(), a.value.span.start as usize, &a.value),
                    })
                    .collect(),
            ),
            _ => return false,
        };
        if !holds_comment {
            return false;
        }
        self.line(depth, &format!("{head}{opener}"));
        let open = start
            + self.text[start..end]
                .find(&opener[opener.len() - 1..])
                .unwrap_or(0);
        let close_at = end - 1;
        let first = elements.first().map_or(close_at, |(_, at, _)| *at);
        let bracket = Span {
            start: open as u32,
            end: open as u32 + 1,
            ..e.span
        };
        self.trailing_before(bracket, first);
        for (k, (prefix, at, value)) in elements.iter().enumerate() {
            let limit = elements.get(k + 1).map_or(close_at, |(_, next, _)| *next);
            self.leading(*at, depth + 1, true);
            if !self.sequence(prefix, value, depth + 1, ",") {
                self.leading(value.span.end as usize, depth + 1, false);
                self.line(depth + 1, &format!("{prefix}{},", expr(value)));
            }
            // The comment after the element and its comma, on the same line.
            self.trailing_before(value.span, limit);
        }
        self.leading(close_at, depth + 1, true);
        self.line(depth, &format!("{close}{suffix}"));
        self.last_end = end;
        true
    }

    /// `header { extends…; items }`: a block, or a stage with its own `extends` lines.
    fn braced(
        &mut self,
        header: &str,
        name: Span,
        span: Span,
        extends: &[Extends],
        items: &[Item],
        depth: usize,
    ) {
        let close = span.end as usize - 1;
        let comment_inside = self
            .comments
            .get(self.next)
            .is_some_and(|c| c.start < close);
        if items.is_empty() && extends.is_empty() && !comment_inside {
            self.line(depth, &format!("{header} {{}}"));
            self.trailing(span);
            return;
        }
        self.line(depth, &format!("{header} {{"));
        let open_end = name.end as usize;
        let brace_end = open_end + self.text[open_end..].find('{').unwrap_or(0) + 1;
        let first = extends
            .first()
            .map(|e| e.span)
            .or(items.first().map(Item::span))
            .map_or(usize::MAX, |s| s.start as usize);
        self.trailing_before(
            Span {
                end: brace_end as u32,
                ..span
            },
            first,
        );
        for e in extends {
            self.leading(e.span.start as usize, depth + 1, true);
            self.line(depth + 1, &format!("extends {}", quote(&e.path)));
            self.trailing(e.span);
        }
        for (i, item) in items.iter().enumerate() {
            self.item(item, depth + 1, i == 0 && !extends.is_empty());
        }
        self.leading(close, depth + 1, true);
        self.line(depth, "}");
        self.trailing(span);
    }
}

/// Every `//` comment outside strings, with its text trimmed at the end.
fn comments(text: &str) -> Vec<Comment> {
    marks(text)
        .into_iter()
        .filter_map(|m| match m {
            Mark::Comment(start, end) => Some(Comment {
                start,
                end,
                text: text[start..end].trim_end().to_string(),
            }),
            _ => None,
        })
        .collect()
}

/// An expression on one line, canonically spaced.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number { text, .. } => text.clone(),
        ExprKind::Str(s) => quote(s),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::None => "none".into(),
        ExprKind::Symbol(s) => s.clone(),
        ExprKind::Ref(p) => p.dotted(),
        ExprKind::Quantity {
            value,
            unit: Unit::Percent,
            ..
        } => format!("{}%", expr(value)),
        ExprKind::Quantity {
            value, unit_text, ..
        } => format!("{} {unit_text}", expr(value)),
        ExprKind::Range(lo, hi) => format!("{}..{}", expr(lo), expr(hi)),
        ExprKind::List(items) => format!(
            "[{}]",
            items.iter().map(expr).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Call { name, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{} = {}", n.name, expr(&a.value)),
                    None => expr(&a.value),
                })
                .collect();
            format!("{}({})", name.name, args.join(", "))
        }
        ExprKind::Neg(inner) => format!("-{}", expr(inner)),
        ExprKind::Binary(op, l, r) => format!("{} {} {}", expr(l), op.symbol(), expr(r)),
        ExprKind::Paren(inner) => format!("({})", expr(inner)),
    }
}

/// A string literal with `"`, `\`, newlines and tabs escaped.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::format;
    use crate::source::{SourceKind, SourceMap};
    use crate::syntax::parse_recipe;

    fn fmt(text: &str) -> String {
        let mut map = SourceMap::new();
        let f = map.add("t", text, SourceKind::Default);
        let ast = parse_recipe(&map, f).expect("parses");
        format(&ast, text)
    }

    #[test]
    fn comments_in_a_list_stay_at_their_element() {
        let text = "data {\n    mean = [ // per channel\n        // red\n        0.485, // r\n        0.456,\n\n        // blue\n        0.406 // b\n        // end\n    ] // after\n}\n";
        let expected = "data {\n    mean = [ // per channel\n        // red\n        0.485, // r\n        0.456,\n\n        // blue\n        0.406, // b\n        // end\n    ] // after\n}\n";
        let once = fmt(text);
        assert_eq!(once, expected);
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn comments_in_a_call_and_a_nested_list_stay_inside() {
        let text = "x = f(a, // first\n  name = [1, // one\n 2], 3)\ny = [1,\n 2]\n";
        let expected = "x = f(\n    a, // first\n    name = [\n        1, // one\n        2,\n    ],\n    3,\n)\ny = [1, 2]\n";
        let once = fmt(text);
        assert_eq!(once, expected);
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn a_comment_before_a_value_or_inside_other_expressions_moves_above_the_field() {
        let text = "x = // why\n  [1, 2]\ny = 2 * // two\n 3\n";
        let once = fmt(text);
        assert_eq!(once, "// why\nx = [1, 2]\n// two\ny = 2 * 3\n");
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn a_lone_carriage_return_ends_a_comment() {
        let text = "// head\ra = 1\r// c\rb = 2\r";
        let mut map = SourceMap::new();
        let f = map.add("t", text, SourceKind::Default);
        let ast = parse_recipe(&map, f).expect("parses");
        assert_eq!(ast.items.len(), 2);
        let normalized = crate::source::normalize(text.to_string());
        assert_eq!(fmt(&normalized), "// head\na = 1\n// c\nb = 2\n");
    }
}
