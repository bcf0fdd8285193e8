//! The outline: `extends` lines, stages, blocks and the fields set in them. An item kind
//! this server does not know shows as a generic entry.

use crate::diagnostics::Locator;
use deitc_lang::check::schema;
use deitc_lang::syntax::ast::{File, Item};
use deitc_lang::syntax::format;
use lsp_types::{DocumentSymbol, SymbolKind};

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written out.
fn symbol(
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    range: lsp_types::Range,
    selection: lsp_types::Range,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range,
        selection_range: selection,
        children: (!children.is_empty()).then_some(children),
    }
}

pub fn symbols(file: &File, loc: &mut Locator<'_>) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for e in &file.extends {
        let r = loc.range(e.span);
        out.push(symbol(
            format!("extends \"{}\"", e.path),
            None,
            SymbolKind::FILE,
            r,
            loc.range(e.path_span),
            Vec::new(),
        ));
    }
    out.extend(items(&file.items, "", loc));
    out
}

fn items(items: &[Item], prefix: &str, loc: &mut Locator<'_>) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Field(f) => {
                let name = f.path.dotted();
                let full = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                let kind = if schema::field(&full).is_some() {
                    SymbolKind::FIELD
                } else {
                    SymbolKind::PROPERTY
                };
                out.push(symbol(
                    name,
                    Some(format::expr(&f.value)),
                    kind,
                    loc.range(f.span),
                    loc.range(f.path.span),
                    Vec::new(),
                ));
            }
            Item::Block(b) => {
                let full = if prefix.is_empty() {
                    b.name.name.clone()
                } else {
                    format!("{prefix}.{}", b.name.name)
                };
                let children = self::items(&b.items, &full, loc);
                out.push(symbol(
                    b.name.name.clone(),
                    None,
                    SymbolKind::MODULE,
                    loc.range(b.span),
                    loc.range(b.name.span),
                    children,
                ));
            }
            other => {
                let range = loc.range(other.span());
                if let Item::Stage(s) = other {
                    let mut children: Vec<DocumentSymbol> = s
                        .extends
                        .iter()
                        .map(|e| {
                            symbol(
                                format!("extends \"{}\"", e.path),
                                None,
                                SymbolKind::FILE,
                                loc.range(e.span),
                                loc.range(e.path_span),
                                Vec::new(),
                            )
                        })
                        .collect();
                    children.extend(self::items(&s.items, "", loc));
                    let name = s.name.name.clone();
                    let sel = loc.range(s.name.span);
                    out.push(symbol(
                        name,
                        Some("stage".into()),
                        SymbolKind::CLASS,
                        range,
                        sel,
                        children,
                    ));
                } else if let Item::Delete(d) = other {
                    let sel = loc.range(d.path.span);
                    out.push(symbol(
                        format!("delete {}", d.path.dotted()),
                        None,
                        SymbolKind::KEY,
                        range,
                        sel,
                        Vec::new(),
                    ));
                } else {
                    // An item kind this server does not know: its first word names it.
                    let map = loc.map;
                    let text = map.slice(other.span());
                    let name = text.split_whitespace().next().unwrap_or("item").to_string();
                    out.push(symbol(
                        name,
                        None,
                        SymbolKind::OBJECT,
                        range,
                        range,
                        Vec::new(),
                    ));
                }
            }
        }
    }
    out
}
