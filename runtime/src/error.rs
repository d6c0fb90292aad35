//! User-facing errors: every one has a stable code, a one-line message and a
//! hint that says what to do. The codes are listed in `docs/errors.md`.

use std::fmt;

/// A stable error code, e.g. `CAIRN-E004`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub &'static str);

/// Every code Cairn can return, with its default hint.
pub mod codes {
    use super::Code;
    /// The file is not a WebAssembly component.
    pub const INVALID_COMPONENT: Code = Code("CAIRN-E001");
    /// The component does not implement the expected world.
    pub const WRONG_WORLD: Code = Code("CAIRN-E002");
    /// The component imports something a workflow may not use.
    pub const UNSUPPORTED_IMPORT: Code = Code("CAIRN-E003");
    /// The input is not valid JSON.
    pub const INVALID_INPUT: Code = Code("CAIRN-E004");
    /// No execution with that id.
    pub const NOT_FOUND: Code = Code("CAIRN-E005");
    /// Replay diverged from the journal.
    pub const NONDETERMINISM: Code = Code("CAIRN-E006");
    /// This node no longer holds the execution's lease.
    pub const LEASE_LOST: Code = Code("CAIRN-E007");
    /// The database failed.
    pub const STORE: Code = Code("CAIRN-E008");
    /// The workflow called an activity no registered component serves.
    pub const UNKNOWN_ACTIVITY: Code = Code("CAIRN-E009");
    /// The guest trapped (panic, unreachable, stack overflow...).
    pub const GUEST_TRAP: Code = Code("CAIRN-E010");
    /// The guest ran longer than its CPU budget without a host call.
    pub const CPU_BUDGET: Code = Code("CAIRN-E011");
    /// The guest tried to grow its memory past the cap.
    pub const MEMORY_LIMIT: Code = Code("CAIRN-E012");
    /// A file could not be read or written.
    pub const IO: Code = Code("CAIRN-E013");
    /// Two activity components serve the same activity name.
    pub const DUPLICATE_ACTIVITY: Code = Code("CAIRN-E014");
    /// The workflow returned a failure.
    pub const WORKFLOW_FAILED: Code = Code("CAIRN-E015");
    /// A command-line argument is invalid.
    pub const INVALID_ARGUMENT: Code = Code("CAIRN-E016");
    /// The execution is parked and needs an operator.
    pub const PARKED: Code = Code("CAIRN-E017");
    /// The journal in the store cannot be decoded.
    pub const CORRUPT_JOURNAL: Code = Code("CAIRN-E018");
    /// The database cannot be reached (refused, bad URL, authentication).
    pub const DB_UNREACHABLE: Code = Code("CAIRN-E019");
    /// The database has no (or an older) Cairn schema.
    pub const DB_UNINITIALIZED: Code = Code("CAIRN-E020");
    /// A request body is larger than the server accepts.
    pub const PAYLOAD_TOO_LARGE: Code = Code("CAIRN-E021");
    /// The execution has already finished.
    pub const ALREADY_FINISHED: Code = Code("CAIRN-E022");
    /// The server cannot be reached, or answered something unexpected.
    pub const SERVER: Code = Code("CAIRN-E023");
    /// No deployment with that name (or version).
    pub const UNKNOWN_WORKFLOW: Code = Code("CAIRN-E024");
}

/// The code with this text, if Cairn defines it (codes received from a server).
pub fn known_code(text: &str) -> Option<Code> {
    use codes::*;
    [
        INVALID_COMPONENT,
        WRONG_WORLD,
        UNSUPPORTED_IMPORT,
        INVALID_INPUT,
        NOT_FOUND,
        NONDETERMINISM,
        LEASE_LOST,
        STORE,
        UNKNOWN_ACTIVITY,
        GUEST_TRAP,
        CPU_BUDGET,
        MEMORY_LIMIT,
        IO,
        DUPLICATE_ACTIVITY,
        WORKFLOW_FAILED,
        INVALID_ARGUMENT,
        PARKED,
        CORRUPT_JOURNAL,
        DB_UNREACHABLE,
        DB_UNINITIALIZED,
        PAYLOAD_TOO_LARGE,
        ALREADY_FINISHED,
        SERVER,
        UNKNOWN_WORKFLOW,
    ]
    .into_iter()
    .find(|c| c.0 == text)
}

/// A user-facing error.
#[derive(Debug, Clone)]
pub struct Error {
    /// Stable code.
    pub code: Code,
    /// One line saying what went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Result with a user-facing error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an error from its parts.
    pub fn new(code: Code, message: impl Into<String>, hint: impl Into<String>) -> Self {
        let message: String = message.into();
        // Keep the message on one line.
        let message = message.replace('\n', " ");
        Error {
            code,
            message,
            hint: hint.into(),
        }
    }

    /// A database failure.
    pub fn store(e: impl fmt::Display) -> Self {
        Error::new(
            codes::STORE,
            format!("the store failed: {e}"),
            "check that the data directory or database is reachable and writable, then retry",
        )
    }

    /// A file that could not be read or written.
    pub fn io(path: &std::path::Path, e: impl fmt::Display) -> Self {
        Error::new(
            codes::IO,
            format!("{}: {e}", path.display()),
            "check the path and its permissions",
        )
    }

    /// A lost lease (another node owns the execution now).
    pub fn lease_lost(execution_id: &str) -> Self {
        Error::new(
            codes::LEASE_LOST,
            format!("execution {execution_id} is owned by another node now; this node's write was rejected"),
            "nothing to do: the owner continues the execution",
        )
    }

    /// The error as a JSON object `{code, message, hint}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code.0, "message": self.message, "hint": self.hint })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}\n  hint: {}", self.code.0, self.message, self.hint)
    }
}

impl std::error::Error for Error {}
