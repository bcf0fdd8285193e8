//! The command line beyond the golden cases of tests/ui: help and version, usage mistakes of
//! every kind, `fmt` on files it cannot rewrite or that use other line ends, and `run
//! --resume` of a finished run.

mod common;

use common::{run, temp_dir};

/// The code of the one diagnostic a usage mistake prints, with the exit code.
fn usage_code(args: &[&str]) -> (u8, String) {
    let (code, stdout, stderr) = run(args);
    assert_eq!(stdout, "", "{args:?}");
    let first = stderr.lines().next().unwrap_or_default().to_string();
    (code, first)
}

#[test]
fn help_and_version_print_on_stdout_and_exit_0() {
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["help", "run"],
        &["-V"],
    ] {
        let (code, stdout, stderr) = run(args);
        assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
        assert!(
            stdout.contains("Usage: deitc") || stdout.starts_with("deitc "),
            "{args:?}: {stdout}"
        );
    }
}

#[test]
fn every_kind_of_usage_mistake_is_coded_and_exits_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["check", "--bogus", "r.deit"],
            "deit::cli::unknown_argument",
        ),
        (
            &["check", "a.deit", "b.deit"],
            "deit::cli::unknown_argument",
        ),
        (&["frobnicate"], "deit::cli::unknown_command"),
        (&[], "deit::cli::missing_command"),
        (&["--color", "never"], "deit::cli::missing_command"),
        (&["cache"], "deit::cli::missing_command"),
        (
            &["run", "--device", "gpu", "r.deit"],
            "deit::cli::invalid_value",
        ),
        (
            &["check", "--message-format", "yaml", "r.deit"],
            "deit::cli::invalid_value",
        ),
        (
            &["preview", "-n", "-1", "r.deit"],
            "deit::cli::invalid_value",
        ),
        (
            &["preview", "--samples=2000", "r.deit"],
            "deit::cli::invalid_value",
        ),
        (
            &["preview", "--epoch", "-3", "r.deit"],
            "deit::cli::invalid_value",
        ),
        (
            &["bench", "--batch", "0", "r.deit"],
            "deit::cli::invalid_value",
        ),
        (
            &["bench", "--steps=0", "r.deit"],
            "deit::cli::invalid_value",
        ),
        (
            &["bench", "--steps", "ten", "r.deit"],
            "deit::cli::invalid_value",
        ),
        (&["check", "r.deit", "--set"], "deit::cli::missing_value"),
        (&["preview", "r.deit", "-n"], "deit::cli::missing_value"),
        (&["check"], "deit::cli::missing_argument"),
        (&["import", "w.safetensors"], "deit::cli::missing_argument"),
        (
            &["run", "--quiet", "--json", "r.deit"],
            "deit::cli::conflict",
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(usage_code(args), (2, expected.to_string()), "{args:?}");
    }
}

#[test]
fn suggestions_come_from_clap_or_from_the_commands_own_flags() {
    let (_, _, stderr) = run(&["check", "--sett", "a=1", "r.deit"]);
    assert!(stderr.contains("did you mean `--set`?"), "{stderr}");
    // clap suggests nothing for a different case; deitc's own did-you-mean does.
    let (_, _, stderr) = run(&["run", "--QUIET", "r.deit"]);
    assert!(stderr.contains("did you mean `--quiet`?"), "{stderr}");
    let (_, _, stderr) = run(&["chek", "r.deit"]);
    assert!(stderr.contains("did you mean `check`?"), "{stderr}");
    let (_, _, stderr) = run(&["run", "--device", "CUDA", "r.deit"]);
    assert!(stderr.contains("did you mean `cuda`?"), "{stderr}");
    // The usage of the command at fault.
    assert!(
        stderr.contains("usage: deitc run [OPTIONS] <RECIPE>"),
        "{stderr}"
    );
}

#[test]
fn a_value_written_empty_is_invalid_not_missing() {
    assert_eq!(
        usage_code(&["run", "--device=", "r.deit"]),
        (2, "deit::cli::invalid_value".to_string())
    );
    assert_eq!(
        usage_code(&["run", "--device", "", "r.deit"]),
        (2, "deit::cli::invalid_value".to_string())
    );
}

#[test]
fn usage_mistakes_are_json_under_message_format_json() {
    let (code, stdout, stderr) = run(&["check", "--message-format=json", "--set"]);
    assert_eq!((code, stderr.as_str()), (2, ""));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["diagnostic"]["code"], "deit::cli::missing_value");
    assert_eq!(lines[0]["diagnostic"]["filename"], "<command line>");
    assert_eq!(lines[1]["type"], "summary");
    assert_eq!(lines[1]["ok"], false);
    // Only `check` has `--message-format`: elsewhere it is itself the mistake, for people.
    let (code, stdout, stderr) = run(&["run", "--message-format", "json", "r.deit"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(
        stderr.starts_with("deit::cli::unknown_argument"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn a_non_utf8_value_is_coded_and_a_non_utf8_path_is_read_as_a_path() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let (mut out, stdout, stderr) = deitc::cli::Output::captured(80);
    let args = [
        OsString::from("check"),
        OsString::from("--set"),
        OsString::from_vec(b"train.batch=\xff".to_vec()),
        OsString::from("r.deit"),
    ];
    let code = deitc::cli::run_args(args, &mut out);
    assert_eq!(code, 2);
    assert_eq!(stdout.text(), "");
    assert!(
        stderr.text().starts_with("deit::cli::not_utf8"),
        "{}",
        stderr.text()
    );
    // A path may be any bytes: it is not a usage mistake, and the file is looked up.
    let (mut out, _, stderr) = deitc::cli::Output::captured(80);
    let args = [
        OsString::from("check"),
        OsString::from_vec(b"no-such-\xff.deit".to_vec()),
    ];
    assert_eq!(deitc::cli::run_args(args, &mut out), 1);
    assert!(
        stderr.text().starts_with("deit::io::not_found"),
        "{}",
        stderr.text()
    );
}

// ---- fmt -------------------------------------------------------------------------------------

#[test]
fn fmt_reports_a_read_only_file_with_a_write_code_and_leaves_it_alone() {
    let dir = temp_dir("fmt-readonly");
    let path = dir.join("r.deit");
    let messy = "model{embed=64}\n";
    std::fs::write(&path, messy).expect("write");
    let mut perms = std::fs::metadata(&path).expect("metadata").permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&path, perms).expect("chmod");
    let p = path.display().to_string();
    let (code, stdout, stderr) = run(&["fmt", &p]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.starts_with("deit::io::write"), "{stderr}");
    assert!(stderr.contains("cannot rewrite"), "{stderr}");
    assert!(stderr.contains("--check"), "{stderr}");
    assert!(stderr.contains("error: fmt failed: 1 error"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), messy);
    // `--check` only reads.
    let (code, stdout, _) = run(&["fmt", "--check", &p]);
    assert_eq!((code, stdout), (1, format!("would reformat {p}\n")));
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(&dir).expect("list").flatten().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn fmt_keeps_a_bom_and_a_files_permissions_and_rewrites_lone_crs() {
    let dir = temp_dir("fmt-bom-cr");
    let bom = dir.join("bom.deit");
    std::fs::write(&bom, "\u{FEFF}model{embed=64}\n").expect("write");
    let cr = dir.join("cr.deit");
    std::fs::write(&cr, "// old Mac\rmodel {\r    embed = 64\r}\r").expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cr, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    }
    let (b, c) = (bom.display().to_string(), cr.display().to_string());
    let (code, stdout, stderr) = run(&["fmt", &b, &c]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("reformatted {b}\nreformatted {c}\n"));
    assert_eq!(
        std::fs::read_to_string(&bom).expect("read"),
        "\u{FEFF}model {\n    embed = 64\n}\n"
    );
    assert_eq!(
        std::fs::read_to_string(&cr).expect("read"),
        "// old Mac\nmodel {\n    embed = 64\n}\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cr)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }
    // Idempotent.
    let (code, stdout, _) = run(&["fmt", "--check", &b, &c]);
    assert_eq!((code, stdout.as_str()), (0, ""));
}

#[test]
fn a_recipe_with_a_bom_or_lone_crs_checks_like_its_plain_twin() {
    let dir = temp_dir("bom-cr");
    let plain = std::fs::read_to_string("tests/ui/support/valid.deit").expect("valid.deit");
    let bom = dir.join("bom.deit");
    std::fs::write(&bom, format!("\u{FEFF}{plain}")).expect("write");
    let cr = dir.join("cr.deit");
    std::fs::write(&cr, plain.replace('\n', "\r")).expect("write");
    let crlf = dir.join("crlf.deit");
    std::fs::write(&crlf, plain.replace('\n', "\r\n")).expect("write");
    for path in [&bom, &cr, &crlf] {
        let p = path.display().to_string();
        let (code, stdout, stderr) = run(&["check", &p]);
        assert_eq!(code, 0, "{p}: {stderr}");
        assert!(stdout.contains(": ok"), "{p}: {stdout}");
    }
    // `explain` names the line a value was set on, counting lone CRs as line ends.
    let p = cr.display().to_string();
    let (code, stdout, _) = run(&["explain", &p]);
    assert_eq!(code, 0);
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let at = |needle: &str| {
        plain
            .lines()
            .position(|l| l.contains(needle))
            .expect("in valid.deit")
            + 1
    };
    assert_eq!(
        line("embed:"),
        format!("embed: 64, // {p}:{}", at("embed = 64"))
    );
}

// ---- run --resume ----------------------------------------------------------------------------

#[test]
fn resuming_a_finished_run_reports_its_recorded_metrics() {
    let out = temp_dir("resume-finished");
    let set = format!("train.output=\"{}\"", out.display());
    let recipe = "tests/ui/run/support/tiny.deit";
    let (code, stdout, stderr) = run(&["run", "--quiet", recipe, "--set", &set]);
    assert_eq!(code, 0, "{stderr}");
    let done = stdout.lines().last().unwrap_or_default().to_string();
    assert!(done.contains(": done after 1 epochs"), "{done}");
    let top1 = |line: &str| -> String {
        let rest = line.split("val top-1 ").nth(1).unwrap_or_default();
        rest.split(' ').next().unwrap_or_default().to_string()
    };
    assert_ne!(top1(&done), "-");

    let (code, stdout, stderr) = run(&["run", "--quiet", "--resume", recipe, "--set", &set]);
    assert_eq!(code, 0, "{stderr}");
    let again = stdout.lines().last().unwrap_or_default().to_string();
    assert!(
        again.contains(": already finished after 1 epochs"),
        "{again}"
    );
    assert_eq!(top1(&again), top1(&done), "{again}");
    assert!(!again.contains(" - "), "{again}");
    // Nothing was trained again: still one run directory.
    let recipes: Vec<_> = std::fs::read_dir(&out).expect("output").flatten().collect();
    assert_eq!(recipes.len(), 1);
    let runs = std::fs::read_dir(recipes[0].path()).expect("runs").count();
    assert_eq!(runs, 1);
}

#[test]
fn a_mistake_before_the_command_is_the_roots() {
    let (code, _, stderr) = run(&["--bogus", "check", "r.deit"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown option `--bogus` for `deitc`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("usage: deitc [OPTIONS] <COMMAND>"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["--color", "blue", "check", "r.deit"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("invalid value `blue` for `--color`"),
        "{stderr}"
    );
    assert!(stderr.contains("╰── not one of"), "{stderr}");
}
