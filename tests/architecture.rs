//! The crate graph is the architecture (docs/architecture.md): each phase is a crate, and
//! dependencies point one way. This test reads the resolved graph from `cargo metadata`
//! and the `use` lines of each crate's source, so that a new edge against the direction
//! fails here rather than going unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The workspace crates and the workspace crates each may depend on (directly or not).
const ALLOWED: &[(&str, &[&str])] = &[
    ("deitc-diag", &[]),
    ("deitc-kernels", &[]),
    ("deitc-ir", &[]),
    ("deitc-layout", &["deitc-ir"]),
    ("deitc-lang", &["deitc-diag", "deitc-ir", "deitc-layout"]),
    // The language server: the front end only, never the back end.
    (
        "deitc-lsp",
        &["deitc-diag", "deitc-ir", "deitc-layout", "deitc-lang"],
    ),
    // The back end and the language are siblings: neither names the other.
    (
        "deitc-backend",
        &["deitc-diag", "deitc-kernels", "deitc-ir", "deitc-layout"],
    ),
    (
        "deitc",
        &[
            "deitc-diag",
            "deitc-kernels",
            "deitc-ir",
            "deitc-layout",
            "deitc-lang",
            "deitc-lsp",
            "deitc-backend",
        ],
    ),
];

/// Crates of the back end that the language crates must never pull in, even indirectly.
const BACK_END: &[&str] = &[
    "dfdx",
    "gemm",
    "image",
    "safetensors",
    "cudarc",
    "deitc-kernels",
    "deitc-backend",
];

/// `name -> names of its normal (non-dev, non-build) dependencies`, for every package.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    // This machine's platform only: other platforms' crates may not be downloaded.
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    let info = String::from_utf8_lossy(&rustc.stdout);
    let host = info
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc names its host");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .filter_map(|n| {
            let name = names.get(n["id"].as_str()?)?.to_string();
            let deps = n["deps"]
                .as_array()?
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .is_some_and(|ks| ks.iter().any(|k| k["kind"].is_null()))
                })
                .filter_map(|d| names.get(d["pkg"].as_str()?).map(|s| s.to_string()))
                .collect();
            Some((name, deps))
        })
        .collect()
}

/// Every package `name` depends on, directly or not.
fn closure(g: &BTreeMap<String, BTreeSet<String>>, name: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        for d in g.get(&n).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn workspace_crates_depend_only_downwards() {
    let g = graph();
    let ours: BTreeSet<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
    for (name, allowed) in ALLOWED {
        let reached = closure(&g, name);
        let wrong: Vec<&String> = reached
            .iter()
            .filter(|d| ours.contains(d.as_str()) && !allowed.contains(&d.as_str()))
            .collect();
        assert!(wrong.is_empty(), "{name} depends on {wrong:?}");
    }
}

#[test]
fn the_language_needs_no_back_end() {
    let g = graph();
    // The graph is read: the back end does reach dfdx (so an empty graph cannot pass).
    assert!(closure(&g, "deitc-backend").contains("dfdx"));
    for name in [
        "deitc-diag",
        "deitc-ir",
        "deitc-layout",
        "deitc-lang",
        "deitc-lsp",
    ] {
        let reached = closure(&g, name);
        let wrong: Vec<&&str> = BACK_END.iter().filter(|b| reached.contains(**b)).collect();
        assert!(wrong.is_empty(), "{name} pulls in {wrong:?}");
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read source dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_source_line_names_a_crate_above_its_own() {
    // The crate folder, and the crate paths its source must not name.
    let rules: &[(&str, &[&str])] = &[
        (
            "crates/diag/src",
            &[
                "deitc_ir",
                "deitc_layout",
                "deitc_lang",
                "deitc_backend",
                "dfdx",
                "deitc::",
            ],
        ),
        (
            "crates/kernels/src",
            &[
                "deitc_diag",
                "deitc_ir",
                "deitc_layout",
                "deitc_lang",
                "deitc_backend",
                "dfdx",
                "deitc::",
            ],
        ),
        (
            "crates/ir/src",
            &[
                "deitc_layout",
                "deitc_lang",
                "deitc_backend",
                "dfdx",
                "deitc::",
            ],
        ),
        (
            "crates/layout/src",
            &["deitc_lang", "deitc_backend", "dfdx", "deitc::"],
        ),
        (
            "crates/lang/src",
            &["deitc_backend", "dfdx", "gemm", "image::", "deitc::"],
        ),
        ("crates/backend/src", &["deitc_lang", "deitc::"]),
        (
            "crates/lsp/src",
            &["deitc_backend", "dfdx", "gemm", "image::", "deitc::"],
        ),
    ];
    let mut wrong = Vec::new();
    for (dir, banned) in rules {
        let mut files = Vec::new();
        sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut files);
        assert!(!files.is_empty(), "no sources under {dir}");
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read source");
            for (i, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                if let Some(b) = banned.iter().find(|b| code.contains(**b)) {
                    wrong.push(format!("{}:{}: names `{b}`: {code}", f.display(), i + 1));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_run_time_type_dispatch() {
    // Kernels are picked by trait implementation (`Kernels`, `Backend`), never by asking a
    // value or a type parameter what it is. (A caught panic's payload is read with
    // `downcast_ref`, which is not dispatch.)
    let banned = ["TypeId", "as_any", "dyn Any", "downcast_mut"];
    let mut wrong = Vec::new();
    for dir in ["crates", "src"] {
        let mut files = Vec::new();
        sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read source");
            // Unit tests sit at the end of a file, after `#[cfg(test)]`.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (i, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                if let Some(b) = banned.iter().find(|b| line.contains(**b)) {
                    wrong.push(format!("{}:{}: `{b}`: {line}", f.display(), i + 1));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "run-time type dispatch:\n{}",
        wrong.join("\n")
    );
}
