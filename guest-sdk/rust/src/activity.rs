//! The activity side: side-effecting functions the host runs and retries.

use crate::Failure;
use crate::failure::{failure_conversions, run_typed};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Generated bindings of the `activity` world (not for direct use).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "cairn:workflow/activity",
        pub_export_macro: true,
        export_macro_name: "__export_cairn_activity",
        default_bindings_module: "cairn_sdk::activity::bindings",
        generate_all,
    });
}

pub mod http;

use bindings::cairn::workflow::activity_context as ctx;
use bindings::cairn::workflow::types as wit;

failure_conversions!(wit::Failure);

/// Registers the activities of this component by name.
///
/// ```ignore
/// fn increment(n: u64) -> Result<u64, Failure> { Ok(n + 1) }
/// cairn_sdk::activities! { "increment" => increment }
/// ```
#[macro_export]
macro_rules! activities {
    ($($name:literal => $f:path),+ $(,)?) => {
        struct __CairnActivities;
        impl $crate::activity::bindings::Guest for __CairnActivities {
            fn activities() -> ::std::vec::Vec<::std::string::String> {
                ::std::vec![$(::std::string::String::from($name)),+]
            }
            fn invoke(
                name: ::std::string::String,
                input: ::std::string::String,
            ) -> ::core::result::Result<
                ::std::string::String,
                $crate::activity::bindings::cairn::workflow::types::Failure,
            > {
                match name.as_str() {
                    $($name => $crate::activity::__invoke(&input, $f),)+
                    other => ::core::result::Result::Err($crate::Failure::new(
                        "unknown-activity",
                        ::std::format!("this component has no activity named {other}"),
                    ).into()),
                }
            }
        }
        $crate::activity::bindings::__export_cairn_activity!(__CairnActivities);
    };
}

/// Glue between the generated export and the user's typed function.
#[doc(hidden)]
pub fn __invoke<I, O, E>(input: &str, f: fn(I) -> Result<O, E>) -> Result<String, wit::Failure>
where
    I: DeserializeOwned,
    O: Serialize,
    E: Into<Failure>,
{
    Ok(run_typed(input, f)?)
}

/// The id of the execution that called this activity.
pub fn execution_id() -> String {
    ctx::execution_id()
}

/// The same on every attempt of this call (also after recovery): pass it to
/// external systems so the side effect happens once.
pub fn idempotency_key() -> String {
    ctx::idempotency_key()
}

/// This attempt's number, starting at 1.
pub fn attempt() -> u32 {
    ctx::attempt()
}

/// Writes an informational log line attached to the execution.
pub fn log(message: impl AsRef<str>) {
    ctx::log(wit::LogLevel::Info, message.as_ref())
}
