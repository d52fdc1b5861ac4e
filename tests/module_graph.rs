//! The module graph of the engine (`src/`) and of the Python bindings
//! (`python-bindings/src/`, `python-bindings/slab/src/`) has no cycle, and no source file is over 600 lines.
//!
//! Nodes are file modules (`foo.rs` or `foo/mod.rs` is `foo`, `foo/bar.rs` is
//! `foo::bar`). A file has an edge to every module a `crate::…` or `super::…` path
//! in it (a `use` line or an inline path, tests included) names, resolved to the
//! longest prefix that is a file module. A module may use its own descendants (a
//! parent re-exports its rooms and drives them), so edges into one's own subtree
//! are not counted; every other edge must point one way: a cycle among the rest
//! fails the test with its members and their edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a source file may be, unit-test modules included.
const MAX_LINES: usize = 600;

/// Every `.rs` file under `root` as `(module path, text)`.
fn modules(root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            (parts.join("::"), std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The text without comments (line comments and doc comments), so that paths in
/// prose do not count.
fn code(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The paths after each `prefix` in `text`, with `{a, b::c}` groups expanded one level.
fn paths_after(text: &str, prefix: &str) -> Vec<String> {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // inside a longer path, e.g. `self::super::`
        }
        let n = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
        let base = rest[..n].trim_end_matches(':').to_string();
        if rest[n..].starts_with('{') && rest[..n].ends_with("::") {
            let close = rest[n..].find('}').map_or(rest.len(), |k| n + k);
            for item in rest[n + 1..close].split(',') {
                let item: String = item.trim().chars().take_while(|&c| ident(c)).collect();
                if !item.is_empty() {
                    out.push(format!("{base}::{}", item.trim_end_matches(':')));
                }
            }
            rest = &rest[close..];
        } else {
            out.push(base);
            rest = &rest[n..];
        }
    }
    out
}

/// The edges of the module graph of `mods` (see the file's docs).
fn edges(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let resolve = |path: &str| -> Option<String> {
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        (1..=segs.len()).rev().map(|k| segs[..k].join("::")).find(|c| mods.contains_key(c))
    };
    let within =
        |m: &str, r: &str| r == m || (!m.is_empty() && r.starts_with(&format!("{m}::"))) || m.is_empty();
    let mut g = BTreeMap::new();
    for (m, text) in mods {
        let text = code(text);
        let mut out = BTreeSet::new();
        for p in paths_after(&text, "crate::") {
            if let Some(r) = resolve(&p) {
                if !within(m, &r) {
                    out.insert(r);
                }
            }
        }
        // `super::` from `a/b.rs` (module `a::b`) names `a`; from `a/b/mod.rs`
        // (also `a::b`) it names `a` too.
        let own: Vec<&str> = m.split("::").filter(|s| !s.is_empty()).collect();
        for p in paths_after(&text, "super::") {
            let mut up = 1;
            let mut rest = p.as_str();
            while let Some(r) = rest.strip_prefix("super::") {
                up += 1;
                rest = r;
            }
            if up > own.len() {
                continue;
            }
            let parent = own[..own.len() - up].join("::");
            let full = if parent.is_empty() { rest.to_string() } else { format!("{parent}::{rest}") };
            let r = resolve(&full).unwrap_or(parent);
            if !r.is_empty() && !within(m, &r) {
                out.insert(r);
            }
        }
        g.insert(m.clone(), out);
    }
    g
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct St<'g> {
        g: &'g BTreeMap<String, BTreeSet<String>>,
        idx: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut St<'g>, v: &'g str) {
        let n = s.idx.len();
        s.idx.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for w in &s.g[v] {
            let w = w.as_str();
            if !s.idx.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.idx[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.idx[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = St {
        g,
        idx: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.idx.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// The crates whose graphs are checked: the engine, the Python bindings and their
/// payload slab.
fn roots() -> Vec<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let r = vec![here.join("src"), here.join("python-bindings/src"), here.join("python-bindings/slab/src")];
    for d in &r {
        assert!(d.is_dir(), "{} is not a directory", d.display());
    }
    r
}

fn report(g: &BTreeMap<String, BTreeSet<String>>, cyc: &[Vec<String>]) -> String {
    let mut s = String::new();
    for c in cyc {
        s.push_str(&format!("cycle among {c:?}:\n"));
        for m in c {
            let inside: Vec<_> = g[m].iter().filter(|t| c.contains(t)).collect();
            s.push_str(&format!("  {m} -> {inside:?}\n"));
        }
    }
    s
}

#[test]
fn no_module_cycles() {
    for root in roots() {
        let mods = modules(&root);
        assert!(mods.len() > 2, "{}: found only {} modules", root.display(), mods.len());
        let g = edges(&mods);
        let cyc = cycles(&g);
        assert!(cyc.is_empty(), "{}:\n{}", root.display(), report(&g, &cyc));
    }
}

#[test]
fn no_source_file_over_the_line_limit() {
    let mut long = Vec::new();
    for root in roots() {
        for (m, text) in modules(&root) {
            let n = text.lines().count();
            if n > MAX_LINES {
                long.push(format!("{}: {m} has {n} lines", root.display()));
            }
        }
    }
    assert!(long.is_empty(), "over {MAX_LINES} lines:\n{}", long.join("\n"));
}

/// The checker itself: a two-module cycle is found, a parent using its child is
/// not a cycle, and comments do not count.
#[test]
fn the_checker_finds_a_planted_cycle() {
    let dir = std::env::temp_dir().join(format!("timelog-module-graph-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("room")).unwrap();
    let write = |p: &str, s: &str| std::fs::write(dir.join(p), s).unwrap();
    write("lib.rs", "mod a;\nmod b;\nmod room;\n");
    write("a.rs", "use crate::b::{X, Y};\n");
    write("b.rs", "// use crate::a::Z; (prose)\npub struct X;\npub struct Y;\n");
    write("room/mod.rs", "mod inner;\npub use inner::Z;\nuse crate::a::W;\n");
    write("room/inner.rs", "use super::super::b::X;\npub struct Z;\n");
    let mods = modules(&dir);
    let g = edges(&mods);
    assert!(cycles(&g).is_empty(), "{g:?}");
    assert!(g["room::inner"].contains("b") && g["a"].contains("b"), "{g:?}");
    // Now close a cycle: b -> room::inner -> b.
    write("b.rs", "pub struct X;\npub struct Y;\nfn f() -> crate::room::inner::Z { todo!() }\n");
    let mods = modules(&dir);
    let g = edges(&mods);
    let cyc = cycles(&g);
    assert_eq!(cyc, vec![vec!["b".to_string(), "room::inner".to_string()]], "{g:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
