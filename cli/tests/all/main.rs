//! The multi-process tests of the `revenant` binary (`CARGO_BIN_EXE_revenant`),
//! one test binary (as wasmtime's `tests/all`) instead of one per file, each
//! linking the whole stack again. Each test spawns several executors and
//! measures takeover times, so each runs alone, as it did as a binary of its
//! own: it holds [`common::alone`] for its whole run.
//!
//! One test: `cargo test -p revenant-cli --test all failover -- --nocapture`.

mod common;

mod balancing;
mod cluster;
mod crash_recovery;
mod drills;
mod failover;
mod fencing;
mod languages;
mod nats_auth;
mod promise;
mod rpc;
mod scaffold;
mod schedules;
mod snapshots;
mod soak;
mod subscriptions;
mod traces;
mod waiting;
