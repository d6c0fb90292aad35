//! End-to-end tests: real components built from `examples/` and
//! `tests/guests/`, real wasmtime, real SQLite, the real `cairn` binary.

mod common;

mod bad_input;
mod cluster;
mod crash;
mod db_faults;
mod examples;
mod limits;
mod replay;
mod runtime_conformance;
mod service;
mod store;
mod timers;
