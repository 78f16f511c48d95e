//! The layers stay one-way. The table in `docs/architecture.md` is the rule: a module uses only
//! modules of lower layers, no two modules use each other, and the layers marked as doing no I/O
//! name no I/O or clock API. The check reads the `crate::`, `super::` and `stromwart::` paths of
//! every file under `src/`, so it needs no tool and runs in milliseconds.
//!
//! Its own tests plant violations into a copy of the real tree and expect them to be found, so
//! a check that has stopped seeing anything fails too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module path inside the crate, e.g. `["core", "commands"]`; the crate root is `[]` and the
/// binary is `["main"]`.
type ModPath = Vec<String>;

struct Layer {
    number: u32,
    modules: Vec<String>,
    pure: bool,
}

/// API paths a layer that does no I/O must not name: the network, files, processes, the clock.
const IMPURE: &[&str] = &[
    "tokio::",
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "reqwest",
    "rumqttc",
    "tokio_modbus",
    "tokio_serial",
    "SystemTime",
    "Instant",
];

/// The rows of the table under "## Layers" whose first cell is a number: the modules named in
/// backticks in the second cell, and whether the last cell says "no" to I/O.
fn layers(doc: &str) -> Vec<Layer> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Layers"))
        .expect("docs/architecture.md has a section '## Layers'");
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
            let number = cells.first()?.trim().parse().ok()?;
            let modules = cells
                .get(1)?
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            let pure = cells.last()?.trim() == "no";
            Some(Layer {
                number,
                modules,
                pure,
            })
        })
        .collect()
}

/// Every `.rs` file under `src/`, relative to it, with its text.
fn sources(root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                let text = std::fs::read_to_string(&path).unwrap();
                out.insert(rel.replace('\\', "/"), text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn module_of(file: &str) -> ModPath {
    let mut parts: ModPath = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file without its comments, line by line (comments hold doc links and prose
/// that name other modules without using them).
fn code_lines(text: &str) -> Vec<String> {
    let mut in_block = false;
    text.lines()
        .map(|line| {
            let mut code = String::new();
            let mut rest = line;
            loop {
                if in_block {
                    match rest.find("*/") {
                        Some(i) => {
                            rest = &rest[i + 2..];
                            in_block = false;
                        }
                        None => break,
                    }
                } else {
                    let line_comment = rest.find("//");
                    let block = rest.find("/*");
                    match (line_comment, block) {
                        (Some(l), b) if b.is_none_or(|b| l < b) => {
                            code.push_str(&rest[..l]);
                            break;
                        }
                        (_, Some(b)) => {
                            code.push_str(&rest[..b]);
                            rest = &rest[b + 2..];
                            in_block = true;
                        }
                        _ => {
                            code.push_str(rest);
                            break;
                        }
                    }
                }
            }
            code
        })
        .collect()
}

/// The first segments of a `{a, b::c, d::{e, f}}` group: `a`, `b`, `d`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(group[start..i].to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    heads.push(group[start..].to_string());
    heads
        .iter()
        .filter_map(|h| {
            let head = h.trim().split("::").next()?.trim();
            (!head.is_empty() && head != "self").then(|| head.to_string())
        })
        .collect()
}

/// The modules a file's code names, with the line each is named on: `crate::x::…`,
/// `super::x::…` and, in the binary, `stromwart::x::…`, grouped imports included.
fn uses(file: &str, text: &str) -> Vec<(ModPath, usize)> {
    let module = module_of(file);
    let code = code_lines(text).join("\n");
    let mut found = Vec::new();
    for root in ["crate::", "super::", "stromwart::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(root) {
            let start = from + at;
            from = start + root.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let base: ModPath = match root {
                // A `mod tests` inside a file means the file itself; taking the parent instead
                // only ever finds a file using its parent, which is allowed.
                "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                "stromwart::" if module != ["main"] => continue,
                _ => Vec::new(),
            };
            let rest = &code[from..];
            let heads = if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 1;
                let end = group
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(group.len(), |(i, _)| i);
                group_heads(&group[..end])
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                vec![name]
            };
            let line = code[..start].matches('\n').count() + 1;
            for head in heads.into_iter().filter(|h| !h.is_empty()) {
                let mut target = base.clone();
                target.push(head);
                found.push((target, line));
            }
        }
    }
    found
}

/// Everything wrong with the tree, one line each; empty when the layers hold.
fn check(files: &BTreeMap<String, String>, doc: &str) -> Vec<String> {
    let layers = layers(doc);
    let mut problems = Vec::new();
    let mut layer_of: BTreeMap<&str, &Layer> = BTreeMap::new();
    for layer in &layers {
        for m in &layer.modules {
            if layer_of.insert(m, layer).is_some() {
                problems.push(format!("`{m}` stands in two layers of the table"));
            }
        }
    }
    let modules: BTreeSet<ModPath> = files.keys().map(|f| module_of(f)).collect();
    let tops: BTreeSet<&str> = modules
        .iter()
        .filter_map(|m| m.first().map(String::as_str))
        .collect();
    for top in &tops {
        if !layer_of.contains_key(top) {
            problems.push(format!(
                "src/{top} is in no layer: add it to the table in docs/architecture.md"
            ));
        }
    }
    for name in layer_of.keys() {
        if !tops.contains(name) {
            problems.push(format!("the table names `{name}`, which is not in src/"));
        }
    }

    // The innermost existing module a path points into.
    let resolve = |path: &ModPath| -> Option<ModPath> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| modules.contains(p))
    };
    let mut edges: BTreeMap<ModPath, BTreeMap<ModPath, (String, usize)>> = BTreeMap::new();
    for (file, text) in files {
        let from = module_of(file);
        let Some(from_layer) = from.first().and_then(|t| layer_of.get(t.as_str())) else {
            continue;
        };
        if from_layer.pure {
            for (i, line) in code_lines(text).iter().enumerate() {
                if let Some(api) = IMPURE.iter().find(|api| line.contains(*api)) {
                    problems.push(format!(
                        "src/{file}:{}: `{api}` in layer {} ({}), which does no I/O and reads no clock",
                        i + 1,
                        from_layer.number,
                        from[0]
                    ));
                }
            }
        }
        for (target, line) in uses(file, text) {
            let Some(to) = resolve(&target) else {
                continue;
            };
            if to == from {
                continue;
            }
            if let (Some(a), Some(b)) = (from.first(), to.first())
                && a != b
                && let Some(to_layer) = layer_of.get(b.as_str())
                && to_layer.number >= from_layer.number
            {
                problems.push(format!(
                    "src/{file}:{line}: `{a}` (layer {}) uses `{}` (layer {}); a module may use only lower layers",
                    from_layer.number,
                    to.join("::"),
                    to_layer.number
                ));
            }
            edges
                .entry(from.clone())
                .or_default()
                .entry(to)
                .or_insert((file.clone(), line));
        }
    }
    // A file using its parent (`super::`) is how Rust splits one module into files; any other
    // pair that uses each other is a knot.
    let related = |a: &ModPath, b: &ModPath| a.starts_with(b) || b.starts_with(a);
    for (a, targets) in &edges {
        for (b, (file, line)) in targets {
            if a < b
                && !related(a, b)
                && let Some((back_file, back_line)) = edges.get(b).and_then(|t| t.get(a))
            {
                problems.push(format!(
                    "`{}` and `{}` use each other (src/{file}:{line}, src/{back_file}:{back_line})",
                    a.join("::"),
                    b.join("::")
                ));
            }
        }
    }
    problems
}

fn real_tree() -> (BTreeMap<String, String>, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    (sources(&root.join("src")), doc)
}

#[test]
fn every_module_uses_only_lower_layers_and_none_use_each_other() {
    let (files, doc) = real_tree();
    assert!(
        layers(&doc).len() >= 8,
        "the layer table in docs/architecture.md was not found"
    );
    let problems = check(&files, &doc);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Adds a line to one file of the real tree and returns what the check says.
fn planted(file: &str, line: &str) -> Vec<String> {
    let (mut files, doc) = real_tree();
    let text = files
        .get_mut(file)
        .unwrap_or_else(|| panic!("no src/{file}"));
    text.push_str(line);
    check(&files, &doc)
}

#[test]
fn the_core_using_the_mqtt_edge_is_found() {
    let problems = planted("core/device.rs", "\nuse crate::mqtt::Link;\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("src/core/device.rs:") && problems[0].contains("uses `mqtt`"),
        "{problems:?}"
    );
}

#[test]
fn grouped_and_relative_paths_are_read_too() {
    let problems = planted(
        "model/mod.rs",
        "\nuse crate::{quantity, supervisor::{self, MqttService}};\n",
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("uses `supervisor`"), "{problems:?}");
    // In the binary, the library is `stromwart::`; the binary may use everything.
    assert!(planted("main.rs", "\nuse stromwart::core::Core;\n").is_empty());
    // Comments name modules without using them.
    assert!(planted("model/mod.rs", "\n// see crate::drivers::wiring\n").is_empty());
}

#[test]
fn two_modules_that_use_each_other_are_found() {
    // modbus::profile already uses modbus::value.
    let problems = planted("modbus/value.rs", "\nfn f(_: super::profile::Profile) {}\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("`modbus::profile` and `modbus::value` use each other"),
        "{problems:?}"
    );
}

#[test]
fn io_in_a_pure_layer_is_found() {
    let problems = planted(
        "control/site.rs",
        "\nfn f() -> std::time::SystemTime { std::time::SystemTime::now() }\n",
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`SystemTime` in layer"),
        "{problems:?}"
    );
}

#[test]
fn a_module_outside_the_table_is_found() {
    let (mut files, doc) = real_tree();
    files.insert("prices/mod.rs".into(), String::new());
    assert_eq!(
        check(&files, &doc),
        ["src/prices is in no layer: add it to the table in docs/architecture.md"]
    );
}
