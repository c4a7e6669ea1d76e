//! The executor service: builds what every part shares ([`crate::context`]),
//! starts shard ownership ([`crate::shards`], which runs each held shard with
//! [`crate::shard`]), the call bridge ([`crate::bridge`]), the control bridge
//! ([`crate::control`]), the subscriptions ([`crate::subscriptions`]) and the metrics endpoint, and stops them all gracefully.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use revenant_nats::Nats;
use revenant_types::ExecutorId;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::components::{ComponentCache, ComponentError};
use crate::config::ExecutorOptions;
use crate::context::WorkerEnv;
use crate::engine;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Nats(#[from] revenant_nats::Error),
    #[error("invalid executor id: {0}")]
    Id(#[from] revenant_types::NameError),
    #[error("work directory {0}: {1}")]
    WorkDir(String, std::io::Error),
    #[error("cannot serve metrics on {0}: {1}")]
    Metrics(String, std::io::Error),
}

/// A running executor's handle.
pub struct Executor {
    pub id: ExecutorId,
}

/// Runs an executor until `shutdown` resolves, then releases its shards.
pub async fn run(
    opts: ExecutorOptions,
    nats: Nats,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let id =
        ExecutorId::new(opts.id.clone().unwrap_or_else(|| {
            format!("exec-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
        }))?;
    let work_dir = opts.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| RunError::WorkDir(work_dir.display().to_string(), e))?;
    let engine = engine::new_engine(&opts)?;
    let room = room_limit(opts.max_workers_in_memory);
    let components = Arc::new(
        ComponentCache::new(engine, nats.clone(), opts.cache_dir.clone())?
            .with_capacity(opts.component_cache_size),
    );
    let opts = Arc::new(opts);
    let metrics = Arc::new(crate::metrics::ExecutorMetrics::default());
    let env = Arc::new(WorkerEnv {
        nats: nats.clone(),
        components,
        opts: opts.clone(),
        dirs: crate::dirs::DirPool::new(work_dir.clone()),
        work_dir,
        metrics: metrics.clone(),
        controls: Default::default(),
        room: crate::context::Room::new(room),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    if let Some(addr) = &opts.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| RunError::Metrics(addr.clone(), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| RunError::Metrics(addr.clone(), e))?;
        tracing::info!(executor = %id, "metrics on http://{local}/metrics");
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let stopped = async move {
                let _ = stop.changed().await;
            };
            if let Err(e) = crate::metrics::serve(listener, metrics, stopped).await {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        });
    }

    tracing::info!(executor = %id, shards = nats.options().shards, "executor starting");
    tasks.spawn(crate::bridge::call_bridge(nats.clone(), stop_rx.clone()));
    tasks.spawn(crate::control::control_bridge(env.clone(), stop_rx.clone()));
    tasks.spawn(crate::drill::listen(
        nats.clone(),
        id.clone(),
        opts.allow_crash_drills,
        stop_rx.clone(),
    ));
    tasks.spawn(crate::control::inspect_bridge(env.clone(), stop_rx.clone()));
    tasks.spawn(crate::promise_service::run(nats.clone(), stop_rx.clone()));
    tasks.spawn(crate::subscriptions::run(
        nats.clone(),
        env.metrics.clone(),
        id.clone(),
        opts.lease.clone(),
        stop_rx.clone(),
    ));
    tasks.spawn(crate::shards::shard_manager(
        id.clone(),
        env,
        Arc::new(AtomicU64::new(0)),
        stop_rx,
    ));

    shutdown.await;
    tracing::info!(executor = %id, "executor stopping");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// The most workers this executor holds in memory ([`crate::decide::room::limit`]),
/// with a warning when the kernel's map limit lowers `max-workers-in-memory`.
fn room_limit(configured: usize) -> usize {
    const MAX_MAP_COUNT: &str = "/proc/sys/vm/max_map_count";
    let maps = std::fs::read_to_string(MAX_MAP_COUNT)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let limit = crate::decide::room::limit(configured, maps);
    if limit < configured {
        tracing::warn!(
            max_map_count = maps,
            max_workers_in_memory = configured,
            limit,
            "vm.max_map_count leaves room for {limit} workers in memory (each holds about {} memory mappings), not {configured}: raise it (sysctl vm.max_map_count) to hold more",
            crate::decide::room::MAPS_PER_WORKER
        );
    }
    limit
}
