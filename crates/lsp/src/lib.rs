//! `deitc lsp`: a Language Server Protocol server for `.deit` recipes, over stdio.
//!
//! It checks the text the editor holds (an overlay of the open documents, bases included:
//! `deitc_lang::query::overlay`) and answers from the language front end only: diagnostics
//! with `deitc check`'s codes, hover with `deitc explain`'s provenance, completion from the
//! schema, go to definition and references, `deitc fmt`, quick fixes and an outline.
//!
//! `server` is the main loop (requests are answered on it, from the current text);
//! `worker` checks on a thread of its own and publishes diagnostics, debounced and never
//! stale; `transport` frames messages on stdio and survives malformed ones. The features are
//! one file each.

mod actions;
mod complete;
mod context;
mod datasets;
mod diagnostics;
mod hover;
mod navigate;
mod outline;
mod server;
mod sites;
mod text;
mod transport;
mod worker;

pub use server::{serve, Config};

use deitc_lang::check::BuildFacts;

/// Serves LSP on stdin/stdout until the client says `exit` (or closes stdin). Returns the
/// process exit code: 0 after `shutdown` then `exit`, 1 otherwise (as the protocol asks).
pub fn run_stdio(build: BuildFacts) -> u8 {
    let (connection, io) = transport::stdio();
    let code = serve(connection, Config::new(build));
    io.join();
    code
}
