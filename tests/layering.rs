//! Dependencies point down only: no module of `src/` imports (directly or
//! through others) a module that imports it. Checked by reading the sources:
//! every `crate::` / `super::` path outside `#[cfg(test)]` code is resolved to
//! the module it names, and the graph of "module A uses module B" (parent and
//! child modules excepted: a `mod.rs` only names its children) must have no
//! cycle. A failure prints the cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `src/core/policy/mod.rs` -> `["core", "policy"]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib") {
        parts.push(stem.to_owned());
    }
    parts
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file without its test modules and comments.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            // Skip the item that follows: up to its matching closing brace.
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every path `crate::a::b...` or `super::a...` mentioned, braces of `use`
/// trees expanded, resolved against `module` into absolute segments.
fn referenced(module: &[String], code: &str, is_mod_file: bool) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let starts_word = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        if starts_word && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            // Read the path tree up to a character that cannot be in one.
            let mut j = i;
            let mut depth = 0;
            while j < bytes.len() {
                let c = bytes[j];
                if c == '{' {
                    depth += 1;
                } else if c == '}' {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                } else if !(c.is_alphanumeric() || matches!(c, '_' | ':' | ',' | ' ' | '\n' | '*'))
                    || (depth == 0 && matches!(c, ',' | ' ' | '\n'))
                {
                    break;
                }
                j += 1;
            }
            let tree: String = bytes[i..j].iter().collect();
            for path in expand(&tree) {
                let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
                let mut abs: Vec<String> = Vec::new();
                let mut segs = segs.into_iter().peekable();
                if segs.peek() == Some(&"crate") {
                    segs.next();
                } else {
                    // `super` in foo/bar.rs is foo; in foo/mod.rs it is foo's parent.
                    abs = module.to_vec();
                    if !is_mod_file {
                        abs.pop();
                    }
                    while segs.peek() == Some(&"super") {
                        segs.next();
                        if segs.peek() == Some(&"super") {
                            abs.pop();
                        }
                    }
                    if is_mod_file {
                        abs.pop();
                    }
                }
                abs.extend(segs.map(str::to_owned));
                found.push(abs);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// `a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = tree[open + 1..].trim_end_matches('}');
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (k, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&root).expect("under src")))
        .collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&root).expect("under src");
        let from = module_of(rel);
        let is_mod = rel
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        let code = production_code(&std::fs::read_to_string(file).expect("read source"));
        for path in referenced(&from, &code, is_mod) {
            // The longest prefix that is a module of the crate.
            let Some(to) = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p))
            else {
                continue;
            };
            let related = to.starts_with(&from) || from.starts_with(&to);
            if !related {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!("import cycle: {}", names.join(" -> "));
        }
    }
    // The check sees the edges it is meant to see.
    let core_decide = vec!["core".to_owned(), "decide".to_owned()];
    assert!(
        edges
            .get(&core_decide)
            .is_some_and(|e| e.contains(&vec!["core".to_owned(), "state".to_owned()])),
        "core::decide uses core::state; the source scan missed it: {edges:?}"
    );
}
