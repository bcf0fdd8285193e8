//! `deitc lsp`: the language server (crates/lsp) on stdin/stdout, told what this build
//! holds (its graphs, CUDA) as `check` is. `--stdio` is accepted, as editors pass it.

use crate::train::catalogue::Registry;

#[derive(clap::Args, Debug, Clone)]
pub struct LspArgs {
    /// Talk over stdin/stdout (the only transport; accepted for editors that pass it).
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: &LspArgs, graphs: &Registry) -> u8 {
    deitc_lsp::run_stdio(super::build_facts(graphs))
}
