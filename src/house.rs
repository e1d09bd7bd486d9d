//! The house's one structural rule that the compiler does not check: arrows between the
//! top-level rooms of `src/` point one way. A room that uses another, directly or through
//! others, is never used back by it; a cycle means two rooms are one job split in two, or a
//! shared piece sits in the wrong room. The test reads the sources, so it needs no build of
//! its own and names the files that make each arrow of a cycle it finds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod source;

use source::{code_only, is_name, tokens};

/// Arrows between top-level rooms: room -> (room it uses -> files that use it).
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The top-level rooms a file names through `crate::` or `super::`. `file_module` is the
/// file's own module path (`["config", "walk"]`); inline `mod x { .. }` blocks extend it, so
/// a `super::` inside a file's `mod tests` stays in the file's own room.
fn rooms_used(code: &str, file_module: &[String]) -> BTreeSet<String> {
    let tokens = tokens(code);
    let mut used = BTreeSet::new();
    let mut module = file_module.to_vec();
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let next = |k: usize| tokens.get(i + k).copied().unwrap_or("");
        match tokens[i] {
            "mod" if next(2) == "{" => {
                module.push(next(1).to_string());
                inline_mods.push(depth);
                depth += 1;
                i += 3;
                continue;
            }
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if inline_mods.last() == Some(&depth) {
                    inline_mods.pop();
                    module.pop();
                }
            }
            "crate" if next(1) == "::" => {
                if next(2) == "{" {
                    used.extend(group_heads(&tokens[i + 2..]));
                } else {
                    used.insert(next(2).to_string());
                }
            }
            "super" if next(1) == "::" && i.checked_sub(1).map(|b| tokens[b]) != Some("::") => {
                let mut base = module.clone();
                let mut k = i;
                while tokens.get(k) == Some(&"super") && tokens.get(k + 1) == Some(&"::") {
                    base.pop();
                    k += 2;
                }
                match base.first() {
                    Some(room) => {
                        used.insert(room.clone());
                    }
                    None if tokens.get(k) == Some(&"{") => used.extend(group_heads(&tokens[k..])),
                    None => {
                        used.extend(tokens.get(k).map(|t| t.to_string()));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    used.retain(|room| is_name(room) && !["self", "super", "crate"].contains(&room.as_str()));
    used
}

/// The first name of each path in a `{ a::b, c, d::{e, f} }` group.
fn group_heads(tokens: &[&str]) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect = false;
    for &token in tokens {
        match token {
            "{" => {
                depth += 1;
                expect = depth == 1;
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => expect = true,
            name if expect && depth == 1 => {
                heads.push(name.to_string());
                expect = false;
            }
            _ => {}
        }
    }
    heads
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The graph of `src/`; `lib.rs` and `main.rs` wire the rooms together and are no room.
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let rooms: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix(src).ok()?.components().next())
        .map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let mut graph = Graph::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap().with_extension("");
        let mut module: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if module.last().is_some_and(|m| m == "mod") {
            module.pop();
        }
        if module == ["lib"] || module == ["main"] {
            continue;
        }
        let room = module[0].clone();
        let text = std::fs::read_to_string(file).unwrap();
        for used in rooms_used(&code_only(&text), &module) {
            if used != room && rooms.contains(&used) {
                let by = relative.with_extension("rs").to_string_lossy().into_owned();
                graph
                    .entry(room.clone())
                    .or_default()
                    .entry(used)
                    .or_default()
                    .insert(by);
            }
        }
    }
    graph
}

/// A cycle, as the rooms on it with the arrow that closes it back to the first.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    fn visit(graph: &Graph, room: &str, marks: &mut BTreeMap<String, Mark>, path: &mut Vec<String>) -> bool {
        marks.insert(room.to_string(), Mark::OnPath);
        path.push(room.to_string());
        for next in graph.get(room).into_iter().flat_map(|to| to.keys()) {
            match marks.get(next) {
                Some(Mark::OnPath) => {
                    let start = path.iter().position(|r| r == next).unwrap_or(0);
                    path.drain(..start);
                    return true;
                }
                Some(Mark::Done) => {}
                None => {
                    if visit(graph, next, marks, path) {
                        return true;
                    }
                }
            }
        }
        marks.insert(room.to_string(), Mark::Done);
        path.pop();
        false
    }
    let mut marks = BTreeMap::new();
    for room in graph.keys() {
        let mut path = Vec::new();
        if !marks.contains_key(room) && visit(graph, room, &mut marks, &mut path) {
            return Some(path);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_top_level_rooms() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.len() > 10, "the source walk found too few rooms: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        let mut report = String::new();
        for (i, from) in cycle.iter().enumerate() {
            let to = &cycle[(i + 1) % cycle.len()];
            let files = graph[from][to].iter().cloned().collect::<Vec<_>>().join(", ");
            report.push_str(&format!("\n  {from} -> {to}   ({files})"));
        }
        panic!("the rooms of src/ import each other in a cycle:{report}");
    }
}

#[test]
fn the_walk_sees_what_the_compiler_sees() {
    let code = code_only(
        r#"
        //! crate::in_a_doc_comment
        use crate::{config::Config, error::{Code, Outcome}, ids};
        use super::sibling;
        fn f() { let _ = "crate::in_a_string"; let _ = '"'; crate::telemetry::init(None); }
        mod tests { use super::*; }
        "#,
    );
    let module = vec!["top".to_string()];
    let used: Vec<String> = rooms_used(&code, &module).into_iter().collect();
    assert_eq!(used, ["config", "error", "ids", "sibling", "telemetry", "top"]);

    let nested = vec!["config".to_string(), "walk".to_string()];
    let used: Vec<String> = rooms_used(&code_only("use super::raw; use super::super::ids;"), &nested)
        .into_iter()
        .collect();
    assert_eq!(used, ["config", "ids"]);

    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph.entry(from.into()).or_default().entry(to.into()).or_default();
    }
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into()]));
    graph.get_mut("c").unwrap().remove("a");
    assert_eq!(find_cycle(&graph), None);
}
