//! Cairn: durable workflows as sandboxed WebAssembly components.
//!
//! - [`engine`]: wasmtime glue — compiling and caching components, the
//!   deterministic WASI of workflows, the journaled `context` host functions,
//!   and activities with retries.
//! - [`journal`]: entry kinds and the replay cursor.
//! - [`store`]: the [`store::Store`] trait and its backends.
//! - [`scheduler`]: starting, driving, waking and resuming executions.
//! - [`api`]: the HTTP+JSON API of `cairn server`, and its client.
//! - [`cli`]: the `cairn` command.

pub mod api;
pub mod cli;
pub mod engine;
pub mod error;
pub mod journal;
pub mod scheduler;
pub mod store;
