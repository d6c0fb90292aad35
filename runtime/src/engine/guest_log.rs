//! What guests write to the node's log. A guest's text is escaped before it
//! reaches it — every control character (newlines, ESC, NUL, C1), the
//! bidirectional overrides and the backslash — so a guest can neither start
//! a line of its own (a forged `ERROR` from the node), nor colour, erase or
//! reorder the operator's terminal; and it comes as a field of a line that
//! names the execution, so it is visibly the guest's.

use crate::error::escaped;
use crate::journal::record::LogLevel;

/// A workflow's log line, echoed to the operator's stderr (`cairn run`,
/// a server not started `--quiet`): `[execution] level: text`, one line.
pub(crate) fn workflow_line(execution: &str, level: LogLevel, message: &str) {
    eprintln!("[{execution}] {}: {}", level.as_str(), escaped(message));
}

/// An activity's log line, in the node's log (`CAIRN_LOG=info`), its text
/// a field.
pub(crate) fn activity_line(execution: &str, level: &str, message: &str) {
    tracing::info!(target: "cairn::guest", execution, level, text = %escaped(message), "activity log");
}
