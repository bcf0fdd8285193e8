//! Where commands write: stdout for results, stderr for diagnostics (captured in tests).

use super::Color;
use crate::check::Checked;
use crate::diag::{render_human, render_json, Describe, Diagnostics, RenderOptions};
use crate::ir::Recipe;
use crate::source::SourceMap;
use std::io::{IsTerminal, Write};

/// Output sinks and rendering settings.
pub struct Output {
    pub stdout: Box<dyn Write>,
    pub stderr: Box<dyn Write>,
    pub render: RenderOptions,
}

impl Output {
    pub fn stdio(color: Color) -> Self {
        let tty = std::io::stderr().is_terminal();
        let color = match color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
        };
        let width = terminal_width().unwrap_or(100);
        Output {
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
            render: RenderOptions { color, width },
        }
    }

    /// Output into memory, for tests: returns the sink and the two buffers (stdout, stderr).
    pub fn captured(width: usize) -> (Self, Captured, Captured) {
        let (o, e) = (Captured::default(), Captured::default());
        let out = Output {
            stdout: Box::new(o.clone()),
            stderr: Box::new(e.clone()),
            render: RenderOptions {
                color: false,
                width,
            },
        };
        (out, o, e)
    }

    /// Writes to stdout, ignoring a closed pipe (`deitc explain … | head`).
    pub fn out(&mut self, text: &str) {
        let _ = self.stdout.write_all(text.as_bytes());
        let _ = self.stdout.flush();
    }

    pub fn err(&mut self, text: &str) {
        let _ = self.stderr.write_all(text.as_bytes());
        let _ = self.stderr.flush();
    }

    /// Renders every diagnostic to stderr, then a one-line tally.
    pub fn diagnostics<K: Describe>(
        &mut self,
        diags: &Diagnostics<K>,
        map: &SourceMap,
        what: &str,
    ) {
        for d in &diags.items {
            let text = render_human(d, map, self.render);
            self.err(&text);
            self.err("\n");
        }
        let (e, w) = (diags.error_count(), diags.warning_count());
        if e > 0 {
            self.err(&format!(
                "error: {what} failed: {}{}\n",
                plural(e, "error"),
                tally_warnings(w)
            ));
        } else if w > 0 {
            self.err(&format!("warning: {what}: {}\n", plural(w, "warning")));
        }
    }

    /// Reports the diagnostics of a checked recipe for command `what`, and gives its recipe
    /// when it checked (the preamble of every command that runs a recipe).
    pub fn checked<'a>(&mut self, checked: &'a Checked, what: &str) -> Option<&'a Recipe> {
        self.diagnostics(&checked.diags, &checked.map, what);
        checked.recipe.as_ref().filter(|_| checked.ok())
    }

    /// Every diagnostic as one JSON line on stdout.
    pub fn diagnostics_json<K: Describe>(&mut self, diags: &Diagnostics<K>, map: &SourceMap) {
        for d in &diags.items {
            let line = format!(
                "{{\"type\":\"diagnostic\",\"diagnostic\":{}}}\n",
                render_json(d, map)
            );
            self.out(&line);
        }
    }
}

fn tally_warnings(w: usize) -> String {
    if w == 0 {
        String::new()
    } else {
        format!(", {}", plural(w, "warning"))
    }
}

pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn terminal_width() -> Option<usize> {
    std::env::var("COLUMNS").ok()?.parse().ok()
}

/// An in-memory sink whose contents can be read after the command ran.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
