//! The workspace integration tests, one test binary (as wasmtime's `tests/all`):
//! each module was a binary of its own, and each of them linked the executor
//! (wasmtime, Cranelift) again. Every test starts its own nats-server, so the
//! modules run side by side like the tests inside one module always did.
//!
//! One module or one test: `cargo test -p revenant-tests --test all durability::`;
//! the ignored measurement: `cargo test -p revenant-tests --test all oplog_speed -- --ignored --nocapture`.

mod common;

mod bad_input;
mod control;
mod delete;
mod durability;
mod encryption;
mod ephemeral;
mod examples;
mod faults;
mod group_commit;
mod harness;
mod hostile;
mod http;
mod keys;
mod large;
mod nats_auth;
mod nats_layer;
mod oplog_speed;
mod promises;
mod python_client;
mod results;
mod rpc;
mod schedules;
mod simulate_crash;
mod snapshots;
mod subscriptions;
mod takeover;
mod updates;
mod waiting;
