//! Generated graphs: a model shape that is not in the compiled-in
//! [`catalogue`](crate::train::catalogue) gets a small crate of its own, built once with cargo and
//! cached, and `deitc run`/`eval`/`bench` hand the command over to its binary.
//!
//! The crate is one `main.rs`: it installs deitc's allocator, adds each missing shape to a
//! [`Registry`] with [`register_deit!`](crate::register_deit) or
//! [`register_convnet!`](crate::register_convnet) (the very lines the compiled-in catalogue
//! is written in, with the recipe's constants), and runs deitc's ordinary command line with
//! that registry (`cli::main_with`). It
//! depends on this deitc's own source ([`source_dir`]) without the catalogue feature, so
//! only its own shapes are compiled.
//!
//! Layout under the cache ([`cache_root`]: `$DEITC_CACHE`, else the user's cache dir):
//! `graphs/<key>/` holds each crate (`Cargo.toml`, `main.rs`, `shape.txt`) and
//! `target/` is the one target dir they share, so dependencies compile once. The key
//! hashes the shapes, deitc's version, the features and the source path: a second run of
//! the same shape starts at once.
//!
//! This is the one home of cargo, the cache and the environment variables they use.

mod error;

pub use error::GenerateError;

use crate::ir::{DistillMode, Model, Recipe, Shape};
use crate::train::catalogue::Registry;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in a generated graph's environment, so it never hands over again.
pub const ENV_GENERATED: &str = "DEITC_GENERATED";

/// A generated graph: its shapes and where its crate and binary live.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub shapes: Vec<Shape>,
    /// Hash of the shapes, version, features and source.
    pub key: String,
    /// The crate.
    pub dir: PathBuf,
    /// The shared target dir.
    pub target: PathBuf,
    /// The built binary.
    pub bin: PathBuf,
}

impl Plan {
    /// Whether the binary is already built.
    pub fn is_built(&self) -> bool {
        self.bin.is_file()
    }

    /// "embed 192 · 65 tokens · 100 classes", the shapes in words.
    pub fn describe(&self) -> String {
        self.shapes
            .iter()
            .map(Shape::to_string)
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// The graph shape of `m`, or why none can be generated.
pub fn shape_of(m: &Model) -> Result<Shape, GenerateError> {
    let shape = Shape::of(m);
    if !m.is_transformer() || m.qkv_bias {
        return Ok(shape);
    }
    Err(GenerateError::Unsupported {
        shape: shape.to_string(),
        reason: "`model.qkv_bias = false`".into(),
    })
}

/// The shapes `recipe` needs that this process has no graph for: the model's, and the
/// teacher's (from its recipe) when distilling. Empty when everything is compiled in.
pub fn missing(recipe: &Recipe, graphs: &Registry) -> Result<Vec<Shape>, GenerateError> {
    let mut models = vec![recipe.model.clone()];
    if recipe.distill.mode != DistillMode::None {
        if let Some(tr) = recipe
            .distill
            .teacher
            .as_ref()
            .and_then(|t| t.checked_recipe())
        {
            models.push(tr.model.clone());
        }
    }
    let mut shapes = Vec::new();
    for m in models.iter().filter(|m| !graphs.has(m)) {
        let s = shape_of(m)?;
        if !shapes.contains(&s) {
            shapes.push(s);
        }
    }
    Ok(shapes)
}

/// Where generated graphs are cached: `$DEITC_CACHE`, else `$XDG_CACHE_HOME/deitc`, else
/// `~/.cache/deitc`, else a folder in the temp dir.
pub fn cache_root() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("DEITC_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|p| p.join("deitc")))
        .or_else(|| var("HOME").map(|p| p.join(".cache/deitc")))
        .unwrap_or_else(|| std::env::temp_dir().join("deitc-cache"))
}

/// deitc's source, which a generated crate depends on: `$DEITC_SOURCE`, else the folder
/// this binary was built from.
pub fn source_dir() -> Result<PathBuf, GenerateError> {
    let dir = std::env::var_os("DEITC_SOURCE")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    if manifest.contains("name = \"deitc\"") && dir.join("src/lib.rs").is_file() {
        Ok(dir)
    } else {
        Err(GenerateError::Source {
            path: dir.display().to_string(),
        })
    }
}

/// The cargo to run: `$DEITC_CARGO`, else `$CARGO` (set under cargo), else `cargo`.
pub fn cargo() -> String {
    ["DEITC_CARGO", "CARGO"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "cargo".into())
}

/// Whether cargo runs; its version line, or why not.
pub fn cargo_version() -> Result<String, GenerateError> {
    let cargo = cargo();
    let fail = |message: String| GenerateError::NoCargo {
        cargo: cargo.clone(),
        message,
    };
    let out = Command::new(&cargo)
        .arg("--version")
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(format!("`{cargo} --version` failed")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The features a generated graph is built with: this build's, less the catalogue.
fn features() -> Vec<&'static str> {
    let mut f = Vec::new();
    if cfg!(feature = "cuda") {
        f.push("cuda");
    }
    f
}

/// FNV-1a 64, as hex.
fn hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The plan for `shapes` under `root` against the source in `source`.
pub fn plan(shapes: Vec<Shape>, root: &Path, source: &Path) -> Plan {
    let key = hash(&format!(
        "{shapes:?} {} {:?} {}",
        env!("CARGO_PKG_VERSION"),
        features(),
        source.display()
    ));
    let target = root.join("target");
    let bin = target
        .join("release")
        .join(format!("deitc-graph-{key}{}", std::env::consts::EXE_SUFFIX));
    Plan {
        shapes,
        dir: root.join("graphs").join(&key),
        key,
        target,
        bin,
    }
}

/// The `register_…!` line of one shape.
fn register_line(s: &Shape) -> String {
    match s {
        Shape::Deit(s) => format!(
            "deitc::register_deit!(graphs, patch {}, image {}, channels {}, embed {}, depth {}, heads {}, mlp {}, classes {}, {});",
            s.patch,
            s.image,
            s.channels,
            s.embed,
            s.depth,
            s.heads,
            s.mlp,
            s.classes,
            if s.distilled { "distilled" } else { "plain" }
        ),
        Shape::Convnet(s) => format!(
            "deitc::register_convnet!(graphs, image {}, channels {}, width {}, classes {});",
            s.image, s.channels, s.width, s.classes
        ),
    }
}

/// Writes the crate of `plan` (idempotent).
pub fn write_crate(plan: &Plan, source: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(&plan.dir)?;
    let source = source.display().to_string().replace('\\', "/");
    let manifest = format!(
        "# Generated by deitc {version} for {what}.\n\
         # Rebuilt by `deitc build`; removed by `deitc cache clean`.\n\
         [package]\nname = \"deitc-graph-{key}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [[bin]]\nname = \"deitc-graph-{key}\"\npath = \"main.rs\"\n\n\
         [dependencies]\ndeitc = {{ path = {source:?}, default-features = false }}\n\n\
         # deitc's vendored dfdx (vendor/dfdx/PATCHES.md), as in its own workspace.\n\
         [patch.crates-io]\ndfdx = {{ path = {vendored:?} }}\n\n\
         [features]\ncuda = [\"deitc/cuda\"]\n\n\
         [profile.release]\ndebug = false\n\n\
         [workspace]\n",
        version = env!("CARGO_PKG_VERSION"),
        what = plan.describe(),
        key = plan.key,
        vendored = format!("{source}/vendor/dfdx"),
    );
    let lines: Vec<String> = plan.shapes.iter().map(register_line).collect();
    let main = format!(
        "//! A deitc graph for {what}: deitc's command line with these shapes registered.\n\n\
         #[global_allocator]\nstatic GLOBAL: deitc::memory::MiMalloc = deitc::memory::MiMalloc;\n\n\
         fn main() -> std::process::ExitCode {{\n    deitc::memory::keep_freed_memory();\n    let mut graphs = deitc::train::catalogue::Registry::compiled();\n    {lines}\n    deitc::cli::main_with(&graphs)\n}}\n",
        what = plan.describe(),
        lines = lines.join("\n    "),
    );
    write_if_changed(&plan.dir.join("Cargo.toml"), &manifest)?;
    write_if_changed(&plan.dir.join("main.rs"), &main)?;
    write_if_changed(
        &plan.dir.join("shape.txt"),
        &format!("{}\n", plan.describe()),
    )?;
    // The same dependency versions as this deitc was built with.
    let lock = Path::new(&source).join("Cargo.lock");
    if lock.is_file() && !plan.dir.join("Cargo.lock").exists() {
        std::fs::copy(lock, plan.dir.join("Cargo.lock"))?;
    }
    Ok(())
}

fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text)
}

/// Builds `plan`'s binary with cargo (release, the shared target dir); cargo's errors come
/// back in the diagnostic. `on_line` sees cargo's progress lines ("Compiling dfdx …").
pub fn build(plan: &Plan, on_line: &mut dyn FnMut(&str)) -> Result<(), GenerateError> {
    let source = source_dir()?;
    cargo_version()?;
    let fail = |message: String| GenerateError::Build {
        shape: plan.describe(),
        message,
    };
    write_crate(plan, &source).map_err(|e| fail(format!("writing {}: {e}", plan.dir.display())))?;
    let mut cmd = Command::new(cargo());
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(plan.dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&plan.target)
        .arg("--color")
        .arg("never")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let f = features();
    if !f.is_empty() {
        cmd.arg("--features").arg(f.join(","));
    }
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    let mut log = Vec::new();
    if let Some(err) = child.stderr.take() {
        use std::io::BufRead;
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            on_line(line.trim());
            log.push(line);
        }
    }
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if status.success() && plan.is_built() {
        return Ok(());
    }
    Err(fail(cargo_errors(&log)))
}

/// The error part of cargo's output (from the first `error` line, at most 40 lines), or
/// its last lines.
fn cargo_errors(log: &[String]) -> String {
    let start = log
        .iter()
        .position(|l| l.starts_with("error"))
        .unwrap_or(log.len().saturating_sub(20));
    let mut lines: Vec<&str> = log[start..].iter().map(String::as_str).take(40).collect();
    if lines.is_empty() {
        lines.push("cargo failed without output");
    }
    lines.join("\n")
}

/// The generated graphs in the cache: `(key, shapes in words, built)`.
pub fn list(root: &Path) -> Vec<(String, String, bool)> {
    let Ok(rd) = std::fs::read_dir(root.join("graphs")) else {
        return Vec::new();
    };
    let mut v: Vec<(String, String, bool)> = rd
        .flatten()
        .map(|e| {
            let key = e.file_name().to_string_lossy().into_owned();
            let what = std::fs::read_to_string(e.path().join("shape.txt"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".into());
            let bin = root
                .join("target/release")
                .join(format!("deitc-graph-{key}{}", std::env::consts::EXE_SUFFIX));
            (key, what, bin.is_file())
        })
        .collect();
    v.sort();
    v
}

/// Runs the generated binary with `args` (the command line, without the program name),
/// passing stdin/stdout/stderr through; its exit code. Ctrl-C reaches both processes: this
/// one waits while the graph saves its checkpoint.
pub fn exec(plan: &Plan, args: &[std::ffi::OsString]) -> Result<u8, GenerateError> {
    let _ = ctrlc::set_handler(|| {});
    let status = Command::new(&plan.bin)
        .args(args)
        .env(ENV_GENERATED, &plan.key)
        .status()
        .map_err(|e| GenerateError::Build {
            shape: plan.describe(),
            message: format!("cannot start `{}`: {e}", plan.bin.display()),
        })?;
    Ok(status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(depth: usize) -> Shape {
        Shape::Deit(crate::ir::DeitShape {
            patch: 4,
            image: 16,
            channels: 3,
            embed: 64,
            depth,
            heads: 2,
            mlp: 256,
            classes: 10,
            distilled: false,
            qkv_bias: true,
        })
    }

    #[test]
    fn plans_are_keyed_by_shape_and_source() {
        let root = Path::new("/cache");
        let a = plan(vec![tiny(1)], root, Path::new("/src"));
        assert_eq!(a, plan(vec![tiny(1)], root, Path::new("/src")));
        assert_ne!(a.key, plan(vec![tiny(2)], root, Path::new("/src")).key);
        assert_ne!(a.key, plan(vec![tiny(1)], root, Path::new("/other")).key);
        assert_eq!(a.dir, root.join("graphs").join(&a.key));
        assert!(a.bin.starts_with("/cache/target/release"));
        assert_eq!(
            a.describe(),
            "DeiT embed 64 · depth 1 · 2 heads · mlp 256 · patch 4 · 16 px · 3 ch · 17 tokens · 10 classes"
        );
    }

    #[test]
    fn the_crate_registers_each_shape() {
        let dir = std::env::temp_dir().join(format!("deitc-gen-unit-{}", std::process::id()));
        let conv = Shape::Convnet(crate::ir::ConvShape {
            image: 8,
            channels: 1,
            width: 16,
            classes: 7,
        });
        let p = plan(vec![tiny(3), conv], &dir, Path::new("/src"));
        write_crate(&p, Path::new("/src")).expect("write");
        let main = std::fs::read_to_string(p.dir.join("main.rs")).expect("main.rs");
        assert!(main.contains(
            "deitc::register_deit!(graphs, patch 4, image 16, channels 3, embed 64, depth 3, heads 2, mlp 256, classes 10, plain);"
        ));
        assert!(main.contains(
            "deitc::register_convnet!(graphs, image 8, channels 1, width 16, classes 7);"
        ));
        assert!(main.contains("deitc::cli::main_with(&graphs)"));
        let manifest = std::fs::read_to_string(p.dir.join("Cargo.toml")).expect("Cargo.toml");
        assert!(manifest.contains("deitc = { path = \"/src\", default-features = false }"));
        assert!(manifest.contains("[patch.crates-io]\ndfdx = { path = \"/src/vendor/dfdx\" }"));
        assert!(manifest.contains(&format!("name = \"deitc-graph-{}\"", p.key)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cargo_errors_start_at_the_first_error() {
        let log: Vec<String> = [
            "   Compiling x",
            "warning: w",
            "error[E0308]: mismatched",
            "  --> a.rs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(cargo_errors(&log), "error[E0308]: mismatched\n  --> a.rs");
        assert_eq!(cargo_errors(&[]), "cargo failed without output");
    }
}
