//! `deitc import FILE --recipe R.deit -o OUT`: a timm `state_dict` (safetensors or `.pth`)
//! checked against the recipe's model and written as a deitc checkpoint.

use super::{thousands, Output};
use crate::diag::{Diag, Diagnostics};
use crate::error::Error;
use crate::interop::InteropError;
use crate::train::catalogue::Registry;
use crate::train::tensor_io::write_atomically;
use std::path::Path;
use std::path::PathBuf;

/// Arguments of `deitc import`.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// timm weights: a safetensors file with timm's names, or a PyTorch `.pth`.
    pub file: PathBuf,
    /// The recipe whose model the weights are for.
    #[arg(long)]
    pub recipe: PathBuf,
    /// Override a field of the recipe (repeatable; later wins).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Where to write the deitc checkpoint.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

pub fn run(args: &ImportArgs, graphs: &Registry, out: &mut Output) -> u8 {
    // Converting needs no compiled graph.
    let checked = super::check_without_graph_warning(&super::RecipeArgs {
        recipe: args.recipe.clone(),
        set: args.set.clone(),
        stage: None,
        sweep: Vec::new(),
        point: Vec::new(),
    });
    let Some(recipe) = out.checked(&checked, "import") else {
        return 1;
    };
    let converted = match crate::interop::import(graphs, &args.file, recipe) {
        Ok(c) => c,
        Err(kinds) => return fail(out, &checked.map, kinds, "import"),
    };
    if let Err(message) = write_output(&args.output, &converted.bytes) {
        let kind = InteropError::WriteWeights {
            path: args.output.display().to_string(),
            message,
        };
        return fail(out, &checked.map, vec![kind], "import");
    }
    out.out(&format!(
        "{}: imported {} ({}): {} tensors, {} parameters → {}\n",
        recipe.name,
        args.file.display(),
        converted.from.describe(),
        converted.tensors,
        thousands(converted.params as u64),
        args.output.display()
    ));
    0
}

/// Prints `errors` as diagnostics without a source; returns the exit code 1.
pub(super) fn fail(
    out: &mut Output,
    map: &crate::source::SourceMap,
    errors: Vec<InteropError>,
    what: &str,
) -> u8 {
    let items = errors
        .into_iter()
        .map(|e| Diag::global(Error::Interop(e)))
        .collect();
    out.diagnostics(&Diagnostics { items }, map, what);
    1
}

/// Writes a converted file atomically; a parent that is a file is named as such.
pub(super) fn write_output(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(p) = parent.and_then(|p| p.ancestors().find(|a| a.exists())) {
        if !p.is_dir() {
            return Err(format!("`{}` is not a directory", p.display()));
        }
    }
    write_atomically(path, bytes).map_err(|e| e.to_string())
}
