//! The layering rule, checked: every module imports only from the layers
//! below it (`cli → api → node → engine → journal → store → model/error/metrics/traces`),
//! and only the node reaches the store and the engine.

use std::path::Path;

/// The layer a top-level module belongs to; higher uses lower.
fn rank(module: &str) -> Option<u8> {
    Some(match module {
        "error" | "model" | "metrics" | "traces" => 0,
        "store" => 1,
        "journal" => 2,
        "engine" => 3,
        "node" => 4,
        "api" => 5,
        "cli" => 6,
        _ => return None,
    })
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_reaches_upward_and_only_the_node_reaches_store_and_engine() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
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
