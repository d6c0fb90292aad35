//! Bad input gets a coded error with a hint and writes nothing.

use crate::common::*;

fn assert_rejected(data: &std::path::Path, args: &[&str], code: &str) {
    let out = run(data, args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("error[{code}]")),
        "{args:?}: expected {code}, got: {err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_components_and_inputs_are_rejected_before_anything_is_written() {
    let data = data_dir();
    let junk = data.path().join("junk.wasm");
    std::fs::write(&junk, b"this is not wasm").unwrap();
    let core = data.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let truncated = data.path().join("truncated.wasm");
    let chain_bytes = std::fs::read(wasm("chain")).unwrap();
    std::fs::write(&truncated, &chain_bytes[..chain_bytes.len() / 2]).unwrap();
    let (chain, inc) = (wasm("chain"), wasm("increment"));
    let (chain, inc) = (chain.to_str().unwrap(), inc.to_str().unwrap());

    assert_rejected(
        data.path(),
        &["run", junk.to_str().unwrap(), "--input", "{}"],
        "CAIRN-E001",
    );
    assert_rejected(
        data.path(),
        &["run", core.to_str().unwrap(), "--input", "{}"],
        "CAIRN-E001",
    );
    assert_rejected(
        data.path(),
        &["run", truncated.to_str().unwrap(), "--input", "{}"],
        "CAIRN-E001",
    );
    assert_rejected(data.path(), &["run", inc, "--input", "{}"], "CAIRN-E002");
    assert_rejected(
        data.path(),
        &["run", chain, "--activity", chain, "--input", "{}"],
        "CAIRN-E002",
    );
    assert_rejected(
        data.path(),
        &["run", chain, "--activity", inc, "--input", "{\"n\": 1"],
        "CAIRN-E004",
    );
    assert_rejected(
        data.path(),
        &[
            "run",
            chain,
            "--activity",
            inc,
            "--activity",
            inc,
            "--allow-http",
            "=x",
            "--input",
            "{}",
        ],
        "CAIRN-E016",
    );
    assert_rejected(data.path(), &["run", "/no/such/file.wasm"], "CAIRN-E013");
    assert_rejected(data.path(), &["show", "no-such-execution"], "CAIRN-E005");
    assert_rejected(data.path(), &["list", "--status", "sideways"], "CAIRN-E016");
    assert!(list(data.path()).is_empty(), "no execution was created");
}

#[test]
fn input_of_the_wrong_shape_fails_the_workflow_clearly() {
    let data = data_dir();
    let out = run(
        data.path(),
        &run_args(&wasm("chain"), &wasm("increment"), "{\"m\": 1}", &[]),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("invalid-input"), "{}", stderr(&out));
    assert!(stderr(&out).contains("CAIRN-E015"), "{}", stderr(&out));
}
