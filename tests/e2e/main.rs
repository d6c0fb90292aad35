//! End-to-end tests: real components built from `examples/` and
//! `tests/guests/`, real wasmtime, real SQLite, the real `cairn` binary.

// Test helpers are shared across the modules of this one test crate.
#![allow(unreachable_pub)]

mod common;

mod bad_input;
mod cluster;
mod compat;
mod console;
mod contract;
mod crash;
mod db_faults;
mod defaults;
mod door;
mod examples;
mod fast_path;
mod limits;
mod noisy;
mod observe;
mod quotas;
mod race;
mod replay;
mod runtime_conformance;
mod sdks;
mod server;
mod service;
mod store;
mod strangers;
mod tenants;
mod terminal;
mod timers;
mod traces;
mod waiting;
