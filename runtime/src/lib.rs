//! Cairn: durable workflows as sandboxed WebAssembly components.
//!
//! The layers, each using only those below it (`docs/architecture.md` has
//! the picture and the life of one execution):
//!
//! - [`cli`]: the `cairn` command — parses arguments, calls the node (or a
//!   server through [`api::client`]), renders the answers;
//! - [`api`]: the HTTP+JSON API of `cairn server`, routes over the node;
//! - [`node`]: the only way in — deploy, start, signal, cancel, terminate,
//!   wait, list; drives activations and commits how each one ends;
//! - `engine`: wasmtime glue — components, the deterministic WASI of
//!   workflows, the journaled `context` host functions, activities with
//!   retries (private to the node);
//! - [`journal`]: the typed journal entries and the replay cursor;
//! - `store`: persistence, one small trait per concept, SQLite and
//!   PostgreSQL (private to the node);
//! - [`model`] and [`error`]: the vocabulary and the coded errors all layers share;
//!   [`metrics`]: what the process counts, recorded by every layer;
//!   [`traces`]: OpenTelemetry spans over OTLP, when an endpoint is set;
//!   [`stats`]: samples and quantiles, for the benchmarks.

pub mod api;
pub mod cli;
mod engine;
pub mod error;
pub mod journal;
pub mod metrics;
pub mod model;
pub mod node;
pub mod stats;
mod store;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod traces;

#[cfg(test)]
mod layers;
