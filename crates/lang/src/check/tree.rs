//! The merged recipe before evaluation: which expression sets each field, and which optional
//! blocks are present. Bases are applied first, then the file, then `--set` overrides; a
//! later statement replaces a leaf, `delete` removes a subtree.

use super::schema;
use crate::diag::{suggest, Diag, Diagnostics, ErrorKind};
use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind, Ident, Item, Path};
use std::collections::{BTreeMap, HashMap};

/// One field's current setting.
#[derive(Debug, Clone)]
pub struct Entry {
    pub expr: Expr,
    /// The whole statement (`path = expr`).
    pub span: Span,
    /// The statement this one replaced, if any.
    pub replaced: Option<Span>,
}

#[derive(Debug, Default, Clone)]
pub struct Tree {
    pub fields: BTreeMap<&'static str, Entry>,
    /// Optional blocks present, with the statement that opened them.
    pub blocks: BTreeMap<&'static str, Span>,
    /// Every block written as `name { … }`, at the name's first occurrence.
    pub opened: BTreeMap<&'static str, Span>,
    /// Paths removed by `delete`, at the statement.
    pub deleted: BTreeMap<&'static str, Span>,
    /// The `sweep { … }` blocks, merged (a later file's swept field replaces a base's).
    pub sweep: super::sweep::Spec,
}

/// What a path names in the schema.
enum Target {
    Field(&'static str),
    Block(&'static schema::Block),
}

impl Tree {
    /// Applies one file's items (or one override) under `prefix` (`""` at top level).
    /// `seen` tracks fields set in the current file, to report duplicates.
    pub fn apply(
        &mut self,
        items: &[Item],
        prefix: &str,
        seen: &mut HashMap<&'static str, Span>,
        diags: &mut Diagnostics,
    ) {
        for item in items {
            match item {
                Item::Field(f) => self.set(prefix, &f.path, &f.value, f.span, seen, diags),
                // A pipeline's stages are loaded one by one by `check::pipeline`.
                Item::Stage(_) => {}
                // `sweep { … }` at a recipe's (or stage's) top level: the swept fields.
                Item::Block(b) if prefix.is_empty() && b.name.name == super::sweep::KEYWORD => {
                    self.sweep.add(b, diags);
                }
                Item::Block(b) => {
                    let path = Path {
                        parts: vec![b.name.clone()],
                        span: b.name.span,
                    };
                    match resolve(prefix, &path, diags) {
                        Some(Target::Block(block)) => {
                            self.opened.entry(block.path).or_insert(b.name.span);
                            self.open(block.path, b.name.span);
                            self.apply(&b.items, block.path, seen, diags);
                        }
                        Some(Target::Field(p)) => diags.push(Diag::error(
                            ErrorKind::NotABlock {
                                path: p.to_string(),
                            },
                            b.name.span,
                        )),
                        None => {}
                    }
                }
                Item::Delete(d)
                    if prefix.is_empty()
                        && d.path.parts.len() == 1
                        && d.path.parts[0].name == super::sweep::KEYWORD =>
                {
                    self.sweep = super::sweep::Spec::default();
                }
                Item::Delete(d) => match resolve(prefix, &d.path, diags) {
                    Some(Target::Field(p)) => {
                        self.fields.remove(p);
                        self.deleted.insert(p, d.span);
                    }
                    Some(Target::Block(b)) => {
                        self.remove_block(b.path);
                        self.opened.retain(|p, _| {
                            !(*p == b.path || p.starts_with(&format!("{}.", b.path)))
                        });
                        self.deleted.insert(b.path, d.span);
                    }
                    None => {}
                },
            }
        }
    }

    /// `path = value` (also what one `--set` does).
    pub fn set(
        &mut self,
        prefix: &str,
        path: &Path,
        value: &Expr,
        span: Span,
        seen: &mut HashMap<&'static str, Span>,
        diags: &mut Diagnostics,
    ) {
        match resolve(prefix, path, diags) {
            Some(Target::Field(p)) => {
                if let Some(first) = seen.insert(p, span) {
                    diags.push(
                        Diag::error(
                            ErrorKind::DuplicateField {
                                path: p.to_string(),
                            },
                            path.span,
                        )
                        .with_secondary(first, "first set here"),
                    );
                }
                self.open(schema::parent(p), span);
                let replaced = self.fields.get(p).map(|e| e.span);
                self.fields.insert(
                    p,
                    Entry {
                        expr: value.clone(),
                        span,
                        replaced,
                    },
                );
            }
            Some(Target::Block(b)) if value.kind == ExprKind::None => {
                if b.optional {
                    self.remove_block(b.path);
                } else {
                    diags.push(Diag::error(
                        ErrorKind::NotOptional {
                            path: b.path.to_string(),
                        },
                        value.span,
                    ));
                }
            }
            Some(Target::Block(b)) => diags.push(Diag::error(
                ErrorKind::NotAField {
                    path: b.path.to_string(),
                },
                path.span,
            )),
            None => {}
        }
    }

    /// Marks an optional block (and its optional ancestors) present.
    pub(crate) fn open(&mut self, block: &str, span: Span) {
        for b in schema::BLOCKS.iter().filter(|b| b.optional) {
            if block == b.path || block.starts_with(&format!("{}.", b.path)) {
                self.blocks.entry(b.path).or_insert(span);
            }
        }
    }

    fn remove_block(&mut self, block: &str) {
        let inside = |p: &str| p == block || p.starts_with(&format!("{block}."));
        self.fields.retain(|p, _| !inside(p));
        self.blocks.retain(|p, _| !inside(p));
    }

    pub fn block_present(&self, block: &str) -> bool {
        self.blocks.contains_key(block)
    }
}

/// Resolves `prefix.path` to a field of the schema, reporting unknown names with
/// suggestions and a block where a field belongs (`deit::schema::not_a_field`).
pub(crate) fn resolve_field(
    prefix: &str,
    path: &Path,
    diags: &mut Diagnostics,
) -> Option<&'static str> {
    match resolve(prefix, path, diags)? {
        Target::Field(p) => Some(p),
        Target::Block(b) => {
            diags.push(Diag::error(
                ErrorKind::NotAField {
                    path: b.path.to_string(),
                },
                path.span,
            ));
            None
        }
    }
}

/// Whether `prefix.name` is a block of the schema (its full path).
pub(crate) fn block_path(prefix: &str, name: &str) -> Option<&'static str> {
    let full = if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    };
    schema::block(&full).map(|b| b.path)
}

/// Resolves `prefix.path` against the schema, reporting unknown names with suggestions.
fn resolve(prefix: &str, path: &Path, diags: &mut Diagnostics) -> Option<Target> {
    let mut current = prefix.to_string();
    let last = path.parts.len() - 1;
    for (i, Ident { name, span }) in path.parts.iter().enumerate() {
        let full = if current.is_empty() {
            name.clone()
        } else {
            format!("{current}.{name}")
        };
        if let Some(f) = schema::field(&full) {
            if i == last {
                return Some(Target::Field(f.path));
            }
            diags.push(Diag::error(
                ErrorKind::NotABlock {
                    path: f.path.to_string(),
                },
                *span,
            ));
            return None;
        }
        if let Some(b) = schema::block(&full) {
            if i == last {
                return Some(Target::Block(b));
            }
            current = full;
            continue;
        }
        let suggestion = suggest(name, schema::children(&current));
        let kind = if current.is_empty() {
            ErrorKind::UnknownBlock {
                name: name.clone(),
                suggestion,
            }
        } else {
            ErrorKind::UnknownField {
                block: current.clone(),
                name: name.clone(),
                suggestion,
            }
        };
        diags.push(Diag::error(kind, *span));
        return None;
    }
    None
}
