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
        "cargo run --release -- run recipes/digits_vit.deit",
    ] {
        assert!(readme.contains(command), "README lacks `{command}`");
        assert!(ci.contains(command), ".ci/run lacks `{command}`");
    }
}
