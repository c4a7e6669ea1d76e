//! The router's integration tests, one test binary (as wasmtime's `tests/all`)
//! instead of one per file, each linking the whole stack again. Every test
//! starts its own nats-server and routers, so the modules run side by side.
//!
//! One module: `cargo test -p revenant-router --test all gateway::`.

mod auth;
mod common;

mod console;
mod control;
mod events;
mod gateway;
mod inspect;
mod oneshot;
mod promises;
mod rest;
mod schedules;
mod subscriptions;
