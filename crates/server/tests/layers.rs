//! The module layering of `crates/server/src`, read from the source: every top-level module
//! has a layer, imports only modules of its own layer or below, and no import cycle exists
//! between modules. A new module must be placed here, which makes its place a decision.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may import modules of its own layer or a lower one.
const LAYERS: &[&[&str]] = &[
    &["names", "secret", "shares"],
    &["store"],
    &[
        "config",
        "migrator",
        "fleet",
        "options",
        "scheduler",
        "telemetry",
        "tls",
        "limits",
        "cache",
        "media",
    ],
    &["catalog", "broker", "identity", "pools"],
    &["routing"],
    &["auth", "core"],
    &["provisioner", "fanout", "verify"],
    &["http"],
    &["ui"],
    &["app"],
];

/// Macros exported at the crate root, not modules.
const ROOT_MACROS: &[&str] = &["with_db", "with_conn", "with_pooled"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`lib` for the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

/// `crate::<module>` paths in code (not comments, not unit tests, which may reach anywhere).
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if !name.is_empty() && !ROOT_MACROS.contains(&name.as_str()) {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(
        files.len() > 20,
        "found the sources under {}",
        src.display()
    );
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let entry = edges.entry(module.clone()).or_default();
        for target in imports(&text) {
            if target != module {
                let shown = file
                    .strip_prefix(&src)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                entry.entry(target).or_insert(shown);
            }
        }
    }
    edges.remove("lib");
    edges
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_module_imports_only_its_layer_or_below() {
    let mut wrong = Vec::new();
    for (module, targets) in graph() {
        let Some(own) = layer_of(&module) else {
            wrong.push(format!("`{module}` has no layer: add it to LAYERS"));
            continue;
        };
        for (target, file) in targets {
            match layer_of(&target) {
                Some(layer) if layer <= own => {}
                Some(_) => wrong.push(format!(
                    "{file} imports `{target}`, a layer above `{module}`"
                )),
                None => wrong.push(format!("{file} imports `{target}`, which has no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_cycle_between_modules() {
    let edges = graph();
    // Depth-first search for a back edge; the path to it is the cycle.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for target in edges.get(node).into_iter().flat_map(|t| t.keys()) {
            if let Some(cycle) = visit(target, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        if let Some(cycle) = visit(module, &edges, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_checker_sees_imports_and_skips_comments_and_tests() {
    let text = "use crate::store::Db;\n// crate::ui in a comment\nfn f() { crate::names::x(); with_db!(crate::with_db) }\n#[cfg(test)]\nmod tests { use crate::app; }\n";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["names", "store"]);
}

/// Small files: a file that grows past this is two concepts, or one that wants a folder.
#[test]
fn every_source_file_stays_under_500_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).ok()?.lines().count();
            (lines >= 500).then(|| format!("{} has {lines} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}
