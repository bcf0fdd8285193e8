//! Go to definition and find references. An `extends` path goes to its file; a reference
//! to where that field is set (this file or a base); a field being set to the base value it
//! overrides. References of a field are every statement that sets or deletes it and every
//! reference to it, across the recipe and its bases.

use crate::diagnostics::{file_path, Locator};
use crate::sites::{self, Site, What};
use deitc_lang::query::Resolution;
use deitc_lang::source::{SourceKind, Span};
use deitc_lang::syntax::parse_recipe;
use lsp_types::{GotoDefinitionResponse, Location, Position, Range, Url};
use std::collections::HashSet;
use std::path::Path;

/// `a/b/../c` → `a/c`, lexically: the checker's reading of an `extends` path.
pub use deitc_lang::check::normalize_path as normalize;

pub fn definition(
    res: &Resolution,
    sites: &[Site],
    offset: usize,
    doc: &Path,
) -> Option<GotoDefinitionResponse> {
    let site = sites::at(sites, offset)?;
    let mut loc = Locator::new(&res.map);
    let scope = res.scope_at(offset);
    let span: Span = match &site.what {
        What::Extends(raw) => {
            let dir = doc.parent().unwrap_or(Path::new("."));
            let target = normalize(&dir.join(raw));
            let uri = Url::from_file_path(&target).ok()?;
            let start = Range::new(Position::new(0, 0), Position::new(0, 0));
            return Some(GotoDefinitionResponse::Scalar(Location::new(uri, start)));
        }
        What::Ref(path) | What::Value(path) => scope?.fields.get(path.as_str())?.set?.statement,
        What::Field(path) => {
            let set = scope?.fields.get(path.as_str())?.set?;
            let here = set.statement.file == site.span.file
                && set.statement.start <= site.span.start
                && site.span.end <= set.statement.end;
            if here {
                set.replaced?
            } else {
                set.statement
            }
        }
        What::Block(path) => *scope?.blocks.get(path.as_str())?,
        _ => return None,
    };
    loc.location(span).map(GotoDefinitionResponse::Scalar)
}

pub fn references(
    res: &Resolution,
    sites: &[Site],
    offset: usize,
    include_declaration: bool,
) -> Vec<Location> {
    let Some(site) = sites::at(sites, offset) else {
        return Vec::new();
    };
    let field = match &site.what {
        What::Field(p) | What::Ref(p) | What::Delete(p) | What::Value(p) => p.clone(),
        _ => return Vec::new(),
    };
    let mut loc = Locator::new(&res.map);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..res.map.len() {
        let id = deitc_lang::source::FileId(i as u32);
        let SourceKind::File { canonical, .. } = &res.map.file(id).kind else {
            continue;
        };
        if !seen.insert(canonical.clone()) || file_path(&res.map, id).is_none() {
            continue;
        }
        let Ok(file) = parse_recipe(&res.map, id) else {
            continue;
        };
        for s in sites::sites(&file) {
            let hit = match &s.what {
                What::Ref(p) => *p == field,
                What::Field(p) | What::Delete(p) => include_declaration && *p == field,
                _ => false,
            };
            if hit {
                out.extend(loc.location(s.span));
            }
        }
    }
    out
}
