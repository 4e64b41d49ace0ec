//! The crate's modules import one another one way only: no module reaches, through any chain
//! of `crate::` paths in its non-test code, back to itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its non-test code names with `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).expect("under src");
            let first = rel.components().next().expect("a component");
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if module == "lib" || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source readable");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let deps = graph.entry(module.clone()).or_default();
            for line in code.lines() {
                let line = line.split("//").next().unwrap_or_default();
                for (i, _) in line.match_indices("crate::") {
                    let rest = &line[i + "crate::".len()..];
                    let names: Vec<&str> = match rest.strip_prefix('{') {
                        Some(group) => group.split([',', '}']).collect(),
                        None => vec![rest],
                    };
                    for name in names {
                        let dep: String = name
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !dep.is_empty() && dep != module {
                            deps.insert(dep);
                        }
                    }
                }
            }
        }
    }
    graph
}

/// A chain of imports from `from` back to `from`, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().expect("non-empty");
        for dep in graph.get(last).into_iter().flatten() {
            if dep == from {
                let mut cycle = path.clone();
                cycle.push(dep.clone());
                return Some(cycle);
            }
            if seen.insert(dep.clone()) {
                let mut next = path.clone();
                next.push(dep.clone());
                stack.push(next);
            }
        }
    }
    None
}

#[test]
fn no_module_imports_itself_through_others() {
    let graph = imports();
    assert!(graph.contains_key("engine") && graph["engine"].contains("replica"));
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(&graph, module) {
            panic!("import circle: {}", cycle.join(" -> "));
        }
    }
}
