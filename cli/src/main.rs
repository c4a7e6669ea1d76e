//! The `revenant` command: `up` (nats-server + executor + examples on a
//! laptop), `executor` (one executor against an existing NATS), and the
//! component / worker / invoke / promise commands. Binaries only parse options and call
//! the library crates.
//!
//! Layout: one module per command under [`cmd`].

mod cmd;

use clap::{Parser, Subcommand};
use revenant_types::config::NatsOptions;

/// Durable WebAssembly workers on NATS JetStream.
#[derive(Parser)]
#[command(name = "revenant", version, about)]
struct Cli {
    #[command(flatten)]
    nats: NatsArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where NATS is and which namespace to use (shared by every command).
#[derive(clap::Args, Clone)]
pub struct NatsArgs {
    /// NATS server URL(s), comma separated.
    #[arg(
        long,
        global = true,
        env = "REVENANT_NATS",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats: String,
    /// Namespace prefix of every subject, stream and bucket.
    #[arg(long, global = true, env = "REVENANT_NAMESPACE", default_value = "rvn")]
    pub namespace: String,
    /// Replicas of every stream and bucket (3 in a cluster).
    #[arg(long, global = true, env = "REVENANT_REPLICAS", default_value_t = 1)]
    pub replicas: usize,
    /// Number of shards (fixed per namespace).
    #[arg(long, global = true, env = "REVENANT_SHARDS", default_value_t = 64)]
    pub shards: u32,
}

impl NatsArgs {
    pub fn options(&self) -> NatsOptions {
        NatsOptions {
            url: self.nats.clone(),
            namespace: self.namespace.clone(),
            replicas: self.replicas,
            shards: self.shards,
            ..NatsOptions::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Start nats-server, an executor and the examples, all in one (for a laptop).
    Up(cmd::up::UpArgs),
    /// Run an executor against an existing NATS.
    Executor(cmd::executor::ExecutorArgs),
    /// Upload and inspect components.
    #[command(subcommand)]
    Component(cmd::component::ComponentCmd),
    /// Create, list, inspect and delete workers.
    #[command(subcommand)]
    Worker(cmd::worker::WorkerCmd),
    /// Invoke a worker's exported function.
    Invoke(cmd::invoke::InvokeArgs),
    /// Complete, show and list promises.
    #[command(subcommand)]
    Promise(cmd::promise::PromiseCmd),
    /// List and cancel scheduled invocations (made with `invoke --at | --in | --cron`).
    #[command(subcommand)]
    Schedule(cmd::schedule::ScheduleCmd),
    /// Run the HTTP router (REST API, user-defined routes, console) against an existing NATS.
    Router(cmd::router::RouterArgs),
    /// Benchmark Revenant against the JetStream floor (starts its own nats-server unless --nats is given).
    Bench(cmd::bench::BenchArgs),
    /// Show live executors, the shards they hold and their workers in memory.
    Status(cmd::status::StatusArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REVENANT_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "info,async_nats=warn,wasmtime=warn,cranelift=warn",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(a) => cmd::up::run(cli.nats, a).await,
        Command::Executor(a) => cmd::executor::run(cli.nats, a).await,
        Command::Component(c) => cmd::component::run(cli.nats, c).await,
        Command::Worker(c) => cmd::worker::run(cli.nats, c).await,
        Command::Invoke(a) => cmd::invoke::run(cli.nats, a).await,
        Command::Promise(c) => cmd::promise::run(cli.nats, c).await,
        Command::Schedule(c) => cmd::schedule::run(cli.nats, c).await,
        Command::Router(a) => cmd::router::run(cli.nats, a).await,
        Command::Bench(a) => cmd::bench::run(cli.nats, a).await,
        Command::Status(a) => cmd::status::run(cli.nats, a).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
