//! Hosting strangers' code safely by default: what a guest, a caller or a
//! web page can do without the operator having configured anything.

use crate::common::*;

/// A guest's text reaches the node's log escaped and inside a line that
/// names its execution: it cannot forge a line of the node, colour the
/// terminal, or send it NUL bytes — not through its log, its activity's
/// log, nor its failure.
#[test]
fn guest_text_cannot_forge_the_nodes_log() {
    let data = data_dir();
    let forged = "ok\n2026-12-03T00:00:00Z ERROR cairn::node: forged line\u{1b}[31m red\0nul\r";
    let input = serde_json::json!({ "text": forged }).to_string();
    let out = cairn(data.path())
        .env("CAIRN_LOG", "info")
        .args(run_args(&wasm("forger"), &wasm("forger-activity"), &input, &[]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the workflow fails with the text");
    let err = stderr(&out);
    for bad in ['\u{1b}', '\0', '\r'] {
        assert!(!err.contains(bad), "{bad:?} reached the log: {err:?}");
    }
    assert!(
        !err.lines().any(|l| l.starts_with("2026-12-03T00:00:00Z ERROR")),
        "a forged line of its own: {err}"
    );
    let tail = r"ERROR cairn::node: forged line\u{1b}[31m red\0nul\r";
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(tail)).collect();
    // The workflow's log and warning, the activity's log and failure, the
    // execution's failure: each on a line of its own that names it.
    assert!(lines.len() >= 5, "{err}");
    assert!(lines.iter().any(|l| l.contains("] info: ok\\n")), "{err}");
    assert!(lines.iter().any(|l| l.contains("] warn: ok\\n")), "{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cairn::guest") && l.contains("execution=") && l.contains(r"text=ok\n")),
        "{err}"
    );
    assert!(
        lines.iter().any(|l| l.contains("`forge` failed after 1 attempt(s)")),
        "{err}"
    );
    assert!(lines.iter().any(|l| l.starts_with("error[CAIRN-E015]")), "{err}");
}
