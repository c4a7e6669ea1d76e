//! `revenant bench`: measures Revenant against the JetStream floor, side by
//! side in one run, because these machines are noisy and only ratios travel.
//! It starts its own nats-server (JetStream, file storage, loopback, a
//! temporary store) — or uses the server given with `--nats`, in a fresh
//! namespace — an in-process executor and, for failover, memory, waiting and schedules,
//! child `revenant executor` processes. It prints a table (or `--json`) and exits
//! non-zero when any work was lost or answered wrongly.
//!
//! Layout: [`env`] (servers, executors), [`client`] (invoke-and-await over
//! JetStream), one module per group of sections ([`floor`], [`invoke`],
//! [`recovery`], [`failover`], [`http`], [`waiting`], [`rpc`], [`schedules`], [`pipeline`] (subscriptions), [`languages`]:
//! the counter in Rust, Python and TypeScript) and [`report`] (table,
//! JSON, statistics).
//! Criterion micro-benchmarks of the pure parts live in `executor/benches/`.

mod client;
mod compare;
mod encryption;
mod env;
mod failover;
mod floor;
mod http;
mod invoke;
mod languages;
mod pipeline;
mod recovery;
mod report;
mod rpc;
mod schedules;
mod waiting;

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::NatsArgs;
use report::Report;

/// A part of the bench, selectable with `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Section {
    Floor,
    Latency,
    Throughput,
    HostCalls,
    ColdStart,
    Recovery,
    Failover,
    Memory,
    Http,
    Encryption,
    Waiting,
    Rpc,
    Schedules,
    Languages,
    Pipeline,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Run only these sections (comma separated). Ratios need `floor` in the same run.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Section>,
    /// Print the report as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Floor: sequential requests.
    #[arg(long, default_value_t = 2_000)]
    pub floor_calls: usize,
    /// Floor: pipelined requests (default: --invocations).
    #[arg(long)]
    pub floor_pipelined: Option<usize>,
    /// Latency: sequential invoke-and-await calls on one worker.
    #[arg(long, default_value_t = 2_000)]
    pub latency_calls: usize,
    /// Throughput: workers (also the floor's keys).
    #[arg(long, default_value_t = 1_000)]
    pub workers: usize,
    /// Throughput: invocations in all.
    #[arg(long, default_value_t = 50_000)]
    pub invocations: usize,
    /// Throughput and floor: invocations in flight.
    #[arg(long, default_value_t = 2_000)]
    pub in_flight: usize,
    /// Host calls: clock reads in the heavy invocation.
    #[arg(long, default_value_t = 5_000)]
    pub host_calls: u32,
    /// Host calls: repetitions of each invocation.
    #[arg(long, default_value_t = 20)]
    pub host_reps: usize,
    /// Cold start: new workers to start.
    #[arg(long, default_value_t = 30)]
    pub cold_workers: usize,
    /// Recovery: oplog sizes, entries (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000, 100_000])]
    pub replay_sizes: Vec<usize>,
    /// Recovery: history lengths, invocations, recovered from snapshots beside a full
    /// replay (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000u64, 100_000, 1_000_000])]
    pub recovery_invocations: Vec<u64>,
    /// The in-process executor's results index (`all` or `requested`; see `executor --help`).
    #[arg(long, env = "REVENANT_RESULTS_INDEX", default_value = "requested")]
    pub results_index: revenant_executor::ResultsIndex,
    /// Recovery: the snapshot interval of the bounded recovery, invocations.
    #[arg(long, default_value_t = 1_000)]
    pub snapshot_every: u64,
    /// Recovery: recoveries timed per worker in the bounded recovery.
    #[arg(long, default_value_t = 5)]
    pub recovery_runs: usize,
    /// Failover: kills per lease setting.
    #[arg(long, default_value_t = 5)]
    pub failover_runs: usize,
    /// Failover: the short lease TTL, ms.
    #[arg(long, default_value_t = 500)]
    pub short_lease_ttl_ms: u64,
    /// Failover: the short lease renewal interval, ms.
    #[arg(long, default_value_t = 100)]
    pub short_lease_renew_ms: u64,
    /// Memory: workers created and then suspended.
    #[arg(long, default_value_t = 10_000)]
    pub memory_workers: usize,
    /// HTTP: invocations in the throughput run through the router.
    #[arg(long, default_value_t = 20_000)]
    pub http_invocations: usize,
    /// Invocations' journals and results written per mode by the encryption section.
    #[arg(long, default_value_t = 10_000)]
    pub encryption_invocations: usize,
    /// HTTP: requests in flight (each is a connection).
    #[arg(long, default_value_t = 256)]
    pub http_in_flight: usize,
    /// Waiting: the child executors' `--suspend-after-ms` (short, so every wait suspends).
    #[arg(long, default_value_t = 500)]
    pub suspend_after_ms: u64,
    /// Waiting: concurrent durable sleeps, one per worker, for the timer lateness.
    #[arg(long, default_value_t = 1_000)]
    pub sleeps: usize,
    /// Waiting: length of each of those sleeps, ms (a wait due within 2.2 s is not
    /// suspended: its schedule would wake it up to 2 s early).
    #[arg(long, default_value_t = 3_000)]
    pub sleep_ms: u64,
    /// Waiting: workers suspended in one-hour sleeps for the memory per sleeper.
    #[arg(long, default_value_t = 10_000)]
    pub sleepers: usize,
    /// Waiting: workers awaiting a promise each, then completed one at a time.
    #[arg(long, default_value_t = 1_000)]
    pub promise_waiters: usize,
    /// RPC: sequential invocations with one typed call each (and as many plain ones).
    #[arg(long, default_value_t = 1_000)]
    pub rpc_calls: usize,
    /// RPC: async calls in the fan-out.
    #[arg(long, default_value_t = 100)]
    pub fan_out: u32,
    /// Pipeline: messages drained by a one-stage subscription (and by the floor).
    #[arg(long, default_value_t = 20_000)]
    pub pipeline_messages: usize,
    /// Pipeline: keys (workers) the messages are spread over.
    #[arg(long, default_value_t = 1_000)]
    pub pipeline_keys: usize,
    /// Pipeline: single messages timed end to end.
    #[arg(long, default_value_t = 200)]
    pub pipeline_latency_samples: usize,
    /// Schedules: one-off schedules due in the same second (firing lateness).
    #[arg(long, default_value_t = 1_000)]
    pub schedule_firings: usize,
    /// Schedules: pending schedules created (time, stream size, executor memory).
    #[arg(long, default_value_t = 10_000)]
    pub pending_schedules: usize,
    /// How long to wait for any one answer, seconds (a missing answer is lost work).
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// Also write this run's report as JSON to this file (for a later --compare).
    #[arg(long)]
    pub save: Option<std::path::PathBuf>,
    /// Print this run's figures against a saved run's (a `--json` or `--save` file):
    /// the ratio of each and whether it is better or worse.
    #[arg(long)]
    pub compare: Option<std::path::PathBuf>,
}

pub async fn run(nats_args: NatsArgs, args: BenchArgs) -> anyhow::Result<()> {
    // Read first: a wrong path fails now, not after minutes of measuring.
    let saved = args
        .compare
        .as_ref()
        .map(|path| -> anyhow::Result<Report> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the saved report {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a saved bench report (expected the JSON of `revenant bench --json` or `--save`)",
                    path.display()
                )
            })
        })
        .transpose()?;
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; WebAssembly figures are meaningless (use --release)"
        );
    }
    let selected = |s: Section| args.only.is_empty() || args.only.contains(&s);
    let mut env = env::Env::start(&nats_args, nats_given()).await?;
    env.results_index = args.results_index;
    let mut report = Report::default();
    machine(&env, &mut report);

    use Section::*;
    let in_process = [
        Latency, Throughput, HostCalls, ColdStart, Recovery, Http, Rpc, Languages, Pipeline,
    ];
    if in_process.iter().any(|s| selected(*s)) {
        env.start_executor().await?;
        eprintln!("warming up the executor (compiles the counter component)");
        env.client
            .invoke_u64(
                &env::counter("warmup"),
                "add",
                "[0]",
                std::time::Duration::from_secs(120),
            )
            .await?;
    }
    let sections: Vec<_> = Section::value_variants()
        .iter()
        .filter(|s| selected(**s))
        .collect();
    for (n, section) in sections.iter().enumerate() {
        let name = section
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        let started = crate::progress::step(&format!(
            "bench: section {} of {}: {name}",
            n + 1,
            sections.len()
        ));
        let r = &mut report;
        let result = match section {
            Floor => floor::run(&env, &args, r).await,
            Latency => invoke::latency(&env, &args, r).await,
            Throughput => invoke::throughput(&env, &args, r).await,
            HostCalls => invoke::host_calls(&env, &args, r).await,
            ColdStart => invoke::cold_start(&env, &args, r).await,
            Recovery => match recovery::replay(&env, &args, r).await {
                Ok(()) => recovery::bounded(&env, &args, r).await,
                e => e,
            },
            Failover => failover::failover(&env, &args, r).await,
            Memory => failover::memory(&env, &args, r).await,
            Http => http::run(&env, &args, r).await,
            Encryption => encryption::run(&env, &args, r).await,
            Waiting => waiting::run(&env, &args, r).await,
            Rpc => rpc::run(&env, &args, r).await,
            Schedules => schedules::run(&env, &args, r).await,
            Languages => languages::run(&env, &args, r).await,
            Pipeline => pipeline::run(&env, &args, r).await,
        };
        eprintln!(
            "bench: {name} took {:.0} s",
            started.elapsed().as_secs_f64()
        );
        if let Err(e) = result {
            report.fail(&name, format!("section did not complete: {e:#}"));
        }
    }
    env.stop().await;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("\n{}", report.table());
    }
    if let Some(path) = &args.save {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report saved to {}", path.display());
    }
    if let Some(saved) = &saved {
        println!("\n{}", compare::compare(saved, &report));
    }
    if !report.failures.is_empty() {
        bail!(
            "{} failure(s): work was lost or answered wrongly (see above)",
            report.failures.len()
        );
    }
    Ok(())
}

/// Whether the user chose a server (flag or environment) rather than the default URL.
fn nats_given() -> bool {
    std::env::var_os("REVENANT_NATS").is_some()
        || std::env::args().any(|a| a == "--nats" || a.starts_with("--nats="))
}

fn machine(env: &env::Env, r: &mut Report) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut m = vec![
        ("cpus".to_owned(), cpus.to_string()),
        ("cpu".to_owned(), cpu),
        ("kernel".to_owned(), kernel.trim().to_owned()),
        (
            "build".to_owned(),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_owned(),
        ),
        ("nats".to_owned(), env.url.clone()),
        (
            "storage".to_owned(),
            format!("{:?}", env.nats_options().storage).to_lowercase(),
        ),
        ("shards".to_owned(), env.nats_options().shards.to_string()),
    ];
    if let Some(v) = &env.server_version {
        m.push(("nats-server".to_owned(), v.clone()));
    }
    r.machine = m;
}
