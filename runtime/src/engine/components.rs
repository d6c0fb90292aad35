//! Loading components: validation against the worlds, compilation with an
//! on-disk artifact cache, and pre-linking into the component types each
//! host defines (`workflow_host::WorkflowComponent`,
//! `activity_host::ActivityComponent`).

use super::Engine;
use super::activity_host::ActivityComponent;
use super::bindings::activity::ActivityPre;
use super::bindings::workflow::WorkflowPre;
use super::workflow_host::WorkflowComponent;
use crate::error::{Error, Result, codes};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::Component;

/// sha256 of a component's bytes, hex.
pub(crate) fn digest_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What names the artifacts of this engine configuration: artifacts of
/// another (an older Cairn or wasmtime, other settings) cannot be loaded.
fn engine_tag(wasm: &wasmtime::Engine) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    wasm.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Removes what no engine of this configuration can use from the artifact
/// cache: artifacts compiled by another configuration (after an upgrade)
/// and half-written files of a process that died while writing. Returns the
/// bytes freed.
pub(super) fn collect_artifacts(wasm: &wasmtime::Engine, cache_dir: &Path) -> u64 {
    let current = format!("-{}.cwasm", engine_tag(wasm));
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return 0;
    };
    let mut freed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // A half-written file may belong to a live process: only old ones go.
        let abandoned = name.contains(".tmp")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > std::time::Duration::from_secs(600)));
        let stale = (name.ends_with(".cwasm") && !name.ends_with(&current)) || abandoned;
        if !stale {
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        if std::fs::remove_file(entry.path()).is_ok() {
            freed += size;
        }
    }
    freed
}

/// Compiles a component, or maps the cached native artifact.
/// (Blocking: it runs cranelift; call it off the async runtime.)
pub(super) fn compile(
    wasm: &wasmtime::Engine,
    cache_dir: &Path,
    digest: &str,
    bytes: &[u8],
    fresh: bool,
) -> Result<Component> {
    let artifact = cache_dir.join(format!("{digest}-{}.cwasm", engine_tag(wasm)));
    if !fresh && artifact.exists() {
        // SAFETY: the artifact was written by this engine configuration (the
        // file name carries the compatibility hash) into Cairn's own cache.
        match unsafe { Component::deserialize_file(wasm, &artifact) } {
            Ok(c) => {
                crate::metrics::count(|m| &m.compile_hits, &["disk"]);
                return Ok(c);
            }
            Err(e) => tracing::warn!("ignoring unusable cached artifact {}: {e}", artifact.display()),
        }
    }
    if let Some(m) = crate::metrics::get() {
        m.compile_misses.inc();
    }
    let compiled = wasm.precompile_component(bytes).map_err(|e| {
        let text = format!("{e:#}");
        let hint = if text.contains("core module")
            || text.contains("component parser")
            || text.contains("expected a component")
        {
            "this is a core module, not a component: build with `--target wasm32-wasip2` (or componentize-py / jco)"
        } else {
            "pass a valid WebAssembly component built for wasm32-wasip2"
        };
        Error::new(
            codes::INVALID_COMPONENT,
            format!("the component cannot be compiled: {text}"),
            hint,
        )
    })?;
    if std::fs::create_dir_all(cache_dir).is_ok() {
        let tmp = artifact.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &compiled).is_ok() {
            let _ = std::fs::rename(&tmp, &artifact);
        }
    }
    // SAFETY: `compiled` was just produced by `precompile_component` of this engine.
    unsafe { Component::deserialize(wasm, &compiled) }.map_err(|e| {
        Error::new(
            codes::INVALID_COMPONENT,
            format!("cannot load the compiled component: {e}"),
            "report this as a bug",
        )
    })
}

/// Which world a component is checked against.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum World {
    /// `cairn:workflow/workflow`.
    Workflow,
    /// `cairn:workflow/activity`.
    Activity,
}

/// The interfaces a component imports, read from its bytes (deploy checks
/// them against the tenant's policy).
pub(crate) fn imports_of(bytes: &[u8]) -> Result<Vec<String>> {
    Ok(surface(bytes)?.0)
}

/// The names a component imports and exports at its top level, read from
/// its bytes without compiling it (milliseconds, even for a 19 MB Python
/// component).
fn surface(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>)> {
    use wasmparser::{Encoding, Parser, Payload};
    let invalid = |what: String| {
        Error::new(
            codes::INVALID_COMPONENT,
            format!("the component cannot be read: {what}"),
            "pass a valid WebAssembly component built for wasm32-wasip2",
        )
    };
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| invalid(e.to_string()))? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err(Error::new(
                        codes::INVALID_COMPONENT,
                        "this is a core module, not a component",
                        "build with `--target wasm32-wasip2` (or componentize-py / jco)",
                    ));
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    let import = import.map_err(|e| invalid(e.to_string()))?;
                    // Type imports (`use types.{payload}` in a world) need no host.
                    if !matches!(import.ty, wasmparser::ComponentTypeRef::Type(_)) {
                        imports.push(import.name.name.to_owned());
                    }
                }
            }
            Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    exports.push(export.map_err(|e| invalid(e.to_string()))?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// Checks the imports and exports of a component against a world before
/// compiling it, so a component that can never run is refused at once with
/// a precise error (naming the import and how to build without it).
pub(super) fn check_world(bytes: &[u8], world: World) -> Result<()> {
    if !bytes.starts_with(b"\0asm") {
        return Err(Error::new(
            codes::INVALID_COMPONENT,
            "the file is not WebAssembly (no \\0asm header)",
            "pass a .wasm component built for wasm32-wasip2 (e.g. target/wasm32-wasip2/release/NAME.wasm)",
        ));
    }
    let (imports, exports) = surface(bytes)?;
    let has = |name: &str| exports.iter().any(|e| e == name);
    let (looks_other, expected, other) = match world {
        World::Workflow => (has("invoke") && !has("run"), "run", "an activity"),
        World::Activity => (has("run") && !has("invoke"), "invoke", "a workflow"),
    };
    let wanted = if world == World::Workflow {
        "workflow"
    } else {
        "activity"
    };
    if looks_other {
        return Err(Error::new(
            codes::WRONG_WORLD,
            format!(
                "this component is {other} component, not {}",
                if wanted == "workflow" {
                    "a workflow"
                } else {
                    "an activity"
                }
            ),
            if world == World::Workflow {
                "pass it as an activity (CLI: --activity; API: upload with ?kind=activity), and a workflow component as the workflow"
            } else {
                "pass it as the workflow (CLI: the first argument; API: upload with ?kind=workflow), not as an activity"
            },
        ));
    }
    if !has(expected) {
        return Err(Error::new(
            codes::WRONG_WORLD,
            format!(
                "the component does not export `{expected}` of the cairn:workflow/{wanted} world (it exports: {})",
                exports.join(", ")
            ),
            format!("build it against wit/ world `{wanted}` (the Rust SDK's `cairn_sdk::{wanted}!` macro does this)"),
        ));
    }
    // The WASI a guest toolchain brings is linked for both worlds (with
    // deterministic implementations for workflows); activities add wasi:http.
    const WASI: &[&str] = &[
        "wasi:io/",
        "wasi:clocks/",
        "wasi:random/",
        "wasi:cli/",
        "wasi:filesystem/",
        "wasi:sockets/",
    ];
    let own: &[&str] = match world {
        World::Workflow => &["cairn:workflow/context@", "cairn:workflow/types@"],
        World::Activity => &[
            "cairn:workflow/activity-context@",
            "cairn:workflow/types@",
            "wasi:http/",
        ],
    };
    for name in &imports {
        let allowed = WASI.iter().chain(own).any(|p| name.starts_with(p));
        if !allowed {
            let (message, hint) = if world == World::Workflow && name.starts_with("cairn:workflow/activity-context") {
                (
                    "this component is an activity component, not a workflow".to_owned(),
                    "pass it as an activity (CLI: --activity; API: upload with ?kind=activity)".to_owned(),
                )
            } else if world == World::Workflow && name.starts_with("wasi:http/") {
                (
                    format!("workflows cannot import `{name}`: a workflow has no network"),
                    "move the HTTP call into an activity; componentize-js adds wasi:http by default: build with `-d http fetch-event`".to_owned(),
                )
            } else {
                (
                    format!("the component imports `{name}`, which a {wanted} cannot use"),
                    format!("build against the cairn:workflow/{wanted} world and the WASI 0.2 interfaces only"),
                )
            };
            return Err(Error::new(codes::UNSUPPORTED_IMPORT, message, hint));
        }
    }
    Ok(())
}

fn link_error(e: impl std::fmt::Display) -> Error {
    Error::new(
        codes::UNSUPPORTED_IMPORT,
        format!("the component cannot be linked: {e}"),
        "rebuild it against this version of wit/ (cairn:workflow@0.1.0) and WASI 0.2",
    )
}

impl WorkflowComponent {
    pub(super) fn new(engine: &Engine, component: Component) -> Result<WorkflowComponent> {
        let pre = engine.workflow_linker.instantiate_pre(&component).map_err(link_error)?;
        let pre = WorkflowPre::new(pre).map_err(|e| {
            Error::new(
                codes::WRONG_WORLD,
                format!("the component's `run` does not match the workflow world: {e}"),
                "rebuild it against wit/",
            )
        })?;
        Ok(WorkflowComponent {
            pre,
            spares: Arc::default(),
        })
    }
}

impl ActivityComponent {
    pub(super) async fn new(engine: &Engine, digest: &str, component: Component) -> Result<ActivityComponent> {
        let pre = engine.activity_linker.instantiate_pre(&component).map_err(link_error)?;
        let pre = ActivityPre::new(pre).map_err(|e| {
            Error::new(
                codes::WRONG_WORLD,
                format!("the component's exports do not match the activity world: {e}"),
                "rebuild it against wit/",
            )
        })?;
        let names = super::activity_host::list_names(engine, &pre).await?;
        Ok(ActivityComponent {
            digest: digest.to_owned(),
            names,
            pre,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_artifacts_are_collected_and_current_ones_kept() {
        let wasm = wasmtime::Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let current = format!("abc-{}.cwasm", engine_tag(&wasm));
        for name in [
            current.as_str(),
            "abc-0000000000000000.cwasm",
            "abc-x.cwasm.tmp42",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"12345").unwrap();
        }
        assert_eq!(
            collect_artifacts(&wasm, dir.path()),
            5,
            "only the other configuration's artifact"
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [current.as_str(), "abc-x.cwasm.tmp42", "notes.txt"]);
    }
}
