//! `deitc report` and `deitc runs` on the fixture runs of `tests/ui/report/support/runs`
//! (a recipe `tiny` with a failed, an interrupted and a finished run; a sweep `table3` over
//! `optimizer.lr` × `train.seed`): the files written (PNG, SVG, HTML) and the listing.

use std::path::{Path, PathBuf};

const RUNS: &str = "tests/ui/report/support/runs";

fn out_dir(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("output folder");
    dir
}

/// Runs `deitc args…`: exit code, stdout, stderr.
fn deitc(args: &[&str]) -> (u8, String, String) {
    let (mut out, stdout, stderr) = deitc::cli::Output::captured(100);
    let code = deitc::cli::run_args(args.iter().copied(), &mut out);
    drop(out);
    (code, stdout.text(), stderr.text())
}

fn report(output: &Path, targets: &[&str]) -> String {
    let o = output.display().to_string();
    let mut args = vec!["report", "-o", o.as_str()];
    args.extend(targets);
    let (code, stdout, stderr) = deitc(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("wrote {o} (1500×")), "{stdout}");
    stdout
}

#[test]
fn a_png_of_a_sweep_decodes_to_the_figures_size_and_shows_every_series() {
    let dir = out_dir("png");
    let png = dir.join("sweep.png");
    let stdout = report(&png, &[&format!("{RUNS}/table3"), &format!("{RUNS}/tiny")]);
    // The three seeds of lr=5e-4: finals 0.8604, 0.8404, 0.8804 → mean 0.8604, s = 0.02.
    assert!(
        stdout.contains("table3 lr=5e-4     3       5  0.8604 ± 0.0200  0.8604 ± 0.0200"),
        "{stdout}"
    );
    assert!(stdout.contains("tiny/003"), "{stdout}");
    let img = image::open(&png).expect("decode the PNG").to_rgb8();
    assert_eq!(img.width(), 1500);
    assert!(img.height() > 500 && img.height() < 700, "{}", img.height());
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 50, "{} colours: blank?", colours.len());
    // The first two series' colours (blue, orange) are drawn, and the blue band's tint too.
    let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
    assert!(count([31, 119, 180]) > 500, "blue line");
    assert!(count([255, 127, 14]) > 500, "orange line");
    let tinted = img
        .pixels()
        .filter(|p| {
            let [r, g, b] = p.0;
            // 20% blue over white.
            (200..=215).contains(&r) && (222..=234).contains(&g) && (236..=244).contains(&b)
        })
        .count();
    assert!(tinted > 500, "band: {tinted} pixels");
    // Mostly white background, and black text (the legend, ticks and titles).
    assert!(count([255, 255, 255]) > img.pixels().len() / 2);
    assert!(img.pixels().any(|p| p.0.iter().all(|&v| v < 40)), "no text");
}

#[test]
fn an_svg_names_every_series_in_its_legend_and_the_html_holds_the_table() {
    let dir = out_dir("svg");
    let svg = dir.join("r.svg");
    report(
        &svg,
        &[&format!("{RUNS}/table3"), "--all", &format!("{RUNS}/tiny")],
    );
    let text = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        text.starts_with("<svg") || text.starts_with("<?xml"),
        "{}",
        &text[..80]
    );
    for name in [
        "table3 lr=5e-4 · mean of 3 seeds",
        "table3 lr=1e-3",
        "tiny/002",
        "tiny/003",
        "training loss",
        "validation top-1",
        "learning rate",
        "shaded band: min–max across seeds",
    ] {
        assert!(text.contains(name), "`{name}` not in the SVG");
    }
    // Lines of four colours, and one band (20% opacity polygon).
    for colour in ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728"] {
        assert!(
            text.to_uppercase().contains(colour),
            "{colour} not in the SVG"
        );
    }
    assert!(text.contains("<polygon"), "no band");

    let page = dir.join("r.html");
    report(&page, &[&format!("{RUNS}/table3")]);
    let html = std::fs::read_to_string(&page).expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg") && !html.contains("<?xml"));
    assert!(
        html.contains("<tr><td>table3 lr=5e-4</td><td>3</td><td>5</td><td>0.8604 ± 0.0200</td><td>0.8604 ± 0.0200</td></tr>"),
        "{html}"
    );
    assert!(html.contains("<tr><td>table3 lr=1e-3</td><td>1</td><td>5</td><td>0.9136</td>"));
}

#[test]
fn runs_lists_a_locked_run_as_running() {
    let dir = out_dir("locked");
    let run = dir.join("tiny").join("001");
    std::fs::create_dir_all(&run).expect("run dir");
    for f in ["resolved.ron", "metrics.jsonl"] {
        std::fs::copy(Path::new(RUNS).join("tiny/003").join(f), run.join(f)).expect("copy");
    }
    let d = dir.display().to_string();
    let lock = deitc::train::run_dir::lock(&run).expect("lock");
    let (code, stdout, stderr) = deitc(&["runs", &d]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("tiny/001  0a1b2c3d  running"), "{stdout}");
    assert!(stdout.contains("6/6"), "{stdout}");
    drop(lock);
    let (_, stdout, _) = deitc(&["runs", &d, "--message-format", "json"]);
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(line["type"], "run");
    assert_eq!(line["status"], "failed");
    assert_eq!(line["epochs"], 6);
    assert_eq!(line["total_epochs"], 6);
    // An empty folder has no runs.
    let empty = out_dir("empty");
    let (code, stdout, _) = deitc(&["runs", &empty.display().to_string()]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("no runs under"), "{stdout}");
}
