//! The error type of workflows and activities.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An error returned by a workflow or an activity: a stable code, a message,
/// whether a retry may help (activities), and optional JSON details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Stable machine-readable code, e.g. `card-declined`.
    pub code: String,
    /// One line for humans.
    pub message: String,
    /// Whether the host should retry the activity attempt that returned it.
    pub retryable: bool,
    /// Optional structured details.
    pub details: Option<serde_json::Value>,
}

impl Failure {
    /// A failure that is not retried.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    /// A failure after which the host retries the activity (transient errors).
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            retryable: true,
            ..Failure::new(code, message)
        }
    }

    /// Whether this failure reports a cancellation of the execution.
    pub fn is_cancelled(&self) -> bool {
        self.code == "cancelled"
    }

    /// Attaches JSON details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Failure {}

/// Converts between the SDK failure and a generated bindings' failure record.
macro_rules! failure_conversions {
    ($ty:path) => {
        impl From<$crate::Failure> for $ty {
            fn from(f: $crate::Failure) -> Self {
                Self {
                    code: f.code,
                    message: f.message,
                    retryable: f.retryable,
                    details: f.details.map(|d| d.to_string()),
                }
            }
        }
        impl From<$ty> for $crate::Failure {
            fn from(f: $ty) -> Self {
                $crate::Failure {
                    code: f.code,
                    message: f.message,
                    retryable: f.retryable,
                    details: f.details.and_then(|d| serde_json::from_str(&d).ok()),
                }
            }
        }
    };
}
pub(crate) use failure_conversions;

/// Runs a user's typed function on JSON text: decode the input, call,
/// encode the output. Shared by the workflow and activity glue.
#[allow(dead_code)]
pub(crate) fn run_typed<I, O, E>(input: &str, f: fn(I) -> Result<O, E>) -> Result<String, Failure>
where
    I: serde::de::DeserializeOwned,
    O: Serialize,
    E: Into<Failure>,
{
    let input = decode_input(input)?;
    let output = f(input).map_err(Into::into)?;
    encode_output(&output)
}

/// Decodes a JSON input for the user's function, or explains why it cannot.
pub(crate) fn decode_input<I: serde::de::DeserializeOwned>(input: &str) -> Result<I, Failure> {
    serde_json::from_str(input)
        .map_err(|e| Failure::new("invalid-input", format!("input does not match the expected type: {e}")))
}

/// Encodes a user's output as JSON.
pub(crate) fn encode_output<O: Serialize>(output: &O) -> Result<String, Failure> {
    serde_json::to_string(output)
        .map_err(|e| Failure::new("invalid-output", format!("output cannot be encoded as JSON: {e}")))
}
