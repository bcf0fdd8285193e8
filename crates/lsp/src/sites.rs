//! What each piece of a parsed recipe names: a field being set, a block, a reference, an
//! `extends` path, a data source, an enum value. Hover, go to definition and references
//! look a position up here.

use deitc_lang::check::schema;
use deitc_lang::source::Span;
use deitc_lang::syntax::ast::{Expr, ExprKind, File, Item, Path};

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// The last part of `path = …`: the field it sets (its full path).
    Field(String),
    /// A block name, or a leading part of a dotted path (`model` in `model.embed = …`).
    Block(String),
    /// `delete path`.
    Delete(String),
    /// A reference in an expression (`train.batch`, `stage.teacher.best`).
    Ref(String),
    /// The string of `extends "…"`.
    Extends(String),
    /// A stage's name.
    Stage(String),
    /// A data-source call's name.
    Call(String),
    /// An enum value written for `field`.
    Symbol { field: String, value: String },
    /// The whole value of `field` (the least specific site inside an expression).
    Value(String),
}

#[derive(Debug, Clone)]
pub struct Site {
    pub span: Span,
    pub what: What,
}

/// Every site of `file`.
pub fn sites(file: &File) -> Vec<Site> {
    let mut out = Vec::new();
    for e in &file.extends {
        out.push(Site {
            span: e.path_span,
            what: What::Extends(e.path.clone()),
        });
    }
    items(&file.items, "", &mut out);
    out
}

/// The most specific site at byte `offset` (a cursor just after a name is on it).
pub fn at(sites: &[Site], offset: usize) -> Option<&Site> {
    sites
        .iter()
        .filter(|s| (s.span.start as usize) <= offset && offset <= s.span.end as usize)
        .min_by_key(|s| s.span.len())
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn items(items: &[Item], prefix: &str, out: &mut Vec<Site>) {
    for item in items {
        match item {
            Item::Field(f) => {
                let full = path(&f.path, prefix, out, true);
                out.push(Site {
                    span: f.value.span,
                    what: What::Value(full.clone()),
                });
                expr(&f.value, &full, out);
            }
            Item::Block(b) => {
                let full = join(prefix, &b.name.name);
                out.push(Site {
                    span: b.name.span,
                    what: What::Block(full.clone()),
                });
                self::items(&b.items, &full, out);
            }
            other => {
                // Stages and deletions; a kind this server does not know is skipped.
                if let Item::Stage(s) = other {
                    out.push(Site {
                        span: s.name.span,
                        what: What::Stage(s.name.name.clone()),
                    });
                    for e in &s.extends {
                        out.push(Site {
                            span: e.path_span,
                            what: What::Extends(e.path.clone()),
                        });
                    }
                    self::items(&s.items, prefix, out);
                } else if let Item::Delete(d) = other {
                    let full = path(&d.path, prefix, out, false);
                    if let Some(last) = d.path.parts.last() {
                        out.push(Site {
                            span: last.span,
                            what: What::Delete(full),
                        });
                    }
                }
            }
        }
    }
}

/// Records the leading parts of a written path as blocks (and the last as a field when
/// `field`); returns the full path.
fn path(p: &Path, prefix: &str, out: &mut Vec<Site>, field: bool) -> String {
    let mut full = prefix.to_string();
    let last = p.parts.len().saturating_sub(1);
    for (i, part) in p.parts.iter().enumerate() {
        full = join(&full, &part.name);
        if i < last {
            out.push(Site {
                span: part.span,
                what: What::Block(full.clone()),
            });
        } else if field {
            let what = if schema::block(&full).is_some() {
                What::Block(full.clone())
            } else {
                What::Field(full.clone())
            };
            out.push(Site {
                span: part.span,
                what,
            });
        }
    }
    full
}

fn expr(e: &Expr, field: &str, out: &mut Vec<Site>) {
    match &e.kind {
        ExprKind::Ref(p) => out.push(Site {
            span: p.span,
            what: What::Ref(p.dotted()),
        }),
        ExprKind::Symbol(s) => out.push(Site {
            span: e.span,
            what: What::Symbol {
                field: field.to_string(),
                value: s.clone(),
            },
        }),
        ExprKind::Call { name, args } => {
            out.push(Site {
                span: name.span,
                what: What::Call(name.name.clone()),
            });
            for a in args {
                expr(&a.value, field, out);
            }
        }
        ExprKind::List(items) => items.iter().for_each(|i| expr(i, field, out)),
        ExprKind::Range(a, b) | ExprKind::Binary(_, a, b) => {
            expr(a, field, out);
            expr(b, field, out);
        }
        ExprKind::Neg(inner) | ExprKind::Paren(inner) => expr(inner, field, out),
        ExprKind::Quantity { value, .. } => expr(value, field, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deitc_lang::source::{SourceKind, SourceMap};

    #[test]
    fn fields_blocks_and_references_are_found_by_position() {
        let text =
            "extends \"b.deit\"\nmodel { embed = 64 }\noptimizer.lr = 5e-4 * train.batch / 512\n";
        let mut map = SourceMap::new();
        let id = map.add("t", text, SourceKind::Default);
        let file = deitc_lang::syntax::parse_recipe(&map, id).expect("parses");
        let s = sites(&file);
        let find =
            |needle: &str| at(&s, text.find(needle).unwrap_or(0) + 1).map(|s| s.what.clone());
        assert_eq!(find("embed"), Some(What::Field("model.embed".into())));
        assert_eq!(find("model"), Some(What::Block("model".into())));
        assert_eq!(find("optimizer"), Some(What::Block("optimizer".into())));
        assert_eq!(find("lr"), Some(What::Field("optimizer.lr".into())));
        assert_eq!(find("train.batch"), Some(What::Ref("train.batch".into())));
        assert_eq!(find("5e-4"), Some(What::Value("optimizer.lr".into())));
        assert_eq!(find("b.deit"), Some(What::Extends("b.deit".into())));
    }
}
