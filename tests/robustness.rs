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

/// A FIFO at `path` (`mkfifo`), or false where there is none.
fn mkfifo(path: &Path) -> bool {
    std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

/// FIFOs, devices and symlinks to them are refused from their metadata: none of these
/// calls may block (a FIFO opened for reading waits for a writer) or read without end.
#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_without_being_opened() {
    let dir = temp_dir("special");
    let fifo = dir.join("pipe.deit");
    let zero = dir.join("zero.safetensors");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    let facts = deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled());
    let code = |p: &Path| check(p, &[], &facts).diags.items[0].code().as_str();
    assert_eq!(code(Path::new("/dev/zero")), "deit::io::not_regular");
    assert_eq!(code(&zero), "deit::io::not_regular");
    if mkfifo(&fifo) {
        assert_eq!(code(&fifo), "deit::io::not_regular");
        let w = deitc::interop::weights::read(&fifo, deitc::interop::weights::Pick::Model);
        assert!(w.is_err());
        let (c, _, err) = run(&[
            "eval",
            "tests/ui/run/support/tiny.deit",
            "--checkpoint",
            &fifo.to_string_lossy(),
        ]);
        assert_eq!(c, 1);
        assert!(err.contains("FIFO"), "{err}");
    }
    // An image folder whose "images" are a FIFO and a device: never listed, never opened.
    let class = dir.join("images/a");
    std::fs::create_dir_all(&class).expect("class folder");
    std::os::unix::fs::symlink("/dev/zero", class.join("zero.png")).expect("symlink");
    let _ = mkfifo(&class.join("pipe.png"));
    let e = deitc::data::image_folder::load(&dir.join("images"), 3, 8).expect_err("no image");
    assert!(
        matches!(e, deitc::data::DataError::EmptyClass { .. }),
        "{e}"
    );
    for bad in [class.join("zero.png"), class.join("pipe.png")] {
        if bad.exists() || bad.symlink_metadata().is_ok() {
            assert!(deitc::data::image_folder::decode(&bad, 3).is_err());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Trains `tests/ui/run/support/tiny.deit` for its one epoch under `out`; returns its
/// checkpoint.
fn trained_tiny(out: &Path) -> std::path::PathBuf {
    let set = format!("train.output=\"{}\"", out.display());
    let (code, _, err) = run(&[
        "run",
        "--quiet",
        "tests/ui/run/support/tiny.deit",
        "--set",
        &set,
    ]);
    assert_eq!(code, 0, "{err}");
    let ckpt = out.join("tiny/001/checkpoint.safetensors");
    assert!(ckpt.is_file(), "{}", ckpt.display());
    ckpt
}

/// `path` rewritten with `nan` NaN values at the start of `key`, its metadata kept.
fn poison(path: &Path, key: &str, nan: usize) {
    use deitc::train::tensor_io::{to_bytes, Named};
    let file = deitc::model::TensorFile::read(path).expect("checkpoint");
    let tensors: Vec<Named> = file
        .keys()
        .map(|k| {
            let (shape, mut data) = file.f32s(k).expect("f32");
            if k == key {
                data.iter_mut().take(nan).for_each(|v| *v = f32::NAN);
            }
            Named {
                name: k.to_string(),
                shape,
                data,
            }
        })
        .collect();
    let meta = file.metadata().clone().into_iter().collect();
    std::fs::write(path, to_bytes(&tensors, meta).expect("bytes")).expect("write");
}

/// A checkpoint whose weights hold NaN is refused by every loader, naming the tensor and
/// counting: `--resume`, `eval`, `export`, `finetune.from` and a teacher.
#[test]
fn nan_weights_are_refused_by_every_loader() {
    let dir = temp_dir("nan-weights");
    let ckpt = trained_tiny(&dir.join("runs"));
    poison(&ckpt, "model.pos_embed", 5);
    // Not finished: `--resume` loads the checkpoint (a finished run has nothing to resume).
    std::fs::remove_file(ckpt.with_file_name("summary.json")).expect("summary.json");
    let c = ckpt.to_string_lossy().into_owned();
    let set = format!("train.output=\"{}\"", dir.join("runs").display());
    let stops = |args: &[&str], code: &str| {
        let (exit, _, err) = run(args);
        assert_eq!(exit, 1, "{args:?}: {err}");
        assert!(err.contains(code), "{args:?}: {err}");
        assert!(
            err.contains("pos_embed") && err.contains("5 NaN of"),
            "{args:?}: {err}"
        );
    };
    stops(
        &[
            "run",
            "--quiet",
            "--resume",
            "tests/ui/run/support/tiny.deit",
            "--set",
            &set,
        ],
        "deit::interop::non_finite",
    );
    stops(
        &["eval", "tests/ui/run/support/tiny.deit", "--checkpoint", &c],
        "deit::interop::non_finite",
    );
    let out = dir.join("x.safetensors").to_string_lossy().into_owned();
    stops(
        &[
            "export",
            &c,
            "--recipe",
            "tests/ui/run/support/tiny.deit",
            "-o",
            &out,
        ],
        "deit::interop::non_finite",
    );
    let root = std::fs::canonicalize("tests/ui/run/support/tiny.deit").expect("tiny.deit");
    let finetune = dir.join("finetune.deit");
    std::fs::write(
        &finetune,
        format!("extends \"{}\"\nfinetune.from = \"{c}\"\n", root.display()),
    )
    .expect("write");
    let f = finetune.to_string_lossy().into_owned();
    stops(
        &["run", "--quiet", &f, "--set", &set],
        "deit::interop::non_finite",
    );
    let teacher = dir.join("teacher.deit");
    std::fs::write(
        &teacher,
        format!(
            "extends \"{}\"\nmodel.distilled = true\ndistill {{\n    mode = hard\n    teacher {{\n        arch = deit\n        recipe = \"{}\"\n        checkpoint = \"{c}\"\n    }}\n}}\n",
            root.display(),
            root.display()
        ),
    )
    .expect("write");
    let t = teacher.to_string_lossy().into_owned();
    stops(&["run", "--quiet", &t, "--set", &set], "deit::run::teacher");
    let _ = std::fs::remove_dir_all(&dir);
}

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

/// Mutated recipes per run: 160, or `DEITC_FUZZ_CASES` for a longer run (as the binary
/// readers' harness, tests/fuzz_readers.rs).
fn recipe_cases() -> u32 {
    std::env::var("DEITC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(160)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: recipe_cases(), ..ProptestConfig::default() })]

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
