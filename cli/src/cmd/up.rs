//! `revenant up`: everything on one laptop. Starts nats-server (from `.tools/`,
//! `NATS_SERVER` or PATH) with JetStream and its data under `.revenant/nats`,
//! uploads the bundled examples (a new version only when a binary changed),
//! applies the clickstream pipeline's streams and subscriptions (and any
//! `--subscriptions` file), runs an executor and the HTTP router (with the
//! shopping-cart routes) in-process and prints how to invoke the examples. Ctrl-C
//! stops everything cleanly.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use revenant_types::ComponentName;

use super::executor::ExecutorArgs;
use crate::NatsArgs;

#[derive(clap::Args)]
pub struct UpArgs {
    /// Port of the local nats-server.
    #[arg(long, default_value_t = 4222)]
    pub port: u16,
    /// Where nats-server keeps its data.
    #[arg(long, default_value = ".revenant/nats")]
    pub data_dir: PathBuf,
    /// Address of the HTTP router.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// A subscriptions file (YAML) to apply, besides the bundled clickstream pipeline's
    /// (repeat for several).
    #[arg(long = "subscriptions")]
    pub subscriptions: Vec<PathBuf>,
    #[command(flatten)]
    pub executor: ExecutorArgs,
}

/// Where `up`'s executor serves its metrics unless `--metrics-listen` says otherwise.
const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// The shopping-cart example's HTTP routes, deployed by `up`.
const SHOPPING_CART_API: &str = include_str!("../../../examples/shopping-cart/api.yaml");

/// The clickstream example's streams and subscriptions, applied by `up`.
const CLICKSTREAM_PIPELINE: &str = include_str!("../../../examples/clickstream/pipeline.yaml");

pub(crate) fn find_nats_server() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let local = Path::new(".tools/bin/nats-server");
    if local.exists() {
        return Ok(local.to_path_buf());
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("nats-server");
            if candidate.exists() {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "nats-server not found in .tools/bin, NATS_SERVER or PATH; run scripts/bootstrap to install it"
    )
}

pub async fn run(mut nats_args: NatsArgs, args: UpArgs) -> anyhow::Result<()> {
    let server = find_nats_server()?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    if std::net::TcpStream::connect(("127.0.0.1", args.port)).is_ok() {
        bail!(
            "port {} is already in use; stop what listens there or pass --port",
            args.port
        );
    }
    eprintln!(
        "starting {} on 127.0.0.1:{} (data in {})",
        server.display(),
        args.port,
        args.data_dir.display()
    );
    let mut child = tokio::process::Command::new(&server)
        .args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &args.port.to_string(),
            "-sd",
        ])
        .arg(&args.data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    nats_args.nats = format!("nats://127.0.0.1:{}", args.port);
    let started = Instant::now();
    let nats = loop {
        match super::connect(&nats_args).await {
            Ok(n) => break n,
            Err(e) if started.elapsed() < Duration::from_secs(15) => {
                if let Some(status) = child.try_wait()? {
                    bail!("nats-server exited ({status}) before accepting connections");
                }
                tracing::debug!(error = %e, "waiting for nats-server");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.context("nats-server did not come up within 15 s")),
        }
    };

    for (name, path) in revenant_examples::all()
        .iter()
        .chain(revenant_examples::languages())
    {
        let name = ComponentName::new(*name)?;
        let bytes =
            std::fs::read(path).with_context(|| format!("reading bundled example {path}"))?;
        match nats.components().upload_if_changed(&name, bytes).await? {
            (r, false) => eprintln!("example {name} is up to date (version {})", r.version),
            (r, true) => eprintln!("deployed example {name} version {}", r.version),
        }
    }

    let mut files = vec![(
        "the clickstream pipeline".to_owned(),
        CLICKSTREAM_PIPELINE.to_owned(),
    )];
    for f in &args.subscriptions {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        files.push((f.display().to_string(), text));
    }
    for (what, text) in &files {
        for line in super::subscription::apply(&nats, text, what).await? {
            eprintln!("{line}");
        }
    }

    let url = nats_args.nats.clone();
    let api_file = args.data_dir.join("shopping-cart-api.yaml");
    std::fs::write(&api_file, SHOPPING_CART_API)
        .with_context(|| format!("writing {}", api_file.display()))?;
    let router_opts = revenant_router::RouterOptions {
        listen: args.listen.clone(),
        api_files: vec![api_file],
        ..Default::default()
    };
    let (stop_router, router_stopped) = tokio::sync::oneshot::channel::<()>();
    let router = tokio::spawn(revenant_router::serve(router_opts, nats.clone(), async {
        let _ = router_stopped.await;
    }));
    let http = format!("http://{}", args.listen);
    let mut executor_opts = args.executor.options();
    let metrics = executor_opts
        .metrics_listen
        .get_or_insert_with(|| DEFAULT_METRICS_LISTEN.to_owned())
        .clone();
    println!();
    println!(
        "Revenant is up: NATS at {url}, one executor, the router at {http}, examples deployed."
    );
    println!("Console: {http}/ (open it in a browser)");
    println!("{}", revenant_on_path());
    for line in [
        "  revenant invoke counter/c1 add 5",
        "  revenant invoke counter/c1 add-random",
        "  revenant connect counter/c1                 # follow it live: output, logs, invocations",
        "  revenant worker simulate-crash counter/c1   # drop it, recover it by replay, say how long",
        "  revenant invoke json-sum/j1 sum '\"[1, 2, 3]\"'",
        "  revenant worker oplog counter/c1",
        "  revenant invoke reminder/r1 remind-in 15 '\"stretch\"'   # a durable sleep",
        "  revenant invoke approval/a1 request '\"laptop\"'   # waits for its promise;",
        "  revenant promise list approval/a1                 # then complete it:",
        "  revenant promise complete <id> '\"approved\"'",
        "  revenant invoke order/o-1 place 100        # payment, warehouse, shipping over RPC",
        "  revenant invoke fan-out/f1 sum-squares 100  # 100 async calls",
        "  revenant example clickstream-load --users 100 --events 10000   # a pipeline:",
        "  revenant subscription list                                      # lag per stage",
        "  revenant example clickstream-check   # daily totals = offline",
    ] {
        println!("{line}");
    }
    println!("over HTTP (API at {http}/openapi.json):");
    println!("  curl -X POST {http}/v1/components/counter/workers/c1/invoke/add -d '[5]'");
    println!("  curl -N {http}/v1/components/counter/workers/c1/events");
    println!(
        "  curl -X POST {http}/alice/add-item -d '{{\"product-id\": \"p1\", \"name\": \"Mug\", \"price\": 9.5, \"quantity\": 2}}'"
    );
    println!("  curl {http}/alice/cart");
    println!(
        "or from any NATS client (scripts/nats-request uses the nats-py the bootstrap installed;"
    );
    println!(
        "the NATS CLI, github.com/nats-io/natscli, takes the same arguments to `nats request`):"
    );
    println!("  scripts/nats-request rvn.call.counter.c1 '[5]' -H 'Rvn-Function: add'");
    println!("Metrics: {http}/metrics (router), http://{metrics}/metrics (executor).");
    println!("Ctrl-C stops everything.");
    println!();

    let executor =
        revenant_executor::run(executor_opts, nats, super::shutdown_signal_then_force()).await;
    let _ = stop_router.send(());
    match router.await {
        Ok(Err(e)) => eprintln!("router: {e}"),
        Err(e) => eprintln!("router task: {e}"),
        Ok(Ok(())) => {}
    }
    executor?;
    eprintln!("executor stopped; stopping nats-server");
    child.kill().await.ok();
    Ok(())
}

/// How to call `revenant` from another terminal: `scripts/up` links the binary it built
/// as `.tools/bin/revenant`; otherwise this binary's own path.
fn revenant_on_path() -> String {
    let linked = std::path::Path::new(".tools/bin/revenant");
    match std::fs::canonicalize(".tools/bin") {
        Ok(dir) if linked.exists() => format!(
            "Try, in another terminal (the revenant command is in .tools/bin):\n  export PATH=\"{}:$PATH\"",
            dir.display()
        ),
        _ => format!(
            "Try, in another terminal (revenant is {}):",
            std::env::current_exe()
                .map_or_else(|_| "this binary".to_owned(), |p| p.display().to_string())
        ),
    }
}
