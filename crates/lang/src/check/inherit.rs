//! Loading a recipe with everything it `extends`, and the `--set` overrides on top.

use super::tree::Tree;
use crate::diag::{Diag, Diagnostics, ErrorKind};
use crate::source::{FileId, LoadError, SourceKind, SourceMap, Span};
use crate::syntax::{parse_override, parse_recipe};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The merged tree and where each base file was pulled in from.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub tree: Tree,
    /// The root file, when it could be read.
    pub root: Option<FileId>,
    /// For each base file, the `extends` statement that loaded it.
    pub extended_from: HashMap<FileId, Span>,
    /// Files already applied: a base reached twice (a diamond) is applied once, first.
    applied: HashSet<PathBuf>,
}

/// Reads `path` and its bases into one tree, then applies `overrides` (`a.b=v` each).
pub fn load(
    map: &mut SourceMap,
    path: &Path,
    overrides: &[String],
    diags: &mut Diagnostics,
) -> Loaded {
    let mut loaded = Loaded::default();
    let mut stack = Vec::new();
    loaded.root = load_into(map, path, None, &mut stack, &mut loaded, diags);
    let files = add_overrides(map, overrides);
    apply_overrides(map, &mut loaded, &files, None, diags);
    loaded
}

/// Registers each `--set` text as a source `<cli:N>`.
pub fn add_overrides(map: &mut SourceMap, overrides: &[String]) -> Vec<FileId> {
    overrides
        .iter()
        .enumerate()
        .map(|(i, text)| {
            map.add(
                format!("<cli:{}>", i + 1),
                text.clone(),
                SourceKind::Cli(i + 1),
            )
        })
        .collect()
}

/// The stage being loaded and the names of all the pipeline's stages.
pub struct StageScope<'a> {
    pub name: &'a str,
    pub all: &'a [String],
}

/// Applies `--set` overrides. In a pipeline, `<stage>.a.b=v` applies to that stage only
/// and `a.b=v` to every stage.
fn apply_overrides(
    map: &SourceMap,
    loaded: &mut Loaded,
    files: &[FileId],
    stage: Option<&StageScope<'_>>,
    diags: &mut Diagnostics,
) {
    for file in files {
        match parse_override(map, *file) {
            Ok(mut o) => {
                if let Some(scope) = stage {
                    let first = o.path.parts.first().map(|p| p.name.as_str());
                    if let Some(target) = first.filter(|f| scope.all.iter().any(|s| s == f)) {
                        if target != scope.name || o.path.parts.len() < 2 {
                            continue;
                        }
                        o.path.parts.remove(0);
                        if let Some(p) = o.path.parts.first() {
                            o.path.span.start = p.span.start;
                        }
                    }
                }
                let mut seen = HashMap::new();
                loaded
                    .tree
                    .set("", &o.path, &o.value, o.span, &mut seen, diags);
            }
            Err(d) => diags.push(*d),
        }
    }
}

/// A pipeline file: its path, its id in the source map, its AST.
#[derive(Clone, Copy)]
pub struct Pipeline<'a> {
    pub path: &'a Path,
    pub id: FileId,
    pub ast: &'a crate::syntax::ast::File,
}

/// Loads one stage of `pipeline`: the stage's own bases, then the pipeline's top-level fields (shared by every
/// stage), then the stage's fields, then the overrides that apply to it.
pub fn load_stage(
    map: &mut SourceMap,
    pipeline: &Pipeline<'_>,
    stage: &crate::syntax::ast::Stage,
    overrides: &[FileId],
    scope: &StageScope<'_>,
    diags: &mut Diagnostics,
) -> Loaded {
    use crate::syntax::ast::Item;
    let Pipeline {
        path: root,
        id: root_file,
        ast: file,
    } = *pipeline;
    let mut loaded = Loaded {
        root: Some(root_file),
        ..Loaded::default()
    };
    let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut stack = vec![(canonical, root.display().to_string())];
    let dir = root.parent().unwrap_or(Path::new(""));
    for ext in &stage.extends {
        let base = normalize(&dir.join(&ext.path));
        load_into(
            map,
            &base,
            Some(ext.path_span),
            &mut stack,
            &mut loaded,
            diags,
        );
    }
    let shared: Vec<Item> = file
        .items
        .iter()
        .filter(|i| !matches!(i, Item::Stage(_)))
        // A top-level sweep of a pipeline is an error (reported by `check::pipeline`).
        .filter(|i| !matches!(i, Item::Block(b) if b.name.name == super::sweep::KEYWORD))
        .cloned()
        .collect();
    loaded.tree.apply(&shared, "", &mut HashMap::new(), diags);
    loaded
        .tree
        .apply(&stage.items, "", &mut HashMap::new(), diags);
    apply_overrides(map, &mut loaded, overrides, Some(scope), diags);
    loaded
}

/// Registers `path` as a source, reporting why it cannot be read (at `via` when given).
pub fn read_source(
    map: &mut SourceMap,
    path: &Path,
    via: Option<Span>,
) -> Result<FileId, Box<Diag>> {
    let name = path.display().to_string();
    // Through the editor's overlay of unsaved texts when there is one (`query::overlay`).
    let text = crate::query::overlay::load(path).map_err(|e| {
        let kind = match e {
            LoadError::NotFound => ErrorKind::FileNotFound { path: name.clone() },
            LoadError::IsDirectory => ErrorKind::IsDirectory { path: name.clone() },
            LoadError::NotRegular { what } => ErrorKind::NotRegular {
                path: name.clone(),
                what: what.to_string(),
            },
            LoadError::TooLarge { bytes } => ErrorKind::TooLarge {
                path: name.clone(),
                bytes,
            },
            LoadError::Binary => ErrorKind::Binary { path: name.clone() },
            LoadError::NotUtf8 { offset } => ErrorKind::NotUtf8 {
                path: name.clone(),
                offset,
            },
            LoadError::Io(message) => ErrorKind::Unreadable {
                path: name.clone(),
                message,
            },
        };
        let kind = match (kind, via) {
            (ErrorKind::FileNotFound { path }, Some(_)) => ErrorKind::BaseNotFound { path },
            (kind, _) => kind,
        };
        Box::new(match via {
            Some(span) => Diag::error(kind, span).with_label("extended here"),
            None => Diag::global(kind),
        })
    })?;
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(map.add(
        name,
        crate::source::normalize(text),
        SourceKind::File {
            path: path.to_path_buf(),
            canonical,
        },
    ))
}

fn load_into(
    map: &mut SourceMap,
    path: &Path,
    via: Option<Span>,
    stack: &mut Vec<(PathBuf, String)>,
    loaded: &mut Loaded,
    diags: &mut Diagnostics,
) -> Option<FileId> {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(i) = stack.iter().position(|(c, _)| *c == canonical) {
        let mut chain: Vec<String> = stack[i..].iter().map(|(_, n)| n.clone()).collect();
        chain.push(path.display().to_string());
        if let Some(span) = via {
            diags.push(Diag::error(ErrorKind::ExtendsCycle { chain }, span));
        }
        return None;
    }
    if loaded.applied.contains(&canonical) {
        return map.find_canonical(&canonical);
    }
    // A file already read (by another stage of a pipeline) keeps its id.
    let known = map.find_canonical(&canonical);
    let file = match known.map_or_else(|| read_source(map, path, via), Ok) {
        Ok(f) => f,
        Err(d) => {
            diags.push(*d);
            return None;
        }
    };
    if let Some(span) = via {
        loaded.extended_from.insert(file, span);
    }
    let ast = match parse_recipe(map, file) {
        Ok(ast) => ast,
        Err(d) => {
            diags.push(*d);
            return Some(file);
        }
    };
    if let (Some(span), Some(_)) = (via, ast.stages().next()) {
        let base = Some(path.display().to_string());
        diags.push(Diag::error(ErrorKind::PipelineExtends { base }, span));
        return Some(file);
    }
    stack.push((canonical.clone(), path.display().to_string()));
    let dir = path.parent().unwrap_or(Path::new(""));
    for ext in &ast.extends {
        let base = normalize(&dir.join(&ext.path));
        load_into(map, &base, Some(ext.path_span), stack, loaded, diags);
    }
    stack.pop();
    loaded.applied.insert(canonical);
    let mut seen = HashMap::new();
    loaded.tree.apply(&ast.items, "", &mut seen, diags);
    Some(file)
}

/// `a/b/../c` → `a/c`, lexically (for display; symlinks are resolved by `canonicalize`).
/// The path an `extends` names, as the checker (and the language server) reads it.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
