//! User-facing errors: every one has a stable code, a one-line message and a
//! hint that says what to do.
//!
//! The codes come from one table ([`CODES`]): their constants, their HTTP
//! statuses and the tables of `docs/errors.md` (a test checks the document
//! lists exactly them).

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;

/// A stable error code, e.g. `CAIRN-E004`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub &'static str);

/// One row of the code table.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    /// The code.
    pub code: Code,
    /// HTTP status of an API error with this code.
    pub http_status: u16,
    /// What it means (one line, as in `docs/errors.md`).
    pub meaning: &'static str,
    /// What to do about it (as in `docs/errors.md`).
    pub remedy: &'static str,
}

macro_rules! code_table {
    ($( $name:ident = $code:literal, $status:literal, $meaning:literal, $remedy:literal; )*) => {
        /// Every code Cairn can return.
        pub mod codes {
            use super::Code;
            $( #[doc = $meaning] pub const $name: Code = Code($code); )*
        }
        /// The code table: every code with its HTTP status, meaning and remedy.
        pub const CODES: &[CodeInfo] = &[
            $( CodeInfo { code: codes::$name, http_status: $status, meaning: $meaning, remedy: $remedy } ),*
        ];
    };
}

code_table! {
    INVALID_COMPONENT = "CAIRN-E001", 422,
        "The file is not a WebAssembly component (not wasm, a core module, truncated, or not compilable).",
        "Build for `wasm32-wasip2` (or with componentize-py / jco).";
    WRONG_WORLD = "CAIRN-E002", 422,
        "The component implements the wrong world (an activity passed as a workflow or the reverse, or `run`/`invoke` missing or mistyped).",
        "Pass workflows as the first argument and activities with `--activity`; build against `wit/`.";
    UNSUPPORTED_IMPORT = "CAIRN-E003", 422,
        "The component imports something it may not use (e.g. a workflow importing `wasi:http`) or cannot be linked.",
        "Move side effects into activities; build against `cairn:workflow@0.1.0` and WASI 0.2.";
    INVALID_INPUT = "CAIRN-E004", 400,
        "The input is not valid JSON.",
        "Pass JSON, e.g. `--input '{\"n\": 10}'`.";
    NOT_FOUND = "CAIRN-E005", 404,
        "No execution (or component, schedule or route) with that id.",
        "`cairn list`.";
    NONDETERMINISM = "CAIRN-E006", 500,
        "Non-determinism: replay diverged from the journal; the message names the seq, the recorded call and the actual call. The execution is parked; nothing was written.",
        "Run it with the component it started with, or terminate it. Check new code with `cairn replay` first.";
    LEASE_LOST = "CAIRN-E007", 409,
        "This node's lease on the execution is gone; its write was rejected (fencing).",
        "Nothing: the new owner continues.";
    STORE = "CAIRN-E008", 503,
        "The store (database) failed.",
        "Check the data directory / database; retry.";
    UNKNOWN_ACTIVITY = "CAIRN-E009", 500,
        "The workflow called an activity no registered component serves. The execution is parked.",
        "Start it with `--activity` for a component serving that name.";
    GUEST_TRAP = "CAIRN-E010", 500,
        "The guest trapped (panic, `unreachable`, stack overflow). Its stderr is included. A workflow that traps is parked.",
        "Fix the workflow, deploy it as a new version and `cairn unpark ID --version N`.";
    CPU_BUDGET = "CAIRN-E011", 500,
        "The guest used more CPU time than its budget without a host call (CPU it got, not time it waited for a core).",
        "Look for an endless loop; raise `--cpu-budget-ms` if legitimate.";
    MEMORY_LIMIT = "CAIRN-E012", 500,
        "The guest tried to grow memory past its cap (the server's `--memory-limit-mb` or the tenant's `max_instance_memory_mb`), or needs more than a whole memory total on its own.",
        "Look for unbounded growth; raise the limit the message names if legitimate.";
    IO = "CAIRN-E013", 500,
        "A file could not be read or written.",
        "Check the path and permissions.";
    DUPLICATE_ACTIVITY = "CAIRN-E014", 422,
        "Two activity components serve the same activity name.",
        "Pass one component per name.";
    WORKFLOW_FAILED = "CAIRN-E015", 500,
        "The workflow returned a failure (its own code and message are in the text).",
        "See its journal: `cairn history ID` (a server) or `cairn show ID` (the embedded store).";
    INVALID_ARGUMENT = "CAIRN-E016", 400,
        "A command-line or API argument is invalid (id, name, cron, status filter, cursor).",
        "See `cairn <command> --help` or `/openapi.json`.";
    PARKED = "CAIRN-E017", 500,
        "The execution is parked and needs an operator.",
        "See its error: `cairn describe ID` (a server) or `cairn show ID` (the embedded store).";
    CORRUPT_JOURNAL = "CAIRN-E018", 500,
        "The journal (or the bindings) of an execution in the store cannot be decoded.",
        "It was changed outside Cairn; terminate the execution.";
    DB_UNREACHABLE = "CAIRN-E019", 503,
        "The database cannot be reached (refused, bad URL, authentication).",
        "Check `--database` / `CAIRN_DATABASE_URL` and `pg_isready`.";
    DB_UNINITIALIZED = "CAIRN-E020", 503,
        "The database has no Cairn schema, or an older one.",
        "`cairn db migrate` (or start `cairn server`, which migrates).";
    PAYLOAD_TOO_LARGE = "CAIRN-E021", 413,
        "A request body is larger than the server accepts.",
        "Send less, or raise `--max-payload-bytes` / `--max-component-bytes`.";
    ALREADY_FINISHED = "CAIRN-E022", 409,
        "The execution has already finished (signal, cancel, terminate).",
        "Nothing to do; see its result.";
    SERVER = "CAIRN-E023", 502,
        "The Cairn server cannot be reached, or answered something unexpected.",
        "Check `--server` / `CAIRN_SERVER`; start `cairn server`.";
    UNKNOWN_WORKFLOW = "CAIRN-E024", 404,
        "No deployment with that name or version.",
        "`cairn deploy` it first.";
    UNCAUGHT_EXCEPTION = "CAIRN-E025", 500,
        "The workflow raised an exception it did not catch (Python, TypeScript): a bug, not a decision to fail. The execution is parked with the message and the traceback (`details`).",
        "Fix the code, deploy it as a new version and `cairn unpark ID --version N`; or terminate it.";
    NOT_PARKED = "CAIRN-E026", 409,
        "Only a parked execution can be unparked.",
        "See its status with `cairn describe`.";
    METHOD_NOT_ALLOWED = "CAIRN-E027", 405,
        "The API route exists but not with this HTTP method.",
        "See `/openapi.json` for the methods of each route.";
    UNAUTHENTICATED = "CAIRN-E028", 401,
        "The request has no valid token: missing, malformed, unknown, revoked or expired.",
        "Send `Authorization: Bearer <token>` (CLI: `--token` or `CAIRN_TOKEN`); an admin makes tokens with `cairn token create`.";
    FORBIDDEN = "CAIRN-E029", 403,
        "The token's role may not do this.",
        "Use a token with a stronger role (read < operate < deploy < admin).";
    TENANT_EXISTS = "CAIRN-E030", 409,
        "A tenant with that name exists, or the tenant cannot be deleted (it has unfinished executions, or it is `default`).",
        "Pick another name; to delete a busy tenant pass `--force` (its executions are removed).";
    QUOTA_EXCEEDED = "CAIRN-E031", 429,
        "A tenant quota was hit; the message names the limit and its value.",
        "Stay under it, or ask an admin to raise it with `cairn tenant update`.";
    CAPABILITY_DENIED = "CAIRN-E032", 403,
        "The tenant's policy does not allow what the deployment asks (an HTTP host, an import).",
        "Ask an admin to widen the tenant's policy (`cairn tenant update --http-host`), or remove it from the deployment.";
    INSECURE_LISTEN = "CAIRN-E033", 400,
        "The server was asked to listen beyond loopback without authentication.",
        "Start it with `--auth` (and `--admin-token-file`), or listen on 127.0.0.1.";
    RATE_LIMITED = "CAIRN-E034", 429,
        "A tenant's rate quota (API requests, starts or signals per second) was hit; the message names it and its value.",
        "Retry after the seconds in `Retry-After` (the answer's header), or ask an admin to raise it with `cairn tenant update`.";
    ID_REUSED = "CAIRN-E035", 409,
        "An execution with that id exists with another workflow or input (a start with the same id, workflow and input returns the existing one).",
        "Use a new id for new work.";
    CROSS_SITE = "CAIRN-E036", 403,
        "A browser request from elsewhere was refused: its `Host` is not a name the server answers to (DNS rebinding), or a page of another origin tried to change something (`Origin`, `Sec-Fetch-Site`, or a console form without its CSRF token).",
        "Call the server by its IP address, `localhost` or a name of `--allowed-host`; use the console from its own address, or the CLI.";
    UNSUPPORTED_MEDIA_TYPE = "CAIRN-E037", 415,
        "The request body's `Content-Type` is not the one the call takes (`application/json`; `application/wasm` for a component).",
        "Send the header, e.g. `curl -H 'content-type: application/json'`.";
    OPEN_WITH_TOKENS = "CAIRN-E038", 400,
        "The server was told to run without authentication (`--auth=false`) on a store that holds tokens: every local caller, and every web page the operator visits, would act as superuser of every tenant.",
        "Drop `--auth=false` (the server then requires tokens), or revoke the store's tokens (`cairn token revoke`) first.";
}

impl Code {
    /// The code with this text, if Cairn defines it (codes received from a server).
    pub fn parse(text: &str) -> Option<Code> {
        CODES.iter().map(|c| c.code).find(|c| c.0 == text)
    }

    /// Its row of the code table.
    pub fn info(self) -> &'static CodeInfo {
        CODES
            .iter()
            .find(|c| c.code == self)
            .expect("every code constant comes from the table")
    }

    /// HTTP status of an API error with this code.
    pub fn http_status(self) -> u16 {
        self.info().http_status
    }
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
    /// For a rate limit: seconds until a retry can succeed (the API sends
    /// it as `Retry-After`).
    pub retry_after_s: Option<u64>,
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
            retry_after_s: None,
        }
    }

    /// The same error, telling the caller when to retry.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds);
        self
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
            format!("cannot read or write {}: {e}", path.display()),
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

    /// An invalid argument.
    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::new(codes::INVALID_ARGUMENT, message, hint)
    }

    /// Input that is not JSON.
    pub fn invalid_json(what: &str) -> Self {
        Error::new(
            codes::INVALID_INPUT,
            format!("{what} is not valid JSON"),
            "pass JSON, e.g. --input '{\"n\": 10}'",
        )
    }

    /// No execution with this id.
    pub fn no_execution(id: &str) -> Self {
        Error::new(
            codes::NOT_FOUND,
            format!("no execution with id {}", echo(id)),
            "list executions with `cairn list`",
        )
    }

    /// The error as a JSON object `{code, message, hint}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code.0, "message": self.message, "hint": self.hint })
    }
}

/// A caller's value quoted in an error message: escaped (see [`escaped`])
/// and at most 64 characters (longer ones end with `…`), so a huge id is
/// never echoed back whole and a control character never reaches a
/// terminal or a log.
pub fn echo(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        None => escaped(value).into_owned(),
        Some((cut, _)) => format!("{}… ({} characters)", escaped(&value[..cut]), value.chars().count()),
    }
}

/// `text` with every character that could change how a log line reads
/// written as an escape: `\n`, `\r`, `\t`, `\0`, `\\`, `\u{1b}`, ...
pub fn escaped(text: &str) -> Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || c == '\\' || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\\' => out.push_str("\\\\"),
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A message may quote a guest's text: what reaches a terminal is escaped.
        write!(
            f,
            "error[{}]: {}\n  hint: {}",
            self.code.0,
            escaped(&self.message),
            escaped(&self.hint)
        )
    }
}

impl std::error::Error for Error {}

/// The two tables of `docs/errors.md` as the code table renders them: one
/// row per code, and the codes grouped by HTTP status.
pub fn markdown_tables() -> (Vec<String>, Vec<String>) {
    let rows = CODES
        .iter()
        .map(|c| format!("| {} | {} | {} |", c.code.0, c.meaning, c.remedy))
        .collect();
    let mut statuses: Vec<u16> = CODES.iter().map(|c| c.http_status).collect();
    statuses.sort();
    statuses.dedup();
    let by_status = statuses
        .into_iter()
        .map(|s| {
            let codes: Vec<&str> = CODES.iter().filter(|c| c.http_status == s).map(|c| c.code.0).collect();
            format!("| {s} | {} |", codes.join(", "))
        })
        .collect();
    (rows, by_status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_and_caller_text_cannot_start_a_line_or_drive_the_terminal() {
        assert!(matches!(escaped("plain text: ok, «ünïcode»"), Cow::Borrowed(_)));
        let forged = "ok\n2026-12-03T00:00:00Z ERROR cairn::node: forged\u{1b}[31m\0\r\t\\ \u{85}\u{202e}";
        let out = escaped(forged);
        assert_eq!(
            out,
            "ok\\n2026-12-03T00:00:00Z ERROR cairn::node: forged\\u{1b}[31m\\0\\r\\t\\\\ \\u{85}\\u{202e}"
        );
        assert!(!out.chars().any(char::is_control));
        assert_eq!(echo("a\nb"), "a\\nb");
    }

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for c in CODES {
            assert!(seen.insert(c.code.0), "{} twice", c.code.0);
            assert_eq!(Code::parse(c.code.0), Some(c.code));
        }
        assert_eq!(Code::parse("CAIRN-E999"), None);
        assert_eq!(codes::NOT_FOUND.http_status(), 404);
    }

    #[test]
    fn messages_stay_on_one_line() {
        let e = Error::new(codes::IO, "a\nb", "h");
        assert_eq!(e.message, "a b");
        assert_eq!(e.to_string(), "error[CAIRN-E013]: a b\n  hint: h");
    }

    /// `docs/errors.md` lists exactly the codes of the table, as it renders them.
    #[test]
    fn docs_list_exactly_the_codes() {
        let doc = include_str!("../../docs/errors.md");
        let (rows, by_status) = markdown_tables();
        let documented: Vec<&str> = doc.lines().filter(|l| l.starts_with("| CAIRN-E")).collect();
        assert_eq!(
            documented,
            rows,
            "docs/errors.md must hold exactly these rows:\n{}",
            rows.join("\n")
        );
        let documented: Vec<&str> = doc
            .lines()
            .filter(|l| l.len() > 6 && l.starts_with("| ") && l[2..5].chars().all(|c| c.is_ascii_digit()))
            .collect();
        assert_eq!(
            documented,
            by_status,
            "docs/errors.md must hold exactly these status rows:\n{}",
            by_status.join("\n")
        );
    }
}
