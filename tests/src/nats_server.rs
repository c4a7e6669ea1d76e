//! Real `nats-server` processes for integration tests: a single JetStream
//! server ([`NatsServer`]) on a port the server picks itself (`-p -1`, read
//! back from its ports file), and a JetStream cluster on loopback
//! ([`NatsCluster`]). Each keeps its store in a temporary directory, waits
//! until the server answers `/healthz`, and is killed and deleted on drop;
//! `restart()` keeps the port and the store.
//!
//! The binary is `$NATS_SERVER` if set, else `.tools/bin/nats-server` in the
//! workspace (installed by `scripts/bootstrap`). Nothing here mocks NATS.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use revenant_types::config::NatsOptions;
use tempfile::TempDir;

/// How long a server may take to become healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The nats-server binary: `$NATS_SERVER`, else the workspace's `.tools/bin/nats-server`.
/// Panics with the command to run when neither exists.
pub fn nats_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "NATS_SERVER={} does not exist; unset it or point it at a nats-server binary",
            p.display()
        );
        return p;
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/nats-server");
    match p.canonicalize() {
        Ok(p) => p,
        Err(_) => panic!(
            "nats-server not found at {} and NATS_SERVER is not set; run `scripts/bootstrap` in the workspace root \
             to install it (or set NATS_SERVER=/path/to/nats-server)",
            p.display()
        ),
    }
}

/// One server process and everything needed to start it again identically.
#[derive(Debug)]
pub struct Node {
    name: String,
    dir: PathBuf,
    /// Arguments except the ports (which are fixed after the first start).
    args: Vec<String>,
    port: Option<u16>,
    http_port: Option<u16>,
    child: Option<Child>,
    starts: u32,
}

impl Node {
    fn new(
        name: &str,
        dir: PathBuf,
        args: Vec<String>,
        port: Option<u16>,
        http_port: Option<u16>,
    ) -> Self {
        Self {
            name: name.into(),
            dir,
            args,
            port,
            http_port,
            child: None,
            starts: 0,
        }
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port())
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port.expect("server was started")
    }

    /// Whether the process is running (as far as we know).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        self.starts += 1;
        let ports_dir = self
            .dir
            .join(format!("ports-{}-{}", self.name, self.starts));
        fs::create_dir_all(&ports_dir).expect("create ports dir");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", self.name)))
            .expect("open server log");
        let port = self.port.map_or("-1".to_owned(), |p| p.to_string());
        let http = self.http_port.map_or("-1".to_owned(), |p| p.to_string());
        let child = Command::new(nats_server_binary())
            .args(&self.args)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &port,
                "-m",
                &http,
                "--ports_file_dir",
            ])
            .arg(&ports_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start nats-server: {e}; run `scripts/bootstrap` to (re)install it"
                )
            });
        self.child = Some(child);
        let (port, http) = self.wait_ports(&ports_dir);
        self.port = Some(port);
        self.http_port = Some(http);
    }

    /// Reads the client and monitoring ports from the server's ports file.
    fn wait_ports(&mut self, ports_dir: &Path) -> (u16, u16) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(ports) = read_ports_file(ports_dir) {
                return ports;
            }
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "{} wrote no ports file in {READY_TIMEOUT:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn check_alive(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            self.child = None;
            panic!(
                "{} exited during start-up ({status}):\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// Whether `/healthz` answers 200 (JetStream enabled and current).
    pub fn healthy(&self) -> bool {
        let Some(port) = self.http_port else {
            return false;
        };
        http_get_ok(port, "/healthz")
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.healthy() {
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "{} not healthy after {READY_TIMEOUT:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (SIGKILL) and waits for it; the store is kept.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills (if running) and starts the server again on the same ports with the same store,
    /// then waits until it is healthy.
    pub fn restart(&mut self) {
        self.kill();
        self.start();
        self.wait_healthy();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_ports_file(dir: &Path) -> Option<(u16, u16)> {
    let entry = fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))?;
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(entry.path()).ok()?).ok()?;
    let port_of = |key: &str| -> Option<u16> {
        let url = json.get(key)?.as_array()?.first()?.as_str()?;
        url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
    };
    Some((port_of("nats")?, port_of("monitoring")?))
}

fn http_get_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
}

/// Ports the OS reports free right now (bound to 127.0.0.1:0, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// A single JetStream-enabled nats-server with a temporary store.
#[derive(Debug)]
pub struct NatsServer {
    node: Node,
    // Dropped after `node` (fields drop in order): the process dies before its store is deleted.
    _dir: TempDir,
}

impl NatsServer {
    /// Starts a server with JetStream on a port of its choosing and waits until it is healthy.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rvn-nats-")
            .tempdir()
            .expect("create temp dir");
        let store = dir.path().join("store");
        let args = vec![
            "-js".to_owned(),
            "-sd".to_owned(),
            store.display().to_string(),
            "-n".to_owned(),
            "rvn-test".to_owned(),
        ];
        let mut node = Node::new("nats", dir.path().to_path_buf(), args, None, None);
        node.start();
        node.wait_healthy();
        Self { node, _dir: dir }
    }

    /// Starts a server from a configuration file holding `config` (e.g. an
    /// `authorization`, `tls` or `accounts` block; JetStream and its store are added
    /// here) and waits until it is healthy. Files the config names can be written
    /// into [`NatsServer::dir`] first by `prepare`.
    pub fn start_with_config(prepare: impl FnOnce(&Path) -> String) -> Self {
        Self::configured("", prepare)
    }

    /// Starts a server that fsyncs every JetStream write before acknowledging it
    /// (`sync_interval: always`, the tier production runs the oplog at): what it
    /// acknowledged survives a SIGKILL of the server ([`NatsServer::restart`]), which
    /// JetStream's default (acks before fsync) does not promise.
    pub fn start_fsync() -> Self {
        Self::configured("sync_interval: always", |_| String::new())
    }

    fn configured(jetstream: &str, prepare: impl FnOnce(&Path) -> String) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rvn-nats-")
            .tempdir()
            .expect("create temp dir");
        let config = prepare(dir.path());
        let store = dir.path().join("store");
        let file = dir.path().join("server.conf");
        fs::write(
            &file,
            format!(
                "server_name: rvn-test\njetstream {{ store_dir: {:?}, {jetstream} }}\n{config}\n",
                store.display().to_string()
            ),
        )
        .expect("write server config");
        let args = vec!["-c".to_owned(), file.display().to_string()];
        let mut node = Node::new("nats", dir.path().to_path_buf(), args, None, None);
        node.start();
        node.wait_healthy();
        Self { node, _dir: dir }
    }

    /// The server's temporary directory (its config, store and log live there).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.node.url()
    }

    /// The client port (stable across restarts).
    pub fn port(&self) -> u16 {
        self.node.port()
    }

    /// Default [`NatsOptions`] pointing at this server.
    pub fn options(&self) -> NatsOptions {
        NatsOptions {
            url: self.url(),
            ..NatsOptions::default()
        }
    }

    /// Kills the server (SIGKILL); the store is kept for [`NatsServer::restart`].
    pub fn kill(&mut self) {
        self.node.kill();
    }

    /// Restarts on the same port with the same store and waits until healthy.
    pub fn restart(&mut self) {
        self.node.restart();
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.node.log()
    }
}

/// A JetStream cluster of `n` servers on loopback ports, each with its own store.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<Node>,
    _dir: TempDir,
}

impl NatsCluster {
    /// Starts `n` (≥ 1) clustered servers and waits until every one is healthy.
    pub fn start(n: usize) -> Self {
        assert!(n >= 1, "a cluster needs at least one node");
        let dir = tempfile::Builder::new()
            .prefix("rvn-cluster-")
            .tempdir()
            .expect("create temp dir");
        let ports = free_ports(3 * n);
        let routes: Vec<String> = (0..n)
            .map(|i| format!("\"nats-route://127.0.0.1:{}\"", ports[3 * i + 2]))
            .collect();
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let (client, http, cluster) = (ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]);
            let name = format!("n{i}");
            let store = dir.path().join(&name);
            let conf = dir.path().join(format!("{name}.conf"));
            let text = format!(
                "server_name: {name}\njetstream {{ store_dir: {store:?} }}\n\
                 cluster {{\n  name: rvn-test\n  listen: 127.0.0.1:{cluster}\n  routes: [{}]\n}}\n",
                routes.join(", ")
            );
            fs::write(&conf, text).expect("write node config");
            let args = vec!["-c".to_owned(), conf.display().to_string()];
            nodes.push(Node::new(
                &name,
                dir.path().to_path_buf(),
                args,
                Some(client),
                Some(http),
            ));
        }
        for node in &mut nodes {
            node.start();
        }
        for node in &mut nodes {
            node.wait_healthy();
        }
        Self { nodes, _dir: dir }
    }

    /// Every node's client URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    /// All client URLs, comma separated (the form [`NatsOptions::url`] takes).
    pub fn url(&self) -> String {
        self.urls().join(",")
    }

    /// [`NatsOptions`] for this cluster with `replicas` = the node count (at most 3).
    pub fn options(&self) -> NatsOptions {
        NatsOptions {
            url: self.url(),
            replicas: self.nodes.len().min(3),
            ..NatsOptions::default()
        }
    }

    /// Node `i`, to kill or restart.
    pub fn node(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a cluster has at least one node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}
