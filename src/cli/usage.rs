//! Command-line mistakes as diagnostics. clap parses the command line; when it refuses it,
//! its error (its kind and context: the argument, the value, clap's suggestion, the valid
//! values) becomes a [`UsageError`] with a `deit::cli::*` code. The command line itself is
//! registered as the source `<command line>`, so the mistake is labelled where it was
//! typed, and the diagnostic is rendered like every other one: miette's report on stderr,
//! or a JSON line on stdout when `--message-format json` was given. The exit code is 2.
//!
//! `--help` and `--version` are not mistakes: they print clap's text on stdout (exit 0).

use super::{Cli, Color, Output};
use crate::diag::{did_you_mean, render_human, suggest, Diag, Diagnostics};
use crate::error::Error;
use crate::source::{SourceKind, SourceMap, Span};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
use deitc_diag::{Code, Describe, Description};
use std::ffi::OsString;
use std::ops::Range;

/// What is wrong with the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum UsageError {
    /// `--bogus`, or one positional argument too many.
    UnknownArgument {
        arg: String,
        command: String,
        suggestion: Option<String>,
        usage: String,
    },
    /// `deitc chek`.
    UnknownCommand {
        name: String,
        command: String,
        commands: Vec<String>,
        suggestion: Option<String>,
        usage: String,
    },
    /// `deitc` or `deitc cache` alone.
    MissingCommand {
        command: String,
        commands: Vec<String>,
        usage: String,
    },
    /// `--device gpu`, `--batch 0`: a value the option does not take.
    InvalidValue {
        arg: String,
        value: String,
        /// Why the value was refused (a range), when the option says.
        reason: Option<String>,
        /// The values the option takes, when they are a list.
        valid: Vec<String>,
        suggestion: Option<String>,
        usage: String,
    },
    /// `--set` at the end of the line: an option without its value.
    MissingValue {
        /// The option as written: `--set`, `-n`.
        flag: String,
        /// The option as clap shows it: `--set <PATH=VALUE>`.
        arg: String,
        valid: Vec<String>,
        usage: String,
    },
    /// `deitc check` without its recipe.
    MissingArgument {
        args: Vec<String>,
        command: String,
        usage: String,
    },
    /// `--quiet --json`.
    Conflict {
        arg: String,
        with: Vec<String>,
        usage: String,
    },
    /// An option or value that is not UTF-8 text.
    NotUtf8 { command: String, usage: String },
    /// A failure of the argument parser itself (not a mistake of the command line).
    Other { message: String },
}

impl Describe for UsageError {
    fn describe(&self) -> Description {
        use UsageError::*;
        match self {
            UnknownArgument { arg, command, suggestion, usage } if arg.starts_with('-') => {
                Description::new(Code::CliUnknownArgument, format!("unknown option `{arg}` for `{command}`"))
                    .label(format!("not an option of `{command}`"))
                    .help(help(dym_or(suggestion, &format!("`{command} --help` lists its options")), usage))
            }
            UnknownArgument { arg, command, suggestion, usage } => {
                Description::new(Code::CliUnknownArgument, format!("unexpected argument `{arg}` for `{command}`"))
                    .label("not expected here")
                    .help(help(dym_or(suggestion, &format!("`{command} --help` lists its arguments")), usage))
            }
            UnknownCommand { name, command, commands, suggestion, usage } => {
                Description::new(Code::CliUnknownCommand, format!("unknown command `{name}`"))
                    .label(format!("not a command of `{command}`"))
                    .help(help(dym_or(suggestion, &format!("the commands are {}", ticked(commands))), usage))
            }
            MissingCommand { command, commands, usage } => {
                Description::new(Code::CliMissingCommand, format!("`{command}` needs a command"))
                    .label("a command goes after this")
                    .help(help(format!("add one of its commands: {}", ticked(commands)), usage))
            }
            InvalidValue { arg, value, reason, valid, suggestion, usage } => {
                let label = match (reason, valid.is_empty()) {
                    (Some(r), _) => r.clone(),
                    (None, false) => format!("not one of {}", ticked(valid)),
                    (None, true) => "not a valid value".into(),
                };
                let first = match (suggestion, valid.is_empty()) {
                    (Some(_), _) => did_you_mean(suggestion),
                    (None, false) => format!("`{arg}` takes one of {}", ticked(valid)),
                    (None, true) => format!("`{} --help` describes `{arg}`", command_of(usage)),
                };
                Description::new(Code::CliInvalidValue, format!("invalid value `{value}` for `{arg}`"))
                    .label(label)
                    .help(help(first, usage))
            }
            MissingValue { flag, arg, valid, usage } => {
                let first = if valid.is_empty() {
                    format!("write `{arg}`")
                } else {
                    format!("`{flag}` takes one of {}", ticked(valid))
                };
                Description::new(Code::CliMissingValue, format!("`{flag}` needs a value"))
                    .label("no value after this")
                    .help(help(first, usage))
            }
            MissingArgument { args, command, usage } => {
                Description::new(Code::CliMissingArgument, format!("`{command}` needs {}", ticked(args)))
                    .label(format!("missing {}", ticked(args)))
                    .help(help(format!("`{command} --help` describes its arguments"), usage))
            }
            Conflict { arg, with, usage } => {
                let with = ticked(&with.iter().map(|w| flag_of(w).to_string()).collect::<Vec<_>>());
                Description::new(Code::CliConflict, format!("`{}` cannot be used with {with}", flag_of(arg)))
                    .label(format!("conflicts with {with}"))
                    .help(help("give only one of them".into(), usage))
            }
            NotUtf8 { command, usage } => {
                Description::new(Code::CliNotUtf8, format!("an argument of `{command}` is not valid UTF-8"))
                    .label("not UTF-8 (shown with U+FFFD)")
                    .help(help("options and their values are read as UTF-8 text; only a file path may be other bytes".into(), usage))
            }
            Other { message } => Description::internal(message),
        }
    }
}

/// A help line, then the usage.
fn help(first: String, usage: &str) -> String {
    format!("{first}\nusage: {usage}")
}

fn dym_or(suggestion: &Option<String>, otherwise: &str) -> String {
    match suggestion {
        Some(_) => did_you_mean(suggestion),
        None => otherwise.to_string(),
    }
}

/// `` `a`, `b` or `c` ``.
fn ticked(items: &[String]) -> String {
    let t: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match t.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// `--device <DEVICE>` → `--device`.
fn flag_of(arg: &str) -> &str {
    arg.split([' ', '=']).next().unwrap_or(arg)
}

/// `deitc check [OPTIONS] <RECIPE>` → `deitc check`.
fn command_of(usage: &str) -> String {
    usage
        .split(' ')
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- parsing with diagnostics ------------------------------------------------------------------

/// What parsing `argv` (without the program name) gave: a command line to run, or an exit
/// code once clap's text or the usage diagnostic was printed to `out`.
pub fn parse(argv: &[OsString], out: &mut Output) -> Result<Cli, u8> {
    let full = std::iter::once(OsString::from("deitc")).chain(argv.iter().cloned());
    match Cli::try_parse_from(full) {
        Ok(cli) => Ok(cli),
        Err(e) => Err(report(&e, argv, out)),
    }
}

/// Prints clap's refusal of `argv`: help and version as clap writes them (exit 0), a
/// mistake as a diagnostic (exit 2).
pub fn report(e: &clap::Error, argv: &[OsString], out: &mut Output) -> u8 {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        out.out(&e.to_string());
        return 0;
    }
    let (diag, map, json) = diagnose(e, argv);
    if json {
        out.diagnostics_json(&Diagnostics { items: vec![diag] }, &map);
        let summary = serde_json::json!({
            "type": "summary",
            "ok": false,
            "errors": 1,
            "warnings": 0,
        });
        out.out(&format!("{summary}\n"));
    } else {
        out.err(&render_human(&diag, &map, out.render));
    }
    2
}

/// `--color` as given on `argv`, when it is there and valid (for a usage error's colours).
pub fn color_of(argv: &[OsString]) -> Color {
    let words = words(argv);
    let value = option_value(&words, "--color");
    match value.as_deref() {
        Some("always") => Color::Always,
        Some("never") => Color::Never,
        _ => Color::Auto,
    }
}

/// Whether `argv` asks for `--message-format json`.
fn message_format_json(argv: &[OsString]) -> bool {
    option_value(&words(argv), "--message-format").as_deref() == Some("json")
}

/// The value of the last `--name value` or `--name=value` before a `--`.
fn option_value(words: &[String], name: &str) -> Option<String> {
    let mut found = None;
    let mut it = words.iter().take_while(|w| *w != "--").peekable();
    while let Some(w) = it.next() {
        if w == name {
            found = it.peek().map(|v| v.to_string());
        } else if let Some(v) = w.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_string());
        }
    }
    found
}

fn words(argv: &[OsString]) -> Vec<String> {
    argv.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

// ---- from clap's error to a diagnostic ---------------------------------------------------------

/// The command line as shown in a diagnostic: `deitc` and each argument, quoted where a
/// shell would need it, with the byte range of each (index 0: the program).
struct Line {
    text: String,
    ranges: Vec<Range<usize>>,
    /// Each argument as (lossy) text; index 0 is `deitc`.
    words: Vec<String>,
}

impl Line {
    fn new(argv: &[OsString]) -> Self {
        let mut text = String::from("deitc");
        let mut ranges: Vec<Range<usize>> = Vec::new();
        ranges.push(0..text.len());
        let mut words = vec!["deitc".to_string()];
        for a in argv {
            let w = a.to_string_lossy().into_owned();
            text.push(' ');
            let start = text.len();
            text.push_str(&shell_word(&w));
            ranges.push(start..text.len());
            words.push(w);
        }
        Line {
            text,
            ranges,
            words,
        }
    }
}

/// `w` as a shell word: quoted when empty or holding a space or a shell character.
fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_alphanumeric() || !c.is_ascii() || "-_./=:,+%@^~".contains(c));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// The (sub)commands `argv` names, as far as they are valid: `[deitc]`, `[deitc, check]`,
/// `[deitc, cache, list]`, with the index of each one's word in the line. `named`: the
/// command clap's error is about (from its usage: `deitc check`), when it says.
fn command_path(line: &Line, root: &clap::Command, named: Option<&str>) -> Vec<(String, usize)> {
    let mut path = vec![("deitc".to_string(), 0)];
    if let Some(named) = named {
        let mut at = 0;
        for name in named.split(' ').skip(1) {
            match (at + 1..line.words.len()).find(|&i| line.words[i] == name) {
                Some(i) => {
                    path.push((name.to_string(), i));
                    at = i;
                }
                None => break,
            }
        }
        return path;
    }
    let mut cmd = root;
    let mut i = 1;
    while i < line.words.len() {
        let w = &line.words[i];
        if w == "--" {
            break;
        }
        if w == "--color" {
            i += 2;
            continue;
        }
        if w.starts_with('-') {
            i += 1;
            continue;
        }
        match cmd.find_subcommand(w) {
            Some(sub) => {
                path.push((sub.get_name().to_string(), i));
                cmd = sub;
                if sub.get_subcommands().next().is_none() {
                    break;
                }
            }
            None => break,
        }
        i += 1;
    }
    path
}

/// The clap command at `path` (below the root).
fn find<'a>(root: &'a mut clap::Command, path: &[(String, usize)]) -> &'a mut clap::Command {
    let mut cmd = root;
    for (name, _) in &path[1..] {
        cmd = cmd
            .find_subcommand_mut(name)
            .expect("the path was read from this command");
    }
    cmd
}

fn string(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        ContextValue::StyledStr(s) => Some(s.to_string()),
        _ => None,
    }
}

fn strings(e: &clap::Error, kind: ContextKind) -> Vec<String> {
    match e.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        _ => Vec::new(),
    }
}

/// The diagnostic for clap's error `e` on `argv`, the source map holding the command line,
/// and whether to print it as JSON (`--message-format json` given to a command that has it).
pub fn diagnose(e: &clap::Error, argv: &[OsString]) -> (Diag<Error>, SourceMap, bool) {
    let line = Line::new(argv);
    let mut map = SourceMap::new();
    let file = map.add("<command line>", line.text.clone(), SourceKind::CommandLine);
    let span = |i: usize| Span {
        file,
        start: line.ranges[i].start as u32,
        end: line.ranges[i].end as u32,
    };

    let mut root = Cli::command();
    root.build();
    // clap's usage names the command at fault (`deitc --bogus check` is the root's mistake).
    let named = string(e, ContextKind::Usage)
        .map(|u| command_of(u.trim().trim_start_matches("Usage:").trim()));
    let path = command_path(&line, &root, named.as_deref());
    let cmd = find(&mut root, &path);
    let json = message_format_json(argv)
        && cmd
            .get_arguments()
            .any(|a| a.get_long() == Some("message-format"));
    let usage = cmd
        .render_usage()
        .to_string()
        .trim()
        .trim_start_matches("Usage:")
        .trim()
        .to_string();
    let command = path
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    // The first word after the command's own name.
    let first = path.last().map_or(0, |(_, i)| *i) + 1;
    let commands: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .map(|s| s.get_name().to_string())
        .collect();
    // Every spelling of the options of this command: `--long` and `-s`.
    let flags: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .flat_map(|a| {
            a.get_long()
                .map(|l| format!("--{l}"))
                .into_iter()
                .chain(a.get_short().map(|s| format!("-{s}")))
        })
        .collect();
    // The words of `arg` (`--device <DEVICE>`): `--device`, `--device=…`, and its short form.
    let spellings = |arg: &str| -> (String, Option<String>) {
        let flag = flag_of(arg).to_string();
        let other = cmd
            .get_arguments()
            .find(|a| {
                a.get_long().is_some_and(|l| flag == format!("--{l}"))
                    || a.get_short().is_some_and(|s| flag == format!("-{s}"))
            })
            .and_then(|a| match (a.get_long(), a.get_short()) {
                (Some(l), Some(s)) if flag == format!("--{l}") => Some(format!("-{s}")),
                (Some(l), Some(_)) => Some(format!("--{l}")),
                _ => None,
            });
        (flag, other)
    };
    let is_flag_word = |w: &str, arg: &str| {
        let (flag, other) = spellings(arg);
        [Some(flag), other].into_iter().flatten().any(|f| {
            w == f
                || w.strip_prefix(f.as_str())
                    .is_some_and(|r| r.starts_with('=') || !f.starts_with("--") && !r.is_empty())
        })
    };
    let words_from = |from: usize| from.min(line.words.len())..line.words.len();
    let word_equal = |text: &str| words_from(first).find(|&i| line.words[i] == text);
    // Options are looked for after the command's name, then before it (a global option
    // such as `--color` may come first).
    let option_words = || words_from(first).chain(1..first.min(line.words.len()));
    // The word holding the value `value` of option `arg`: `--arg value` or `--arg=value`.
    let value_word = |arg: &str, value: &str| {
        option_words()
            .find_map(|i| {
                let w = &line.words[i];
                if !is_flag_word(w, arg) {
                    return None;
                }
                let (flag, _) = spellings(arg);
                match w
                    .strip_prefix(flag.as_str())
                    .and_then(|r| r.strip_prefix('='))
                {
                    Some(v) if v == value => Some(i),
                    Some(_) => None,
                    None if w.len() > 2 && !w.starts_with("--") => Some(i),
                    None => {
                        (i + 1 < line.words.len() && line.words[i + 1] == value).then_some(i + 1)
                    }
                }
            })
            .or_else(|| word_equal(value))
    };
    let flag_word = |arg: &str| {
        let before = (1..first.min(line.words.len())).rev();
        words_from(first)
            .rev()
            .chain(before)
            .find(|&i| is_flag_word(&line.words[i], arg))
    };
    // The option as the user wrote it (`-n` rather than `--samples`).
    let typed = |arg: &str| -> String {
        let (flag, _) = spellings(arg);
        match flag_word(arg).map(|i| line.words[i].as_str()) {
            Some(w) if w.starts_with("--") => w.split('=').next().unwrap_or(w).to_string(),
            Some(w) if w.len() >= 2 && w.is_char_boundary(2) => w[..2].to_string(),
            _ => flag,
        }
    };

    let kind = e.kind();
    let invalid_arg = string(e, ContextKind::InvalidArg).unwrap_or_default();
    let invalid_value = string(e, ContextKind::InvalidValue).unwrap_or_default();
    let reason = std::error::Error::source(e).map(|s| s.to_string());
    let mut secondary = Vec::new();
    let (error, at) = match kind {
        ErrorKind::UnknownArgument | ErrorKind::TooManyValues => {
            let arg = if kind == ErrorKind::TooManyValues {
                invalid_value.clone()
            } else {
                invalid_arg.clone()
            };
            let name = flag_of(&arg).to_string();
            let suggestion = string(e, ContextKind::SuggestedArg).or_else(|| {
                name.starts_with('-')
                    .then(|| suggest(&name, flags.iter().map(String::as_str)))
                    .flatten()
            });
            let at = word_equal(&arg)
                .or_else(|| words_from(first).find(|&i| line.words[i].starts_with(&name)));
            let error = if !arg.starts_with('-') && !commands.is_empty() {
                UsageError::UnknownCommand {
                    suggestion: suggest(&arg, commands.iter().map(String::as_str)),
                    name: arg,
                    command: command.clone(),
                    commands: commands.clone(),
                    usage: usage.clone(),
                }
            } else {
                UsageError::UnknownArgument {
                    arg,
                    command: command.clone(),
                    suggestion,
                    usage: usage.clone(),
                }
            };
            (error, at)
        }
        ErrorKind::InvalidSubcommand => {
            let name = string(e, ContextKind::InvalidSubcommand).unwrap_or_default();
            let suggestion = string(e, ContextKind::SuggestedSubcommand)
                .or_else(|| suggest(&name, commands.iter().map(String::as_str)));
            let at = word_equal(&name);
            let error = UsageError::UnknownCommand {
                name,
                command: command.clone(),
                commands: commands.clone(),
                suggestion,
                usage: usage.clone(),
            };
            (error, at)
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let error = UsageError::MissingCommand {
                command: command.clone(),
                commands: commands.clone(),
                usage: usage.clone(),
            };
            (error, Some(first - 1))
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::NoEquals => {
            let valid = strings(e, ContextKind::ValidValue);
            let (flag, _) = spellings(&invalid_arg);
            // clap reports an option with no value as an invalid empty value; a value really
            // written empty (`--set ''`, `--set=`) is an invalid value.
            let written_empty = option_words().any(|i| {
                let w = &line.words[i];
                w.is_empty() && is_flag_word(&line.words[i - 1], &invalid_arg)
                    || *w == format!("{flag}=")
            });
            if kind == ErrorKind::InvalidValue && invalid_value.is_empty() && !written_empty {
                let error = UsageError::MissingValue {
                    flag: typed(&invalid_arg),
                    arg: invalid_arg.clone(),
                    valid,
                    usage: usage.clone(),
                };
                (error, flag_word(&invalid_arg))
            } else {
                let reason = match kind {
                    ErrorKind::NoEquals => Some(format!("write `{flag}=<value>`")),
                    _ => reason,
                };
                let suggestion = string(e, ContextKind::SuggestedValue)
                    .or_else(|| suggest(&invalid_value, valid.iter().map(String::as_str)));
                let at = value_word(&invalid_arg, &invalid_value);
                let error = UsageError::InvalidValue {
                    arg: typed(&invalid_arg),
                    value: invalid_value.clone(),
                    reason,
                    valid,
                    suggestion,
                    usage: usage.clone(),
                };
                (error, at)
            }
        }
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            let error = UsageError::MissingValue {
                flag: typed(&invalid_arg),
                arg: invalid_arg.clone(),
                valid: Vec::new(),
                usage: usage.clone(),
            };
            (error, flag_word(&invalid_arg))
        }
        ErrorKind::ArgumentConflict => {
            let with = strings(e, ContextKind::PriorArg);
            for w in &with {
                if let Some(i) = flag_word(w) {
                    secondary.push((i, "given here".to_string()));
                }
            }
            let at = flag_word(&invalid_arg);
            let error = UsageError::Conflict {
                arg: invalid_arg.clone(),
                with,
                usage: usage.clone(),
            };
            (error, at)
        }
        ErrorKind::MissingRequiredArgument => {
            let error = UsageError::MissingArgument {
                args: strings(e, ContextKind::InvalidArg),
                command: command.clone(),
                usage: usage.clone(),
            };
            (error, Some(first - 1))
        }
        ErrorKind::InvalidUtf8 => {
            let at = (1..line.words.len()).find(|&i| argv[i - 1].to_str().is_none());
            let error = UsageError::NotUtf8 {
                command: command.clone(),
                usage: usage.clone(),
            };
            (error, at)
        }
        _ => {
            let message = e.render().to_string();
            let message = message.trim().trim_start_matches("error: ");
            let error = UsageError::Other {
                message: message.lines().next().unwrap_or_default().to_string(),
            };
            (error, None)
        }
    };
    let error = Error::Usage(error);
    let mut diag = match at {
        Some(i) => Diag::error(error, span(i)),
        None => Diag::global(error),
    };
    if diag.primary.is_some() {
        for (i, text) in secondary {
            diag = diag.with_secondary(span(i), text);
        }
    }
    (diag, map, json)
}

// ---- value parsers -------------------------------------------------------------------------

/// A count of at least 1 (`--batch`, `--steps`): 0 is refused, not replaced.
pub fn positive(s: &str) -> Result<usize, String> {
    whole_in(s, 1, usize::MAX as u128).map(|n| n as usize)
}

/// A whole number of at least 0 (`--epoch`).
pub fn whole(s: &str) -> Result<u64, String> {
    whole_in(s, 0, u64::MAX as u128).map(|n| n as u64)
}

/// `preview -n`: 1 to 1024 samples.
pub fn samples(s: &str) -> Result<u16, String> {
    whole_in(s, 1, 1024).map(|n| n as u16)
}

fn whole_in(s: &str, lo: u128, hi: u128) -> Result<u128, String> {
    let range = if hi >= u64::MAX as u128 {
        format!("must be at least {lo}")
    } else {
        format!("must be between {lo} and {hi}")
    };
    match s.parse::<i128>() {
        Ok(n) if n >= lo as i128 && (n as u128) <= hi => Ok(n as u128),
        Ok(_) => Err(range),
        Err(_) => Err(format!("expected a whole number; {range}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_in_range() {
        assert_eq!(positive("3"), Ok(3));
        assert_eq!(positive("0"), Err("must be at least 1".into()));
        assert_eq!(samples("1025"), Err("must be between 1 and 1024".into()));
        assert_eq!(samples("-1"), Err("must be between 1 and 1024".into()));
        assert!(whole("x").is_err());
        assert_eq!(whole("0"), Ok(0));
    }

    #[test]
    fn words_are_quoted_like_a_shell() {
        assert_eq!(shell_word("--set"), "--set");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn option_values_are_found_before_a_double_dash() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            option_value(
                &w(&["check", "--message-format", "json"]),
                "--message-format"
            )
            .as_deref(),
            Some("json")
        );
        assert_eq!(
            option_value(&w(&["--color=never", "check"]), "--color").as_deref(),
            Some("never")
        );
        assert_eq!(option_value(&w(&["--", "--color=never"]), "--color"), None);
    }
}
