//! The exact kind and byte span of diagnostics for representative inputs, through the
//! library (`deitc::check::check`). Each test writes its recipe (and any bases) into its own
//! temporary folder, checks it, and asserts the kind, the offsets and the covered text.

use deitc::check::{check, Checked};
use deitc::diag::{Diag, ErrorKind, Severity};
use deitc::source::Span;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("deitc-spans-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a scratch folder");
        Scratch(dir)
    }

    fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A valid base recipe (125 bytes); cases extend it and add one mistake.
const BASE: &str = "model {\n    embed = 64\n    depth = 2\n    heads = 2\n}\n\
                    data {\n    train = synthetic()\n    val = synthetic()\n}\n\
                    train.batch = 64\n\
                    model.patch = 4\nmodel.image = 16\n\
                    augment.crop.kind = none\naugment.repeated = 1\n"; // compiled and trainable

/// Checks `files[0]` (with the others beside it) and `--set` overrides.
fn run(files: &[(&str, &str)], overrides: &[&str]) -> (Scratch, Checked) {
    let dir = Scratch::new();
    let paths: Vec<PathBuf> = files.iter().map(|(n, t)| dir.write(n, t)).collect();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let checked = check(
        &paths[0],
        &overrides,
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    (dir, checked)
}

/// Checks `main.deit` = `text`, next to `base.deit` = [`BASE`].
fn run_main(text: &str) -> (Scratch, Checked) {
    run(&[("main.deit", text), ("base.deit", BASE)], &[])
}

fn codes(c: &Checked) -> Vec<&'static str> {
    c.diags.items.iter().map(|d| d.code().as_str()).collect()
}

/// The only diagnostic.
fn only(c: &Checked) -> &Diag {
    assert_eq!(c.diags.items.len(), 1, "diagnostics: {:?}", codes(c));
    &c.diags.items[0]
}

/// A span as (file name without folder, start, end, covered text).
fn at(c: &Checked, s: Span) -> (String, u32, u32, &str) {
    let name = c.map.name(s.file);
    let short = Path::new(name)
        .file_name()
        .map_or(name.to_string(), |n| n.to_string_lossy().into_owned());
    (short, s.start, s.end, c.map.slice(s))
}

fn primary(c: &Checked, d: &Diag) -> (String, u32, u32, String) {
    let (f, s, e, text) = at(c, d.span().expect("a primary span"));
    (f, s, e, text.to_string())
}

fn main_at(start: u32, end: u32, text: &str) -> (String, u32, u32, String) {
    ("main.deit".to_string(), start, end, text.to_string())
}

#[test]
fn unknown_field_points_at_the_field_name() {
    let (_d, c) = run_main("extends \"base.deit\"\nmodel {\n    embd = 64\n}\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::UnknownField {
            block: "model".into(),
            name: "embd".into(),
            suggestion: Some("embed".into()),
        }
    );
    assert_eq!(primary(&c, d), main_at(32, 36, "embd"));
}

#[test]
fn unknown_block_points_at_the_block_name() {
    let (_d, c) = run_main("extends \"base.deit\"\n\nmodle {\n    depth = 3\n}\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::UnknownBlock {
            name: "modle".into(),
            suggestion: Some("model".into()),
        }
    );
    assert_eq!(primary(&c, d), main_at(21, 26, "modle"));
}

#[test]
fn syntax_error_points_at_the_unexpected_token() {
    let (_d, c) = run_main("model {\n    embed = }\n");
    let d = only(&c);
    assert!(
        matches!(&d.kind, ErrorKind::Syntax { found, cli: false, .. } if found == "`}`"),
        "{:?}",
        d.kind
    );
    assert_eq!(primary(&c, d), main_at(20, 21, "}"));
}

#[test]
fn syntax_error_at_the_end_of_input_points_at_the_last_token() {
    let text = "train.batch = 64 *\n";
    let (_d, c) = run_main(text);
    let d = only(&c);
    assert!(
        matches!(&d.kind, ErrorKind::Syntax { found, cli: false, .. } if found == "end of input"),
        "{:?}",
        d.kind
    );
    // The span falls back to the last character so that the label has something to
    // underline (not the final newline).
    assert_eq!(primary(&c, d), main_at(17, 18, "*"));
    assert_eq!(text.len(), 19);
}

#[test]
fn positions_are_bytes_not_characters() {
    // `é` is two bytes in UTF-8: the span after it is in bytes.
    let (_d, c) = run_main("extends \"base.deit\"\n// café\nmodel.dpth = 3\n");
    let d = only(&c);
    assert!(
        matches!(&d.kind, ErrorKind::UnknownField { name, .. } if name == "dpth"),
        "{:?}",
        d.kind
    );
    assert_eq!(primary(&c, d), main_at(35, 39, "dpth"));
}

#[test]
fn too_deep_points_at_the_first_bracket_over_the_limit() {
    let text = format!(
        "model {{\n    embed = {}64{}\n}}\n",
        "(".repeat(64),
        ")".repeat(64)
    );
    let (_d, c) = run_main(&text);
    let d = only(&c);
    assert_eq!(d.kind, ErrorKind::TooDeep { max: 64 });
    // `{` is level 1, so the 64th `(` (at 20 + 63) opens level 65.
    assert_eq!(primary(&c, d), main_at(83, 84, "("));
}

#[test]
fn bad_number_covers_the_literal() {
    let (_d, c) = run_main("extends \"base.deit\"\ntrain.seed = 99999999999999999999\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::BadNumber {
            text: "99999999999999999999".into()
        }
    );
    assert_eq!(primary(&c, d), main_at(33, 53, "99999999999999999999"));
}

#[test]
fn duplicate_field_points_at_the_second_path_and_the_first_statement() {
    let (_d, c) = run_main("extends \"base.deit\"\ntrain.seed = 1 // one\ntrain.seed = 2\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::DuplicateField {
            path: "train.seed".into()
        }
    );
    assert_eq!(primary(&c, d), main_at(42, 52, "train.seed"));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(d.secondary[0].text, "first set here");
    // The statement ends at its value: the trailing comment is not part of it.
    assert_eq!(
        at(&c, d.secondary[0].span),
        ("main.deit".into(), 20, 34, "train.seed = 1")
    );
}

#[test]
fn type_mismatch_covers_the_value() {
    let (_d, c) = run_main("extends \"base.deit\"\ntrain.seed = \"zero\"\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::TypeMismatch {
            path: "train.seed".into(),
            expected: "a whole number".into(),
            found: "a string".into(),
        }
    );
    assert_eq!(primary(&c, d), main_at(33, 39, "\"zero\""));
}

#[test]
fn unknown_variant_covers_the_name() {
    let (_d, c) = run_main("extends \"base.deit\"\noptimizer {\n    kind = adam\n}\n");
    let d = only(&c);
    assert!(
        matches!(
            &d.kind,
            ErrorKind::UnknownVariant { path, value, suggestion: Some(s), .. }
                if path == "optimizer.kind" && value == "adam" && s == "adamw"
        ),
        "{:?}",
        d.kind
    );
    assert_eq!(primary(&c, d), main_at(43, 47, "adam"));
}

#[test]
fn missing_unit_covers_the_number() {
    let (_d, c) = run_main("extends \"base.deit\"\nschedule.length = 300 // epochs?\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::MissingUnit {
            path: "schedule.length".into(),
            value: "300".into(),
            units: "epochs".into(),
        }
    );
    assert_eq!(primary(&c, d), main_at(38, 41, "300"));
}

#[test]
fn a_quantity_span_ends_at_its_unit() {
    // `150%` is out of range for a probability; the span is the number and the unit, not
    // the whitespace or comment after them.
    let (_d, c) = run_main("extends \"base.deit\"\naugment.hflip = 150%   // too much\n");
    let d = only(&c);
    assert!(
        matches!(&d.kind, ErrorKind::OutOfRange { path, value, .. }
            if path == "augment.hflip" && value == "150%"),
        "{:?}",
        d.kind
    );
    assert_eq!(primary(&c, d), main_at(36, 40, "150%"));
}

#[test]
fn not_integer_covers_the_whole_expression() {
    let (_d, c) = run_main("extends \"base.deit\"\nmodel.heads = model.embed / 100\n");
    assert_eq!(codes(&c), ["deit::value::not_integer"]);
    let d = &c.diags.items[0];
    assert_eq!(
        d.kind,
        ErrorKind::NotInteger {
            path: "model.heads".into(),
            value: "0.64".into(),
        }
    );
    assert_eq!(primary(&c, d), main_at(34, 51, "model.embed / 100"));
    // The value it replaced, in the base.
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(d.secondary[0].text, "overrides the value set here");
    assert_eq!(
        at(&c, d.secondary[0].span),
        ("base.deit".into(), 41, 50, "heads = 2")
    );
}

#[test]
fn empty_range_covers_the_range() {
    let (_d, c) = run_main("extends \"base.deit\"\naugment.crop.scale = 1.0..0.08\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::EmptyRange {
            path: "augment.crop.scale".into(),
            lo: "1.0".into(),
            hi: "0.08".into(),
        }
    );
    assert_eq!(primary(&c, d), main_at(41, 50, "1.0..0.08"));
}

#[test]
fn unknown_reference_covers_the_reference_inside_the_expression() {
    let (_d, c) = run_main("extends \"base.deit\"\noptimizer.lr = 5e-4 * train.bach / 512\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::UnknownReference {
            path: "train.bach".into(),
            suggestion: Some("train.batch".into()),
        }
    );
    assert_eq!(primary(&c, d), main_at(42, 52, "train.bach"));
}

#[test]
fn reference_cycle_points_at_the_reference_that_closes_it() {
    let (_d, c) = run_main(
        "extends \"base.deit\"\nmodel.embed = model.heads * 32\nmodel.heads = model.embed / 32\n",
    );
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::ReferenceCycle {
            chain: vec![
                "model.embed".into(),
                "model.heads".into(),
                "model.embed".into()
            ],
        }
    );
    assert_eq!(primary(&c, d), main_at(65, 76, "model.embed"));
}

#[test]
fn division_by_zero_points_at_the_divisor() {
    let (_d, c) = run_main("extends \"base.deit\"\noptimizer.lr = 1 / 0\n");
    let d = only(&c);
    assert_eq!(d.kind, ErrorKind::DivisionByZero);
    assert_eq!(primary(&c, d), main_at(39, 40, "0"));
}

#[test]
fn unknown_function_covers_the_function_name() {
    let (_d, c) = run_main("extends \"base.deit\"\ndata.train = image_foldr(\"x\")\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::UnknownFunction {
            name: "image_foldr".into(),
            suggestion: Some("image_folder".into()),
        }
    );
    assert_eq!(primary(&c, d), main_at(33, 44, "image_foldr"));
}

#[test]
fn a_set_error_points_into_its_cli_source() {
    let (_d, c) = run(&[("main.deit", BASE)], &["train.seed=1", "train.bach=32"]);
    let d = only(&c);
    assert!(
        matches!(&d.kind, ErrorKind::UnknownField { block, name, suggestion: Some(s) }
            if block == "train" && name == "bach" && s == "batch"),
        "{:?}",
        d.kind
    );
    assert_eq!(primary(&c, d), ("<cli:2>".into(), 6, 10, "bach".into()));
}

#[test]
fn a_set_value_error_notes_the_file_value_it_overrides() {
    let (_d, c) = run(&[("main.deit", BASE)], &["model.heads=5"]);
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::EmbedHeads {
            embed: 64,
            heads: 5
        }
    );
    assert_eq!(primary(&c, d), ("<cli:1>".into(), 12, 13, "5".into()));
    let notes: Vec<_> = d
        .secondary
        .iter()
        .map(|l| (l.text.as_str(), at(&c, l.span)))
        .collect();
    assert_eq!(
        notes,
        [
            ("embed 64", ("main.deit".into(), 20, 22, "64")),
            (
                "overrides the value set here",
                ("main.deit".into(), 41, 50, "heads = 2")
            ),
        ]
    );
}

#[test]
fn an_error_in_a_base_notes_the_extends_that_pulled_it_in() {
    let base = "extends \"base.deit\"\noptimizer.kind = adam\n";
    let (_d, c) = run(
        &[
            ("main.deit", "extends \"mid.deit\"\ntrain.seed = 1\n"),
            ("mid.deit", base),
            ("base.deit", BASE),
        ],
        &[],
    );
    let d = only(&c);
    assert!(
        matches!(&d.kind, ErrorKind::UnknownVariant { value, .. } if value == "adam"),
        "{:?}",
        d.kind
    );
    assert_eq!(primary(&c, d), ("mid.deit".into(), 37, 41, "adam".into()));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(
        d.secondary[0].text,
        format!(
            "inherited from `{}` through this `extends`",
            c.map.name(d.span().expect("span").file)
        )
    );
    assert_eq!(
        at(&c, d.secondary[0].span),
        ("main.deit".into(), 8, 18, "\"mid.deit\"")
    );
}

#[test]
fn an_extends_cycle_points_at_the_extends_that_closes_it() {
    let (_d, c) = run(
        &[
            ("a.deit", "extends \"b.deit\"\n"),
            ("b.deit", "// b\nextends \"c.deit\"\n"),
            ("c.deit", "extends \"a.deit\"\n"),
        ],
        &[],
    );
    let d = only(&c);
    let ErrorKind::ExtendsCycle { chain } = &d.kind else {
        panic!("{:?}", d.kind)
    };
    let names: Vec<&str> = chain
        .iter()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .collect();
    assert_eq!(names, ["a.deit", "b.deit", "c.deit", "a.deit"]);
    assert_eq!(
        primary(&c, d),
        ("c.deit".into(), 8, 16, "\"a.deit\"".into())
    );
}

#[test]
fn a_missing_base_points_at_its_extends_and_a_missing_root_at_nothing() {
    let (_d, c) = run(&[("main.deit", "// x\nextends \"nope.deit\"\n")], &[]);
    let d = only(&c);
    assert!(
        matches!(&d.kind, ErrorKind::BaseNotFound { path } if path.ends_with("nope.deit")),
        "{:?}",
        d.kind
    );
    assert_eq!(primary(&c, d), main_at(13, 24, "\"nope.deit\""));

    let dir = Scratch::new();
    let c = check(
        &dir.0.join("absent.deit"),
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    let d = only(&c);
    assert!(matches!(d.kind, ErrorKind::FileNotFound { .. }));
    assert_eq!(d.span(), None);
}

#[test]
fn rule_errors_point_at_the_values_involved() {
    let (_d, c) = run(
        &[(
            "main.deit",
            "model {\n    embed = 64\n    depth = 2\n    heads = 5\n}\n\
             data {\n    train = synthetic()\n    val = synthetic()\n}\n\
             train.batch = 64\n",
        )],
        &[],
    );
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::EmbedHeads {
            embed: 64,
            heads: 5
        }
    );
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(primary(&c, d), main_at(49, 50, "5"));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(d.secondary[0].text, "embed 64");
    assert_eq!(
        at(&c, d.secondary[0].span),
        ("main.deit".into(), 20, 22, "64")
    );
}

#[test]
fn a_lint_is_a_warning_at_its_field() {
    let (_d, c) = run_main("extends \"base.deit\"\nmodel.distilled = true\n");
    let d = only(&c);
    assert_eq!(d.kind, ErrorKind::DistHeadUntrained);
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(primary(&c, d), main_at(38, 42, "true"));
    assert!(c.ok(), "a warning does not fail the check");
}

/// Checks `main.deit` = `text` next to [`BASE`], as `deitc run --device <device>` does.
fn run_on(text: &str, device: deitc::ir::Device) -> (Scratch, Checked) {
    let dir = Scratch::new();
    let main = dir.write("main.deit", text);
    dir.write("base.deit", BASE);
    let facts = deitc::check::BuildFacts {
        device: Some(device),
        ..deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled())
    };
    let checked = check(&main, &[], &facts);
    (dir, checked)
}

#[test]
fn a_reduced_precision_on_the_cpu_warns_at_the_value_and_the_device() {
    let (_d, c) =
        run_main("extends \"base.deit\"\ntrain {\n    device = cpu\n    precision = bf16\n}\n");
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::PrecisionFallback {
            precision: "bf16".into()
        }
    );
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(primary(&c, d), main_at(61, 65, "bf16"));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(d.secondary[0].text, "training on the CPU");
    assert_eq!(
        at(&c, d.secondary[0].span),
        ("main.deit".into(), 41, 44, "cpu")
    );
    assert!(c.ok(), "a warning does not fail the check");
}

#[test]
fn device_on_the_command_line_decides_the_precision_warning() {
    let cuda = "extends \"base.deit\"\ntrain {\n    device = cuda\n    precision = bf16\n}\n";
    // `--device cpu` on a CUDA recipe: the fp32 fallback, and no word of CUDA.
    let (_d, c) = run_on(cuda, deitc::ir::Device::Cpu);
    let d = only(&c);
    assert_eq!(
        d.kind,
        ErrorKind::PrecisionFallback {
            precision: "bf16".into()
        }
    );
    assert_eq!(primary(&c, d), main_at(62, 66, "bf16"));
    assert!(d.secondary.is_empty(), "{:?}", d.secondary);

    // `--device cuda` on a CPU recipe: bf16 and tf32 both train there (bf16 operands,
    // TF32 tensor cores), so neither the fallback nor anything else is said.
    let cpu = "extends \"base.deit\"\ntrain.precision = bf16\n";
    let (_d, c) = run_on(cpu, deitc::ir::Device::Cuda);
    assert!(c.diags.items.is_empty(), "{:?}", codes(&c));
    let tf32 = "extends \"base.deit\"\ntrain.precision = tf32\n";
    let (_d, c) = run_on(tf32, deitc::ir::Device::Cuda);
    assert!(c.diags.items.is_empty(), "{:?}", codes(&c));
}

#[test]
fn origins_cover_whole_statements_without_trailing_comments() {
    let (_d, c) = run_main("extends \"base.deit\"\nmodel {\n    depth = 4 // deeper\n}\n");
    assert!(c.ok(), "{:?}", codes(&c));
    let depth = c.origins["model.depth"];
    assert_eq!(at(&c, depth), ("main.deit".into(), 32, 41, "depth = 4"));
    let embed = c.origins["model.embed"];
    assert_eq!(at(&c, embed), ("base.deit".into(), 12, 22, "embed = 64"));
}
