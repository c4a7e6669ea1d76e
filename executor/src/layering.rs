//! Guards of the executor's layout (ARCHITECTURE.md "Pure core, thin drivers";
//! CONVENTIONS.md #12): no two top-level modules of this crate import each
//! other, directly or through others, and no source file is over 500 lines.
//! Reads the crate's own sources; test-only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Most lines a source file of the executor may have.
const MAX_LINES: usize = 500;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading the executor's sources") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/a.rs`, `src/a/b.rs` → `a`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a file");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// Top-level modules a text refers to as `crate::<module>`.
fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        // `revenant_types::…` etc. are other crates; only a bare `crate::` is this one.
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[i + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// Which modules each module refers to.
type Edges = BTreeMap<String, BTreeSet<String>>;

fn graph() -> (Edges, Vec<(PathBuf, usize)>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges = Edges::new();
    let mut sizes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        sizes.push((file.clone(), text.lines().count()));
        let module = module_of(&src, &file);
        if module == "lib" || module == "layering" {
            continue;
        }
        // Test modules may reach anywhere and docs may link anywhere; only code is layered.
        let shipped: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let targets = edges.entry(module.clone()).or_default();
        targets.extend(referenced(&shipped).into_iter().filter(|m| *m != module));
    }
    (edges, sizes)
}

/// A cycle through `start`, if any (depth-first over `edges`).
fn cycle_from(start: &str, edges: &Edges) -> Option<Vec<String>> {
    fn walk(
        at: &str,
        start: &str,
        edges: &Edges,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(next, start, edges, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(start, start, edges, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_module_of_the_executor_imports_itself_through_others() {
    let (edges, _) = graph();
    assert!(edges.len() > 10, "found the modules: {edges:?}");
    let cycles: Vec<String> = edges
        .keys()
        .filter_map(|m| cycle_from(m, &edges))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut edges = Edges::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle_from("a", &edges).unwrap(), ["a", "b", "c", "a"]);
    edges.get_mut("c").unwrap().clear();
    assert!(cycle_from("a", &edges).is_none());
    assert_eq!(
        referenced("use crate::x::Y; revenant_types::z; crate::w_2"),
        BTreeSet::from(["x".to_owned(), "w_2".to_owned()])
    );
}

#[test]
fn no_source_file_of_the_executor_is_over_the_limit() {
    let (_, sizes) = graph();
    let big: Vec<String> = sizes
        .iter()
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{} ({n} lines)", f.display()))
        .collect();
    assert!(big.is_empty(), "over {MAX_LINES} lines: {big:?}");
}
