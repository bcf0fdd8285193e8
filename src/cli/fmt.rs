//! `deitc fmt [--check] FILES`: rewrite recipes in the canonical layout.

use super::Output;
use crate::check::read_source;
use crate::diag::Diagnostics;
use crate::source::SourceMap;
use crate::syntax::{format::format, parse_recipe};
use std::path::PathBuf;

pub fn run(files: &[PathBuf], check_only: bool, out: &mut Output) -> u8 {
    let mut map = SourceMap::new();
    let mut diags = Diagnostics::default();
    let mut changed = Vec::new();
    for path in files {
        let file = match read_source(&mut map, path, None) {
            Ok(f) => f,
            Err(d) => {
                diags.push(*d);
                continue;
            }
        };
        let ast = match parse_recipe(&map, file) {
            Ok(a) => a,
            Err(d) => {
                diags.push(*d);
                continue;
            }
        };
        let text = map.text(file);
        let formatted = format(&ast, text);
        if formatted == text {
            continue;
        }
        changed.push(path.display().to_string());
        if !check_only {
            if let Err(e) = write_atomically(path, &formatted) {
                out.err(&format!("error: cannot write `{}`: {e}\n", path.display()));
                return 1;
            }
        }
    }
    out.diagnostics(&diags, &map, "fmt");
    for c in &changed {
        let verb = if check_only {
            "would reformat"
        } else {
            "reformatted"
        };
        out.out(&format!("{verb} {c}\n"));
    }
    u8::from(diags.has_errors() || (check_only && !changed.is_empty()))
}

/// Writes through a temporary file in the same directory and renames it over `path`, so a
/// crash never leaves a half-written recipe.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.deitc-fmt.tmp"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
