//! The bench environment: its own nats-server (JetStream, file storage,
//! loopback, a temporary store) or the server given with `--nats`, the counter
//! component deployed, in-process executors, and child `revenant executor`
//! processes (for failover, memory and waiting, where a process must die, be
//! measured or run with other settings).
//! Everything started here is stopped by [`Env::stop`] or on drop.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use revenant_nats::Nats;
use revenant_types::config::NatsOptions;
use revenant_types::records::ComponentRecord;
use revenant_types::{ComponentName, WorkerId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::client::Client;
use crate::NatsArgs;

/// The component every section invokes.
pub const COUNTER: &str = "counter";

type ExecutorTask = (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>);

pub struct Env {
    pub url: String,
    /// The namespace of the in-process executor and the client.
    pub namespace: String,
    opts: NatsOptions,
    pub dir: tempfile::TempDir,
    server: Option<tokio::process::Child>,
    pub server_version: Option<String>,
    pub client: Client,
    executors: Vec<ExecutorTask>,
    /// What the in-process executors index in `RVN_RESULTS`.
    pub results_index: revenant_executor::ResultsIndex,
}

impl Env {
    /// Starts a nats-server unless `given` (then uses `args.nats` with a fresh namespace),
    /// connects the client and deploys the counter.
    pub async fn start(args: &NatsArgs, given: bool) -> anyhow::Result<Env> {
        let dir = tempfile::Builder::new()
            .prefix("revenant-bench-")
            .tempdir()?;
        let mut opts = args.options();
        let (server, server_version) = if given {
            opts.namespace = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
            eprintln!(
                "using NATS at {} with namespace {}",
                opts.url, opts.namespace
            );
            (None, None)
        } else {
            let (child, url, version) = start_server(&dir.path().join("nats")).await?;
            opts.url = url;
            (Some(child), version)
        };
        let nats = connect_with(&opts, &opts.namespace).await?;
        deploy_counter(&nats).await?;
        Ok(Env {
            url: opts.url.clone(),
            namespace: opts.namespace.clone(),
            client: Client::new(nats).await?,
            opts,
            dir,
            server,
            server_version,
            executors: Vec::new(),
            results_index: Default::default(),
        })
    }

    /// A new connection to `namespace`, provisioned.
    pub async fn connect(&self, namespace: &str) -> anyhow::Result<Nats> {
        connect_with(&self.opts, namespace).await
    }

    /// The options child executors and extra namespaces use.
    pub fn nats_options(&self) -> &NatsOptions {
        &self.opts
    }

    /// Where compiled components are cached (shared by every executor of the run).
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Starts an executor in this process on its own connection.
    pub async fn start_executor(&mut self) -> anyhow::Result<()> {
        let nats = self.connect(&self.namespace.clone()).await?;
        let opts = revenant_executor::ExecutorOptions {
            id: Some(format!("bench-inproc-{}", self.executors.len())),
            cache_dir: self.cache_dir(),
            work_dir: Some(self.dir.path().join("work")),
            results_index: self.results_index,
            ..Default::default()
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            revenant_executor::run(opts, nats, async {
                let _ = rx.await;
            })
            .await
            .context("in-process executor")
        });
        self.executors.push((tx, task));
        Ok(())
    }

    /// Stops the in-process executors (gracefully) and the nats-server.
    pub async fn stop(mut self) {
        for (tx, task) in self.executors.drain(..) {
            let _ = tx.send(());
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(Err(e))) => eprintln!("executor stopped with an error: {e:#}"),
                Err(_) => eprintln!("executor did not stop within 30 s"),
                _ => {}
            }
        }
        if let Some(mut child) = self.server.take() {
            let _ = child.kill().await;
        }
    }
}

/// `<component>/<name>` of the counter.
pub fn counter(worker: &str) -> WorkerId {
    WorkerId::parse(COUNTER, worker).expect("bench worker names are valid")
}

/// Uploads the bundled counter component (a new version only when it changed).
pub async fn deploy_counter(nats: &Nats) -> anyhow::Result<ComponentRecord> {
    deploy(nats, COUNTER, revenant_examples::COUNTER).await
}

/// Uploads the bundled example `path` as component `name` (a new version only when it changed).
pub async fn deploy(nats: &Nats, name: &str, path: &str) -> anyhow::Result<ComponentRecord> {
    let component = ComponentName::new(name)?;
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the {name} component {path}"))?;
    Ok(nats
        .components()
        .upload_if_changed(&component, bytes)
        .await?
        .0)
}

async fn connect_with(opts: &NatsOptions, namespace: &str) -> anyhow::Result<Nats> {
    let opts = NatsOptions {
        namespace: namespace.to_owned(),
        ..opts.clone()
    };
    let nats = Nats::connect(&opts).await?;
    nats.provision()
        .await
        .with_context(|| format!("provisioning namespace {namespace}"))?;
    Ok(nats)
}

/// Starts nats-server with JetStream on a free loopback port, its store in `store`.
async fn start_server(
    store: &std::path::Path,
) -> anyhow::Result<(tokio::process::Child, String, Option<String>)> {
    let binary = crate::cmd::up::find_nats_server()?;
    let version = std::process::Command::new(&binary)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    std::fs::create_dir_all(store)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(store.with_extension("log"))?;
    let mut child = tokio::process::Command::new(&binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let url = format!("nats://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!("nats-server exited ({status}) before accepting connections");
        }
        if started.elapsed() > Duration::from_secs(15) {
            bail!("nats-server did not listen on {url} within 15 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "started {} at {url} (store {})",
        binary.display(),
        store.display()
    );
    Ok((child, url, version))
}

/// A child `revenant executor` process.
pub struct ChildExecutor {
    pub id: String,
    child: tokio::process::Child,
    log: PathBuf,
}

impl ChildExecutor {
    /// Spawns `revenant executor` (this very binary) on `namespace` with `extra` flags.
    pub fn spawn(env: &Env, namespace: &str, id: &str, extra: &[String]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the revenant binary")?;
        let log = env.dir.path().join(format!("{id}.log"));
        let o = env.nats_options();
        let child = tokio::process::Command::new(exe)
            .args(["--nats", &o.url, "--namespace", namespace])
            .args([
                "--shards",
                &o.shards.to_string(),
                "--replicas",
                &o.replicas.to_string(),
            ])
            .args(["executor", "--id", id, "--cache-dir"])
            .arg(env.cache_dir())
            .args(extra)
            .envs(crate::child_env(o))
            .env(
                "REVENANT_LOG",
                "info,async_nats=warn,wasmtime=warn,cranelift=warn",
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .context("spawning a child executor")?;
        Ok(Self {
            id: id.to_owned(),
            child,
            log,
        })
    }

    /// Waits until the process logged that it is starting (connected and provisioned).
    pub async fn wait_started(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.contains("executor starting") {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("executor {} exited ({status}): {log}", self.id);
            }
            if started.elapsed() > timeout {
                bail!(
                    "executor {} did not start within {timeout:?}: {log}",
                    self.id
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resident memory (VmRSS) in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("executor has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmRSS in /proc/<pid>/status")?;
        Ok(kb * 1024)
    }

    /// SIGKILL, then reap.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}
