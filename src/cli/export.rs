//! `deitc export CKPT --recipe R.deit -o OUT [--ema]`: the weights of a deitc checkpoint as
//! a timm `state_dict` in safetensors (timm's names and layouts), for
//! `model.load_state_dict(safetensors.torch.load_file(OUT))`.

use super::import::{fail, write_output};
use super::{thousands, Output};
use crate::interop::InteropError;
use std::path::PathBuf;

/// Arguments of `deitc export`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    /// A checkpoint written by `deitc run` or `deitc import`.
    pub checkpoint: PathBuf,
    /// The recipe that trained it.
    #[arg(long)]
    pub recipe: PathBuf,
    /// Override a field of the recipe (repeatable; later wins).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Export the EMA weights instead of the model's.
    #[arg(long)]
    pub ema: bool,
    /// Where to write the timm safetensors file.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

pub fn run(args: &ExportArgs, out: &mut Output) -> u8 {
    // Converting needs no compiled graph.
    let checked = super::check_without_graph_warning(&super::RecipeArgs {
        recipe: args.recipe.clone(),
        set: args.set.clone(),
        stage: None,
        sweep: Vec::new(),
        point: Vec::new(),
    });
    let Some(recipe) = out.checked(&checked, "export") else {
        return 1;
    };
    let converted = match crate::interop::export(&args.checkpoint, recipe, args.ema) {
        Ok(c) => c,
        Err(kinds) => return fail(out, &checked.map, kinds, "export"),
    };
    if let Err(message) = write_output(&args.output, &converted.bytes) {
        let kind = InteropError::WriteWeights {
            path: args.output.display().to_string(),
            message,
        };
        return fail(out, &checked.map, vec![kind], "export");
    }
    out.out(&format!(
        "{}: exported the {} weights of {}: {} tensors, {} parameters → {} (timm names and layouts)\n",
        recipe.name,
        if args.ema { "EMA" } else { "model" },
        args.checkpoint.display(),
        converted.tensors,
        thousands(converted.params as u64),
        args.output.display()
    ));
    0
}
