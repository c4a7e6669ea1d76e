//! `revenant executor`: one executor against an existing NATS;
//! `revenant executor crash <id>`: a crash drill of a running one.

use std::path::PathBuf;

use revenant_executor::ExecutorOptions;

use crate::NatsArgs;

#[derive(clap::Args, Clone)]
pub struct ExecutorArgs {
    /// Executor id (lease owner); random when not set.
    #[arg(long, env = "REVENANT_EXECUTOR_ID")]
    pub id: Option<String>,
    /// Compiled-component cache directory.
    #[arg(long, env = "REVENANT_CACHE_DIR", default_value = ".revenant/cache")]
    pub cache_dir: PathBuf,
    /// Drop a worker from memory after this many ms without invocations.
    #[arg(long, env = "REVENANT_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Suspend a worker waiting this long for timers or promises only (its instance is
    /// dropped and rebuilt by replay when what it waits for arrives), ms.
    #[arg(long, env = "REVENANT_SUSPEND_AFTER_MS", default_value_t = 10_000)]
    pub suspend_after_ms: u64,
    /// The largest result an invocation may return, bytes (larger: `result-too-large`).
    #[arg(long, env = "REVENANT_MAX_RESULT_BYTES", default_value_t = 1 << 20)]
    pub max_result_bytes: usize,
    /// Invocations a worker holds in memory before it parks them in its oplog.
    #[arg(long, env = "REVENANT_MAX_HELD_PER_WORKER", default_value_t = 32)]
    pub max_held_per_worker: usize,
    /// Workers kept in memory at most (lowered, with a warning, to what the kernel's
    /// vm.max_map_count leaves room for: about 8 memory mappings each); a worker to be
    /// brought in past it waits while idle ones are dropped.
    #[arg(long, env = "REVENANT_MAX_WORKERS_IN_MEMORY", default_value_t = 10_000)]
    pub max_workers_in_memory: usize,
    /// Deadline of one invocation attempt, ms.
    #[arg(long, env = "REVENANT_INVOCATION_TIMEOUT_MS", default_value_t = 60_000)]
    pub invocation_timeout_ms: u64,
    /// Linear memory limit per worker, MiB.
    #[arg(long, env = "REVENANT_MEMORY_LIMIT_MB", default_value_t = 256)]
    pub memory_limit_mb: usize,
    /// Attempts per trapping invocation before the worker is failed.
    #[arg(long, env = "REVENANT_RETRY_ATTEMPTS", default_value_t = 3)]
    pub retry_attempts: u32,
    /// Shard lease TTL, ms.
    #[arg(long, env = "REVENANT_LEASE_TTL_MS", default_value_t = 1_000)]
    pub lease_ttl_ms: u64,
    /// Shard lease renewal interval, ms.
    #[arg(long, env = "REVENANT_LEASE_RENEW_MS", default_value_t = 250)]
    pub lease_renew_ms: u64,
    /// Serve Prometheus metrics on http://<addr>/metrics (e.g. 127.0.0.1:9464).
    #[arg(long, env = "REVENANT_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Take crash drills: `revenant executor crash <id>` makes this process kill itself
    /// as `kill -9` would (for testing failover). Off by default: drills are refused.
    #[arg(long, env = "REVENANT_ALLOW_CRASH_DRILLS")]
    pub allow_crash_drills: bool,
    /// Which results go into the `RVN_RESULTS` index, the key-only lookup
    /// (`GET /v1/invocations/{key}`): `requested` (results no oplog holds, invocations
    /// published with `Rvn-Result-Index: 1` as the router and the CLI do, and, after the
    /// ack, results of workers whose oplogs snapshots trim; a plain invocation is two
    /// stored messages) or `all` (every result; journaled ones after the ack). Readers
    /// that know the worker find every journaled result in its oplog either way.
    #[arg(long, env = "REVENANT_RESULTS_INDEX", default_value = "requested")]
    pub results_index: revenant_executor::ResultsIndex,
}

/// `revenant executor [OPTIONS]` runs one; `revenant executor crash <id>` drills one.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExecutorCommand {
    #[command(subcommand)]
    pub action: Option<ExecutorAction>,
    #[command(flatten)]
    pub args: ExecutorArgs,
}

#[derive(clap::Subcommand)]
pub enum ExecutorAction {
    /// Crash drill: the executor with this id kills its own process at once, as
    /// `kill -9` would (no lease released, nothing finished); other executors take
    /// over its shards and recover its workers by replay. Refused unless that executor
    /// was started with --allow-crash-drills. `revenant status` lists executor ids.
    Crash {
        /// The executor's id.
        id: String,
        /// How long to wait for its answer, ms.
        #[arg(long, default_value_t = 5_000)]
        timeout_ms: u64,
    },
}

impl ExecutorArgs {
    pub fn options(&self) -> ExecutorOptions {
        let mut o = ExecutorOptions {
            id: self.id.clone(),
            cache_dir: self.cache_dir.clone(),
            idle_timeout_ms: self.idle_timeout_ms,
            suspend_after_ms: self.suspend_after_ms,
            max_result_bytes: self.max_result_bytes,
            max_held_per_worker: self.max_held_per_worker,
            max_workers_in_memory: self.max_workers_in_memory,
            invocation_timeout_ms: self.invocation_timeout_ms,
            memory_limit_bytes: self.memory_limit_mb << 20,
            metrics_listen: self.metrics_listen.clone(),
            allow_crash_drills: self.allow_crash_drills,
            results_index: self.results_index,
            ..ExecutorOptions::default()
        };
        o.retry.max_attempts = self.retry_attempts;
        o.lease.ttl_ms = self.lease_ttl_ms;
        o.lease.renew_every_ms = self.lease_renew_ms;
        o
    }
}

pub async fn run(nats_args: NatsArgs, cmd: ExecutorCommand) -> anyhow::Result<()> {
    let nats = super::connect(&nats_args).await?;
    match cmd.action {
        None => {
            revenant_executor::run(
                cmd.args.options(),
                nats,
                super::shutdown_signal_then_force(),
            )
            .await?
        }
        Some(ExecutorAction::Crash { id, timeout_ms }) => {
            let id = revenant_types::names::ExecutorId::new(id)?;
            let answer = nats
                .crash_executor(&id, std::time::Duration::from_millis(timeout_ms))
                .await?;
            println!(
                "executor {} is crashing (killed as by kill -9); its shards go to other executors once its leases lapse",
                answer.executor
            );
        }
    }
    Ok(())
}
