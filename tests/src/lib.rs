//! Revenant's integration-test harness, used by every crate's integration
//! tests: real nats-server processes (never mocks), started on free loopback
//! ports with temporary stores and cleaned up on drop, plus small helpers for
//! polling with a deadline instead of sleeping and hoping.
//!
//! Layout:
//! - [`nats_server`]: [`NatsServer`] (single JetStream server, restartable) and
//!   [`NatsCluster`] (JetStream cluster on loopback).
//! - [`http_server`]: a local HTTP server counting its requests (durable HTTP tests).
//! - [`metrics`]: a free address for an executor's metrics endpoint, and one sample's value.
//! - [`otlp`]: an in-process OTLP/HTTP receiver collecting exported spans (tracing tests).
//! - [`revenant`]: in-process executors, deploying guests, invoking workers as a NATS client would.
//! - [`pipeline`]: the clickstream pipeline as a test load, and the check of its results.
//! - [`wait_until`]: poll an async condition until a deadline.

pub mod http_server;
pub mod metrics;
pub mod nats_server;
pub mod otlp;
pub mod pipeline;
pub mod revenant;

use std::future::Future;
use std::time::{Duration, Instant};

pub use nats_server::{NatsCluster, NatsServer, Node, nats_server_binary};

/// Polls `check` every 20 ms until it returns `Some`, panicking with `what`
/// after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
