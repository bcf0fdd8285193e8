//! `deitc fmt [--check] FILES`: rewrite recipes in the canonical layout.

use super::Output;
use crate::check::read_source;
use crate::diag::{Diag, Diagnostics};
use crate::error::Error;
use crate::source::SourceMap;
use crate::syntax::{format::format, parse_recipe};
use std::path::{Path, PathBuf};

/// The UTF-8 byte-order mark: read past, and kept when a file starts with one.
const BOM: char = '\u{FEFF}';

pub fn run(files: &[PathBuf], check_only: bool, out: &mut Output) -> u8 {
    let mut map = SourceMap::new();
    let mut diags: Diagnostics<Error> = Diagnostics::default();
    let mut changed = Vec::new();
    for path in files {
        let file = match read_source(&mut map, path, None) {
            Ok(f) => f,
            Err(d) => {
                diags.push((*d).map(Error::Lang));
                continue;
            }
        };
        let ast = match parse_recipe(&map, file) {
            Ok(a) => a,
            Err(d) => {
                diags.push((*d).map(Error::Lang));
                continue;
            }
        };
        let text = map.text(file);
        let mut formatted = format(&ast, text);
        // The text was read without its BOM and with lone CRs as line ends: compare with the
        // file itself, so that such line ends are rewritten too.
        let on_disk = std::fs::read_to_string(path).unwrap_or_else(|_| text.to_string());
        if on_disk.starts_with(BOM) {
            formatted.insert(0, BOM);
        }
        if formatted == on_disk {
            continue;
        }
        if !check_only {
            if let Err(e) = write_atomically(path, &formatted) {
                diags.push(Diag::global(Error::Rewrite {
                    path: path.display().to_string(),
                    message: e.to_string(),
                }));
                continue;
            }
        }
        changed.push(path.display().to_string());
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
/// crash never leaves a half-written recipe. The file keeps its permissions, and a read-only
/// file is refused rather than replaced.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path)?.permissions();
    if permissions.readonly() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the file is read-only",
        ));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.deitc-fmt.tmp"));
    let written = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::set_permissions(&tmp, permissions)?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
