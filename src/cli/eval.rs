//! `deitc eval R.deit --checkpoint F`: top-1/top-5 of a checkpoint on the recipe's val split.

use super::{DeviceArg, Output, RecipeArgs};
use crate::data::Loader;
use crate::diag::Diagnostics;
use crate::error::Error;
use crate::model::TensorFile;
use crate::train::catalogue::Registry;
use crate::train::run::evaluate;
use crate::train::RunError;
use std::path::PathBuf;

pub fn run(
    args: &RecipeArgs,
    checkpoint: &PathBuf,
    ema: bool,
    device: Option<DeviceArg>,
    graphs: &Registry,
    out: &mut Output,
) -> u8 {
    let checked = args.check(graphs);
    let Some(recipe) = out.checked(&checked, "eval") else {
        return 1;
    };
    let fail = |out: &mut Output, e: RunError| {
        out.diagnostics(&Diagnostics::global(Error::Run(e)), &checked.map, "eval");
        1
    };
    let recipe = &DeviceArg::apply(device, recipe);
    let mut graph = match graphs.build(recipe, recipe.train.seed, recipe.train.device) {
        Ok(g) => g,
        Err(kind) => return fail(out, kind),
    };
    let path = checkpoint.display().to_string();
    let file = match TensorFile::read(checkpoint) {
        Ok(f) => f,
        Err(e) => return fail(out, RunError::loading(&path, e.into())),
    };
    // `--ema` reads `ema.*` and nothing else: a bare state dict has no EMA weights.
    let prefix = if ema {
        "ema."
    } else {
        file.weights_prefix(false)
    };
    // Non-finite weights are refused here (`deit::interop::non_finite`), naming the tensor.
    if let Err(e) = graph.load_weights(&file, prefix) {
        return fail(out, RunError::loading(&path, e));
    }
    let loader = match Loader::new(recipe) {
        Ok(l) => l,
        Err(e) => {
            return fail(
                out,
                RunError::DataLoad {
                    message: e.to_string(),
                },
            )
        }
    };
    let (top1, top5, loss) = match evaluate(graph.as_ref(), &loader, false) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                out,
                RunError::DataLoad {
                    message: e.to_string(),
                },
            )
        }
    };
    out.out(&format!(
        "{}: val top-1 {top1:.4} · top-5 {top5:.4} · loss {loss:.4} ({} images)\n",
        recipe.name,
        loader.val.len()
    ));
    0
}
