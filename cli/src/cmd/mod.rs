//! One module per command.

pub mod bench;
pub mod component;
pub mod connect;
pub mod deploy;
pub mod example;
pub mod executor;
pub mod invoke;
pub mod keys;
pub mod manifest;
pub mod new;
pub mod promise;
pub mod router;
pub mod schedule;
pub mod status;
pub mod subscription;
pub mod token;
pub mod up;
pub mod worker;
pub mod worker_export;

use anyhow::Context;
use revenant_nats::Nats;

use crate::NatsArgs;

/// Connects and makes sure every stream and bucket exists.
pub async fn connect(args: &NatsArgs) -> anyhow::Result<Nats> {
    let nats = Nats::connect(&args.options()).await?;
    nats.provision()
        .await
        .context("provisioning Revenant's streams and buckets")?;
    Ok(nats)
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// [`shutdown_signal`] for a graceful stop that may take long (running invocations
/// finish, leases are released — seconds of timeouts each when NATS is away): a second
/// Ctrl-C or SIGTERM ends the process at once, as a crash would (its workers are
/// recovered by replay; its leases lapse).
pub async fn shutdown_signal_then_force() {
    shutdown_signal().await;
    eprintln!(
        "stopping gracefully (running invocations finish first); Ctrl-C again to stop at once"
    );
    tokio::spawn(async {
        shutdown_signal().await;
        eprintln!("stopping at once: workers held here are recovered by replay elsewhere");
        std::process::exit(130);
    });
}
