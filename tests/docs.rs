//! The docs cover what the code offers: every schema field is in the language reference.

use deitc::check::schema::{BLOCKS, FIELDS};

#[test]
fn language_reference_lists_every_field_and_block() {
    let doc = std::fs::read_to_string("docs/language.md").expect("docs/language.md");
    let missing: Vec<&str> = FIELDS
        .iter()
        .map(|f| f.path)
        .chain(BLOCKS.iter().map(|b| b.path))
        .filter(|p| !doc.contains(&format!("`{p}`")))
        .collect();
    assert!(missing.is_empty(), "not in docs/language.md: {missing:?}");
}

#[test]
fn readme_names_the_commands_ci_runs() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let ci = std::fs::read_to_string(".ci/run").expect(".ci/run");
    for command in [
        "cargo test",
        "cargo run --release -- run recipes/digits_deit_distilled.deit",
    ] {
        assert!(readme.contains(command), "README lacks `{command}`");
        assert!(ci.contains(command), ".ci/run lacks `{command}`");
    }
}

#[test]
fn every_rendered_example_in_the_diagnostics_page_matches_a_snapshot() {
    // Two examples are shortened by hand (a generated 1 MiB path, a 257-term sum).
    let hand_made = ["deit::io::too_large", "deit::syntax::too_complex"];
    let doc = std::fs::read_to_string("docs/diagnostics.md").expect("docs/diagnostics.md");
    let norm = |t: &str| {
        t.trim_matches('\n')
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let snapshots: Vec<String> = std::fs::read_dir("tests/ui/snapshots")
        .expect("snapshots")
        .flatten()
        .map(|e| norm(&std::fs::read_to_string(e.path()).unwrap_or_default()))
        .collect();
    let mut stale = Vec::new();
    for block in doc
        .split("```text\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
    {
        let block = norm(block);
        let first = block.lines().next().unwrap_or_default();
        if !hand_made.contains(&first) && !snapshots.iter().any(|s| s.contains(&block)) {
            stale.push(first.to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "examples that no snapshot shows any more: {stale:?}"
    );
}
