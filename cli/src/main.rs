//! The `revenant` command: `up` (nats-server + executor + examples on a
//! laptop), `executor` (one executor against an existing NATS), and the
//! component / worker / invoke / promise commands. Binaries only parse options and call
//! the library crates.
//!
//! Layout: one module per command under [`cmd`]; [`telemetry`] starts and flushes the
//! OTLP export of spans; [`progress`] shows long work on stderr.

/// mimalloc: glibc malloc cost ~20 % of the executor's CPU under load, and mimalloc gave
/// 1.3–1.4x the invocations per second in the same runs (see the workspace manifest).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Memory a suspended worker freed goes back to the OS at once, and arenas are committed
/// as they are used: without these an idle executor kept ~40 MiB more resident. No
/// transparent huge pages: purged memory faulted back in as 2 MiB pages (zeroing each
/// was 5 % of the executor's CPU under load), and an idle executor was 71 MiB, not 45.
fn tune_allocator() {
    use libmimalloc_sys::{mi_option_set, mi_option_t};
    // Positions in mimalloc v2's `mi_option_e` (libmimalloc-sys 0.1.49).
    const ARENA_EAGER_COMMIT: mi_option_t = 4;
    const PURGE_DELAY: mi_option_t = 15;
    // SAFETY: mi_option_set only stores an option value; any value is valid for these.
    #[allow(unsafe_code)]
    unsafe {
        mi_option_set(ARENA_EAGER_COMMIT, 0);
        mi_option_set(PURGE_DELAY, 0);
    }
    // mimalloc's own `allow_thp` option is read before `main`: too late to set here.
    revenant_executor::allocator::no_transparent_huge_pages();
}

mod cmd;
mod progress;
mod telemetry;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use revenant_types::config::{EncryptionOptions, NatsAuth, NatsOptions};

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
    #[command(flatten)]
    pub auth: NatsAuthArgs,
    /// Keyring file of encryption at rest (`revenant keys new` writes one; see README "Security").
    #[arg(long, global = true, env = "REVENANT_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// The keyring itself, `<id> <base64 key>` entries separated by `;`.
    #[arg(
        long,
        global = true,
        env = "REVENANT_ENCRYPTION_KEYS",
        hide_env_values = true
    )]
    pub encryption_keys: Option<String>,
    /// Store oplog appends of several workers as one write (JetStream atomic batches):
    /// for servers at `sync_interval: always` (README "Performance").
    #[arg(long, global = true, env = "REVENANT_BATCH_APPENDS")]
    pub batch_appends: bool,
}

/// NATS credentials and TLS (at most one kind of credentials; see README "Security").
#[derive(clap::Args, Clone, Default)]
pub struct NatsAuthArgs {
    /// Token the server requires.
    #[arg(long, global = true, env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// User name (with --nats-password).
    #[arg(long, global = true, env = "NATS_USER")]
    pub nats_user: Option<String>,
    /// Password of --nats-user.
    #[arg(long, global = true, env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// NKey user seed (SU…), or a file holding one.
    #[arg(long, global = true, env = "NATS_NKEY", hide_env_values = true)]
    pub nats_nkey: Option<String>,
    /// A .creds file (user JWT and seed).
    #[arg(long, global = true, env = "NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate (PEM) the server's certificate chains to; implies TLS.
    #[arg(long, global = true, env = "NATS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), for servers that verify clients (with --nats-tls-key).
    #[arg(long, global = true, env = "NATS_CERT")]
    pub nats_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --nats-tls-cert.
    #[arg(long, global = true, env = "NATS_KEY")]
    pub nats_tls_key: Option<PathBuf>,
    /// Refuse to connect without TLS.
    #[arg(long, global = true, env = "NATS_TLS_REQUIRED")]
    pub nats_tls_required: bool,
}

impl NatsAuthArgs {
    pub fn auth(&self) -> NatsAuth {
        NatsAuth {
            token: self.nats_token.clone(),
            user: self.nats_user.clone(),
            password: self.nats_password.clone(),
            nkey: self.nats_nkey.clone(),
            creds: self.nats_creds.clone(),
            tls_ca: self.nats_tls_ca.clone(),
            tls_cert: self.nats_tls_cert.clone(),
            tls_key: self.nats_tls_key.clone(),
            tls_required: self.nats_tls_required,
        }
    }
}

/// The credentials, TLS, encryption keys and append batching of `opts` as the environment variables
/// of [`NatsArgs`], for child processes.
pub fn child_env(opts: &NatsOptions) -> Vec<(&'static str, std::ffi::OsString)> {
    let auth = &opts.auth;
    let s = |v: &Option<String>| v.clone().map(Into::into);
    let p = |v: &Option<PathBuf>| v.clone().map(Into::into);
    [
        ("REVENANT_ENCRYPTION_KEY_FILE", p(&opts.encryption.key_file)),
        ("REVENANT_ENCRYPTION_KEYS", s(&opts.encryption.keys)),
        ("NATS_TOKEN", s(&auth.token)),
        ("NATS_USER", s(&auth.user)),
        ("NATS_PASSWORD", s(&auth.password)),
        ("NATS_NKEY", s(&auth.nkey)),
        ("NATS_CREDS", p(&auth.creds)),
        ("NATS_CA", p(&auth.tls_ca)),
        ("NATS_CERT", p(&auth.tls_cert)),
        ("NATS_KEY", p(&auth.tls_key)),
        (
            "NATS_TLS_REQUIRED",
            auth.tls_required.then(|| "true".into()),
        ),
        (
            "REVENANT_BATCH_APPENDS",
            opts.batch_appends.then(|| "true".into()),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .collect()
}

impl NatsArgs {
    pub fn options(&self) -> NatsOptions {
        NatsOptions {
            url: self.nats.clone(),
            namespace: self.namespace.clone(),
            replicas: self.replicas,
            shards: self.shards,
            auth: self.auth.auth(),
            encryption: EncryptionOptions {
                key_file: self.encryption_key_file.clone(),
                keys: self.encryption_keys.clone(),
            },
            batch_appends: self.batch_appends,
            ..NatsOptions::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Start nats-server, an executor and the examples, all in one (for a laptop).
    Up(cmd::up::UpArgs),
    /// Run an executor against an existing NATS (or `executor crash <id>`: a crash drill).
    Executor(cmd::executor::ExecutorCommand),
    /// Upload and inspect components.
    #[command(subcommand)]
    Component(cmd::component::ComponentCmd),
    /// Follow a worker live: stdout, stderr, log lines, invocations, suspends, recoveries.
    Connect(cmd::connect::ConnectArgs),
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
    /// Drive the examples: load the clickstream pipeline and check its results.
    #[command(subcommand)]
    Example(cmd::example::ExampleCmd),
    /// Subscriptions: bind JetStream streams to component functions (durable pipelines).
    #[command(subcommand)]
    Subscription(cmd::subscription::SubscriptionCmd),
    /// Run the HTTP router (REST API, user-defined routes, console) against an existing NATS.
    Router(cmd::router::RouterArgs),
    /// Benchmark Revenant against the JetStream floor (starts its own nats-server unless --nats is given).
    Bench(cmd::bench::BenchArgs),
    /// Show live executors, the shards they hold and their workers in memory.
    Status(cmd::status::StatusArgs),
    /// Make router bearer tokens (the router keeps only their hashes).
    #[command(subcommand)]
    Token(cmd::token::TokenCmd),
    /// Make and rotate the keyring of encryption at rest.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCmd),
    /// Scaffold a component project (Rust, Python or TypeScript) with a revenant.yaml.
    New(cmd::new::NewArgs),
    /// Build and upload the components of revenant.yaml, deploy its routes and schedules.
    Deploy(cmd::deploy::DeployArgs),
}

fn main() -> std::process::ExitCode {
    // Before the runtime's threads and their heaps exist.
    tune_allocator();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the tokio runtime")
        .block_on(run())
}

async fn run() -> std::process::ExitCode {
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
    // Spans are exported (OTLP, when OTEL_EXPORTER_OTLP_ENDPOINT is set) by the
    // long-running services only.
    let services: &[revenant_types::trace::Service] = {
        use revenant_types::trace::Service::{Executor, Router};
        match cli.command {
            Command::Up(_) => &[Router, Executor],
            Command::Executor(_) => &[Executor],
            Command::Router(_) => &[Router],
            _ => &[],
        }
    };
    let telemetry = match telemetry::init(services) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Up(a) => cmd::up::run(cli.nats, a).await,
        Command::Executor(a) => cmd::executor::run(cli.nats, a).await,
        Command::Component(c) => cmd::component::run(cli.nats, c).await,
        Command::Worker(c) => cmd::worker::run(cli.nats, c).await,
        Command::Connect(a) => cmd::connect::run(cli.nats, a).await,
        Command::Invoke(a) => cmd::invoke::run(cli.nats, a).await,
        Command::Promise(c) => cmd::promise::run(cli.nats, c).await,
        Command::Schedule(c) => cmd::schedule::run(cli.nats, c).await,
        Command::Subscription(c) => cmd::subscription::run(cli.nats, c).await,
        Command::Example(c) => cmd::example::run(cli.nats, c).await,
        Command::Router(a) => cmd::router::run(cli.nats, a).await,
        Command::Bench(a) => cmd::bench::run(cli.nats, a).await,
        Command::Status(a) => cmd::status::run(cli.nats, a).await,
        Command::Token(c) => cmd::token::run(c),
        Command::Keys(c) => cmd::keys::run(c),
        Command::New(a) => cmd::new::run(&a),
        Command::Deploy(a) => cmd::deploy::run(cli.nats, a).await,
    };
    telemetry.shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
