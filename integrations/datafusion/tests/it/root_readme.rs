//! The repository README shows this crate's SQL example as plain text (the
//! engine's doctests could not compile it: they have no DataFusion); every line of it
//! must be a line of this crate's README example, which runs as a doctest here.

use std::path::Path;

/// The lines of the first fenced block that starts with `fence` in `text` after
/// `after`.
fn block<'a>(text: &'a str, after: &str, fence: &str) -> Vec<&'a str> {
    let from = text.find(after).unwrap_or_else(|| panic!("no {after:?}"));
    let text = &text[from..];
    let start = text.find(fence).unwrap_or_else(|| panic!("no {fence:?} block"));
    let body = &text[start + fence.len()..];
    let end = body.find("\n```").expect("a closing fence");
    body[..end].lines().filter(|l| !l.trim().is_empty()).collect()
}

#[test]
fn the_root_readme_sql_example_is_the_tested_one() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = std::fs::read_to_string(here.join("../../README.md")).unwrap();
    let ours = std::fs::read_to_string(here.join("README.md")).unwrap();
    let shown = block(&root, "SQL over a live log, from Rust", "```text\n");
    let tested = block(&ours, "", "```rust\n");
    assert!(shown.len() >= 10, "the root README's SQL example is too short: {shown:?}");
    for line in &shown {
        assert!(tested.contains(line), "the root README shows a line the tested example lacks: {line:?}");
    }
}
