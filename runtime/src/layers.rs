//! The shape of the house, checked on every `cargo test --lib`:
//!
//! - every module imports only from the layers below it (`cli → api → node
//!   → engine → journal → store → model/error/metrics/traces/stats`), and
//!   only the node reaches the store and the engine;
//! - no import circle between the files of one folder: within a folder,
//!   each file and each subfolder is one unit, and the units' references to
//!   each other (through `super::`, `crate::` or what the folder's `mod.rs`
//!   re-exports) form no cycle. The folder's own `mod.rs` is the parent of
//!   its units, not one of them: it declares and re-exports them, and they
//!   use what it defines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer a top-level module belongs to; higher uses lower.
fn rank(module: &str) -> Option<u8> {
    Some(match module {
        "error" | "model" | "metrics" | "traces" | "stats" => 0,
        "store" => 1,
        "journal" => 2,
        "engine" => 3,
        "node" => 4,
        "api" => 5,
        "cli" => 6,
        _ => return None,
    })
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_reaches_upward_and_only_the_node_reaches_store_and_engine() {
    let src = src();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        let Some(own) = rank(&module) else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for used in line.split("crate::").skip(1) {
                let target: String = used.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let Some(theirs) = rank(&target) else { continue };
                let private = matches!(target.as_str(), "store" | "engine") && own > rank("node").unwrap();
                if theirs > own || private {
                    violations.push(format!("{}:{}: {module} uses {target}", relative.display(), n + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layers:\n{}",
        violations.join("\n")
    );
}

/// A file's module path: `cli/bench/api.rs` → `cli::bench::api`,
/// `node/mod.rs` → `node`, `lib.rs` → the crate root.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

/// The code of a file that is not a comment, without its test module.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        // A trailing comment, unless the `//` is inside a string.
        let cut = line
            .match_indices("//")
            .map(|(i, _)| i)
            .find(|&i| line[..i].matches('"').count() % 2 == 0);
        code.push_str(&line[..cut.unwrap_or(line.len())]);
        code.push('\n');
    }
    code
}

/// The paths of a use tree at the start of `text` (`a::{b, c::d}` → `a::b`,
/// `a::c::d`), each as segments; only the segments are read.
fn use_tree(text: &str) -> Vec<Vec<String>> {
    fn tree(chars: &[char], i: &mut usize) -> Vec<Vec<String>> {
        let skip = |i: &mut usize| {
            while *i < chars.len() && chars[*i].is_whitespace() {
                *i += 1;
            }
        };
        skip(i);
        if *i < chars.len() && chars[*i] == '{' {
            *i += 1;
            let mut all = Vec::new();
            loop {
                skip(i);
                if *i >= chars.len() || chars[*i] == '}' {
                    *i += 1;
                    return all;
                }
                all.extend(tree(chars, i));
                skip(i);
                if *i < chars.len() && chars[*i] == ',' {
                    *i += 1;
                }
            }
        }
        let start = *i;
        while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_' || chars[*i] == '*') {
            *i += 1;
        }
        let segment: String = chars[start..*i].iter().collect();
        if segment.is_empty() {
            return Vec::new();
        }
        if chars.get(*i) == Some(&':') && chars.get(*i + 1) == Some(&':') {
            *i += 2;
            let rest = tree(chars, i);
            if rest.is_empty() {
                return vec![vec![segment]];
            }
            return rest
                .into_iter()
                .map(|mut r| {
                    r.insert(0, segment.clone());
                    r
                })
                .collect();
        }
        vec![vec![segment]]
    }
    let chars: Vec<char> = text.chars().collect();
    tree(&chars, &mut 0)
}

/// Every module path a file's code names through `crate::`, `super::` or
/// `self::`, made absolute.
fn references(code: &str, own: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let boundary =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b'$');
        let prefix = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|p| rest.starts_with(p));
        let Some(prefix) = prefix.filter(|_| boundary) else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        // `self` of a file is its module; `super` is the module above.
        let mut base: Vec<String> = match prefix {
            "crate::" => Vec::new(),
            _ => own.to_vec(),
        };
        let mut j = i + prefix.len();
        if prefix == "super::" {
            base.pop();
            while code[j..].starts_with("super::") {
                base.pop();
                j += "super::".len();
            }
        }
        for path in use_tree(&code[j..]) {
            let mut full = base.clone();
            full.extend(path);
            found.push(full);
        }
        i = j;
    }
    found
}

/// What a folder's `mod.rs` re-exports from its units: item → unit.
fn reexports(code: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in code.lines() {
        let Some(at) = line.find("use ") else { continue };
        if !line[..at].trim_start().starts_with("pub") {
            continue;
        }
        for path in use_tree(&line[at + 4..]) {
            if let [unit, .., item] = path.as_slice() {
                map.insert(item.clone(), unit.clone());
            }
        }
    }
    map
}

/// The import circles between the units of each folder under `src`.
fn circles(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    // Folder (module path) → unit → units it references.
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut units: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    let mut exported: BTreeMap<Vec<String>, BTreeMap<String, String>> = BTreeMap::new();
    let mut parsed = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap().to_path_buf();
        let own = module_path(&relative);
        let is_mod = own.len() < relative.iter().count();
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        if is_mod {
            exported.insert(own.clone(), reexports(&code));
        }
        // In each folder above it the file belongs to one unit (a folder's
        // own mod.rs to none of that folder's: it is their parent).
        for depth in 0..own.len() {
            units
                .entry(own[..depth].to_vec())
                .or_default()
                .insert(own[depth].clone());
        }
        let refs = references(&code, &own);
        parsed.push((own, refs));
    }
    for (own, refs) in &parsed {
        for depth in 0..own.len() {
            let folder = own[..depth].to_vec();
            let unit = own[depth].clone();
            let names = units.get(&folder).cloned().unwrap_or_default();
            let reexported = exported.get(&folder).cloned().unwrap_or_default();
            for path in refs {
                if path.len() <= depth || path[..depth] != folder[..] {
                    continue;
                }
                let first = &path[depth];
                let target = if names.contains(first) {
                    first.clone()
                } else if let Some(u) = reexported.get(first) {
                    u.clone()
                } else {
                    continue;
                };
                if target != unit {
                    graphs
                        .entry(folder.clone())
                        .or_default()
                        .entry(unit.clone())
                        .or_default()
                        .insert(target);
                }
            }
        }
    }
    let mut found = Vec::new();
    for (folder, graph) in &graphs {
        for start in graph.keys() {
            if let Some(cycle) = cycle_from(graph, start) {
                let text = format!("{}/: {}", folder.join("/"), cycle.join(" → "));
                if !found.iter().any(|f: &String| same_cycle(f, &text)) {
                    found.push(text);
                }
            }
        }
    }
    found
}

/// A cycle through `start`, if there is one (as the units on it, `start`
/// first and last).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(graph: &BTreeMap<String, BTreeSet<String>>, at: &str, start: &str, path: &mut Vec<String>) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if path.contains(next) {
                continue;
            }
            path.push(next.clone());
            if walk(graph, next, start, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(graph, start, start, &mut path).then_some(path)
}

/// Whether two reported cycles are the same one, started elsewhere.
fn same_cycle(a: &str, b: &str) -> bool {
    let members = |t: &str| -> BTreeSet<String> { t.split([' ', '→', ':']).map(str::to_owned).collect() };
    members(a) == members(b)
}

#[test]
fn no_import_circles_between_the_files_of_a_folder() {
    let found = circles(&src());
    assert!(
        found.is_empty(),
        "import circles within a folder (move what both use into a file of its own):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_circle_check_sees_circles() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "mod a;\n");
    write(
        "a/mod.rs",
        "mod x;\nmod y;\nmod z;\npub use z::Shared;\nfn here() { x::go(); }\n",
    );
    write("a/x.rs", "use super::y::{self, Thing};\npub fn go() {}\n");
    write(
        "a/y.rs",
        "pub struct Thing;\nfn f() { super::Shared::new(); }\n// super::x::go() in a comment\n",
    );
    write(
        "a/z.rs",
        "pub struct Shared;\nfn g() { crate::a::x::go(); }\n#[cfg(test)]\nmod tests { use super::super::y; }\n",
    );
    let found = circles(root);
    assert_eq!(
        found,
        ["a/: x → y → z → x"],
        "x uses y, y uses z (through mod.rs), z uses x"
    );
    write("a/z.rs", "pub struct Shared;\n");
    assert!(circles(root).is_empty(), "the parent's uses of its units are no circle");
}
