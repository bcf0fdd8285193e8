//! No input may panic or hang deitc: hostile files, paths and overrides each get a
//! diagnostic, and randomly mutated recipes never panic `check` or `fmt`.

mod common;

use common::{run, temp_dir};
use deitc::check::check;
use proptest::prelude::*;
use std::path::Path;

/// Checks `text` written to a temp file; returns the diagnostic codes (errors first).
fn codes_of(text: &[u8]) -> Vec<&'static str> {
    let dir = temp_dir("robust");
    let path = dir.join("r.deit");
    std::fs::write(&path, text).expect("write");
    let c = check(
        &path,
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    let p = path.to_string_lossy().into_owned();
    // The rendered path must not panic either.
    let (code, _, _) = run(&["check", &p]);
    assert_eq!(code, u8::from(!c.ok()));
    c.diags.items.iter().map(|d| d.code().as_str()).collect()
}

#[test]
fn missing_file_directory_binary_and_non_utf8_inputs_are_diagnosed() {
    let c = check(
        Path::new("no/such/recipe.deit"),
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert_eq!(c.diags.items[0].code(), "deit::io::not_found");
    let c = check(
        Path::new("recipes"),
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert_eq!(c.diags.items[0].code(), "deit::io::is_directory");
    assert_eq!(codes_of(b"model {\0}"), ["deit::io::binary"]);
    assert_eq!(codes_of(b"model { embed = \xff }"), ["deit::io::not_utf8"]);
}

#[test]
fn a_ten_megabyte_file_is_refused_before_parsing() {
    let big = "// padding\n".repeat(1_000_000);
    assert_eq!(codes_of(big.as_bytes()), ["deit::io::too_large"]);
}

#[test]
fn ten_thousand_nested_parentheses_do_not_overflow_the_stack() {
    let text = format!(
        "optimizer.lr = {}1{}\n",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert_eq!(codes_of(text.as_bytes()), ["deit::syntax::too_deep"]);
    let text = format!("{}{}", "model {".repeat(10_000), "}".repeat(10_000));
    assert_eq!(codes_of(text.as_bytes()), ["deit::syntax::too_deep"]);
    let text = format!("optimizer.lr = [{}]\n", "[".repeat(5_000));
    assert_eq!(codes_of(text.as_bytes()), ["deit::syntax::too_deep"]);
}

#[test]
fn a_hundred_thousand_term_sum_is_refused_not_recursed() {
    let text = format!("optimizer.lr = 1{}\n", " + 1".repeat(100_000));
    assert_eq!(codes_of(text.as_bytes()), ["deit::syntax::too_complex"]);
}

#[test]
fn empty_and_comment_only_files_report_the_missing_fields() {
    for text in ["", "// nothing here\n", "\n\n\n"] {
        let codes = codes_of(text.as_bytes());
        assert!(
            codes.iter().all(|c| *c == "deit::schema::missing_field"),
            "{codes:?}"
        );
        assert_eq!(
            codes.len(),
            5,
            "model.embed/depth/heads, data.train/val: {codes:?}"
        );
    }
}

#[test]
fn extends_cycles_and_missing_bases_are_diagnosed() {
    let dir = temp_dir("cycle");
    std::fs::write(dir.join("a.deit"), "extends \"b.deit\"\n").expect("a");
    std::fs::write(dir.join("b.deit"), "extends \"c.deit\"\n").expect("b");
    std::fs::write(dir.join("c.deit"), "extends \"a.deit\"\n").expect("c");
    let c = check(
        &dir.join("a.deit"),
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    let cycle = c
        .diags
        .items
        .iter()
        .find(|d| d.code() == "deit::extends::cycle")
        .expect("cycle");
    match &cycle.kind {
        deitc::diag::ErrorKind::ExtendsCycle { chain } => assert_eq!(chain.len(), 4, "{chain:?}"),
        other => panic!("{other:?}"),
    }
    std::fs::write(dir.join("self.deit"), "extends \"self.deit\"\n").expect("self");
    let c = check(
        &dir.join("self.deit"),
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert_eq!(c.diags.items[0].code(), "deit::extends::cycle");
    std::fs::write(dir.join("orphan.deit"), "extends \"gone.deit\"\n").expect("orphan");
    let c = check(
        &dir.join("orphan.deit"),
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert_eq!(c.diags.items[0].code(), "deit::extends::not_found");
    assert!(c.diags.items[0].span().is_some(), "points at the extends");
}

#[test]
fn hostile_overrides_are_diagnosed_in_their_own_source() {
    for (set, code) in [
        ("", "deit::syntax::unexpected"),
        ("train.batch", "deit::syntax::unexpected"),
        ("=3", "deit::syntax::unexpected"),
        ("train.bach=3", "deit::schema::unknown_field"),
        ("train.batch=\"x\"", "deit::type::mismatch"),
        (
            "train.batch=99999999999999999999999",
            "deit::syntax::bad_number",
        ),
        ("model=none", "deit::schema::not_optional"),
        (
            "optimizer.lr=((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1",
            "deit::syntax::too_deep",
        ),
    ] {
        let c = check(
            Path::new("recipes/digits_vit.deit"),
            &[set.to_string()],
            &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
        );
        assert_eq!(
            c.diags.items.first().map(|d| d.code().as_str()),
            Some(code),
            "--set {set:?}"
        );
        let (exit, _, stderr) = run(&["check", "recipes/digits_vit.deit", "--set", set]);
        assert_eq!(exit, 1);
        assert!(
            stderr.contains("<cli:1>") || set.is_empty(),
            "{set}: {stderr}"
        );
    }
}

#[test]
fn arithmetic_edge_cases_are_diagnosed() {
    let cases = [
        ("optimizer.lr = 1 / 0", "deit::expr::division_by_zero"),
        (
            "train.batch = 9223372036854775807 + 1",
            "deit::syntax::bad_number",
        ),
        ("optimizer.lr = 1e308 * 1e308", "deit::syntax::bad_number"),
        ("optimizer.lr = \"a\" * 2", "deit::expr::bad_operands"),
        ("optimizer.lr = -(0.1..0.2)", "deit::expr::bad_operands"),
    ];
    for (line, code) in cases {
        let dir = temp_dir("arith");
        std::fs::create_dir_all(dir.join("x")).expect("dir");
        let p = dir.join("x").join("r.deit");
        std::fs::write(
            &p,
            format!(
                "extends \"{}\"\n{line}\n",
                std::fs::canonicalize("recipes/digits_vit.deit")
                    .expect("c")
                    .display()
            ),
        )
        .expect("w");
        let c = check(
            &p,
            &[],
            &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
        );
        assert_eq!(
            c.diags.items.first().map(|d| d.code().as_str()),
            Some(code),
            "{line}: {:?}",
            c.diags.items
        );
    }
}

/// Pieces a mutation may insert: tokens of the language and some junk.
const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    "..",
    ".",
    ",",
    "\"",
    "//",
    "\n",
    " ",
    "-",
    "+",
    "*",
    "/",
    "%",
    "none",
    "true",
    "delete ",
    "extends ",
    "model",
    "embed",
    "epochs",
    "1e",
    "0",
    "9999999999999999999999",
    "k",
    "M",
    "é",
    "\\",
    "_",
    "train.batch",
    "digits()",
    "synthetic(",
    "image_folder(\"",
    "x = ",
    "model.embed",
    "5%",
    "0.5..",
    "\t",
    "\u{0}",
];

fn mutate(text: &str, ops: &[(u8, usize, usize)]) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for &(kind, a, b) in ops {
        if s.is_empty() {
            s.push('x');
        }
        let i = a % s.len();
        match kind % 4 {
            0 => {
                let j = (i + b % 12).min(s.len());
                s.drain(i..j);
            }
            1 => {
                let piece: Vec<char> = PIECES[b % PIECES.len()].chars().collect();
                s.splice(i..i, piece);
            }
            2 => {
                let j = b % s.len();
                s.swap(i, j);
            }
            _ => {
                let j = (i + b % 40).min(s.len());
                let dup: Vec<char> = s[i..j].to_vec();
                s.splice(j..j, dup);
            }
        }
    }
    s.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn mutated_recipes_never_panic(
        which in 0usize..3,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..8),
    ) {
        let source = ["recipes/digits_vit.deit", "recipes/deit_base_patch16_224.deit", "recipes/deit_base_distilled_patch16_384.deit"][which];
        let text = std::fs::read_to_string(source).expect("read");
        let mutated = mutate(&text, &ops);
        let dir = temp_dir("prop");
        // Keep the relative `extends` of the originals resolvable.
        for f in ["deit_base_patch16_224.deit", "deit_base_patch16_384.deit"] {
            std::fs::copy(Path::new("recipes").join(f), dir.join(f)).expect("copy");
        }
        let path = dir.join("m.deit");
        std::fs::write(&path, &mutated).expect("write");
        let p = path.to_string_lossy().into_owned();
        let (code, _, _) = run(&["check", &p]);
        prop_assert!(code <= 1);
        let (code, _, _) = run(&["explain", &p, "--format", "json"]);
        prop_assert!(code <= 1);
        let (code, _, _) = run(&["fmt", &p]);
        prop_assert!(code <= 1);
        // When it parsed, fmt wrote a canonical file: formatting again changes nothing.
        if code == 0 {
            let (again, stdout, _) = run(&["fmt", "--check", &p]);
            prop_assert_eq!((again, stdout.as_str()), (0, ""));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
