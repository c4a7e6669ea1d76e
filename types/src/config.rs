//! NATS-facing options shared by every process. Each field's default is
//! documented on it; everything is settable from a file (kebab-case), the
//! environment and flags by the binaries that embed it.

use serde::{Deserialize, Serialize};

/// How JetStream stores Revenant's streams and buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    /// On disk (default): survives a nats-server restart.
    #[default]
    File,
    /// In memory: for throwaway tests.
    Memory,
}

/// Options for connecting to NATS and provisioning Revenant's streams and buckets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct NatsOptions {
    /// Server URL(s), comma separated. Default `nats://127.0.0.1:4222`.
    pub url: String,
    /// Namespace prefix of every subject, stream and bucket. Default `rvn`.
    pub namespace: String,
    /// Replicas of every stream and bucket: 1 locally, 3 in a cluster. Default 1.
    pub replicas: usize,
    /// Storage of every stream and bucket. Default file.
    pub storage: StorageKind,
    /// Number of shards workers are hashed into; fixed per namespace. Default 64.
    pub shards: u32,
    /// JetStream duplicate window for invocations, seconds. Default 120.
    pub dedup_window_secs: u64,
    /// How long completed results stay in `RVN_RESULTS`, seconds. Default 86400 (one day).
    pub results_ttl_secs: u64,
    /// Largest invocation payload accepted, bytes. Default 1 MiB.
    pub max_payload: usize,
    /// How long dead letters stay in `RVN_DEAD`, seconds (0: forever). Default 2592000 (30 days).
    pub dead_letter_max_age_secs: u64,
    /// Bytes `RVN_DEAD` keeps at most; the oldest dead letters go first (0: no limit). Default 1 GiB.
    pub dead_letter_max_bytes: u64,
    /// How long an executor's record stays in `RVN_EXECUTORS` after its last heartbeat,
    /// seconds (a live executor rewrites it every lease renewal; a killed one's record
    /// expires). Default 3600.
    pub executor_record_ttl_secs: u64,
    /// Credentials and TLS of the connection. Default: none (an open server).
    pub auth: NatsAuth,
    /// Encryption at rest of oplog payloads, results and blobs. Default: off.
    pub encryption: EncryptionOptions,
    /// Oplog appends of different workers made at the same moment share one stored
    /// write (a JetStream atomic batch, each append keeping its own fence). For servers
    /// at `sync_interval: always`, where it saves an fsync per append (1.2–1.4× the
    /// invocations per second measured); with JetStream's default it costs throughput
    /// (0.6–0.7×). Default false.
    pub batch_appends: bool,
}

/// Where the AES-256-GCM keys of encryption at rest come from (ARCHITECTURE.md
/// "Trust boundaries"). A keyring is lines `<key-id> <base64 of 32 bytes>`; the last
/// one encrypts new writes, every one decrypts (so rotation appends a line and
/// removes none). With neither field set nothing is encrypted; entries written
/// unencrypted stay readable either way. `Debug` never prints a key.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct EncryptionOptions {
    /// A keyring file. Default none.
    pub key_file: Option<std::path::PathBuf>,
    /// The keyring itself (lines, or entries separated by `;`), e.g. from the
    /// environment. Default none.
    pub keys: Option<String>,
}

impl std::fmt::Debug for EncryptionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionOptions")
            .field("key_file", &self.key_file)
            .field("keys", &self.keys.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// How a process authenticates to NATS and secures the connection (ARCHITECTURE.md
/// "Trust boundaries"). At most one of token, user/password, NKey seed and
/// credentials file is used; credentials in the URL (`nats://user:pass@host`,
/// `nats://token@host`) count as user/password or token. Every field defaults to
/// unset. `Debug` never prints a secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct NatsAuth {
    /// A token the server requires (`authorization { token }`).
    pub token: Option<String>,
    /// User name (with `password`).
    pub user: Option<String>,
    /// Password of `user`.
    pub password: Option<String>,
    /// An NKey user seed (`SU…`), or a path to a file holding one.
    pub nkey: Option<String>,
    /// A `.creds` file (user JWT and seed) of a decentralised-auth deployment.
    pub creds: Option<std::path::PathBuf>,
    /// CA certificate(s) (PEM) the server's certificate must chain to; implies TLS.
    pub tls_ca: Option<std::path::PathBuf>,
    /// Client certificate (PEM) for servers that verify clients (with `tls-key`).
    pub tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of `tls-cert`.
    pub tls_key: Option<std::path::PathBuf>,
    /// Refuse to connect without TLS. Default false (TLS when the server or URL asks).
    pub tls_required: bool,
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("NatsAuth")
            .field("token", &secret(&self.token))
            .field("user", &self.user)
            .field("password", &secret(&self.password))
            .field("nkey", &secret(&self.nkey))
            .field("creds", &self.creds)
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_required", &self.tls_required)
            .finish()
    }
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            namespace: "rvn".into(),
            replicas: 1,
            storage: StorageKind::File,
            shards: 64,
            dedup_window_secs: 120,
            results_ttl_secs: 86_400,
            max_payload: 1 << 20,
            dead_letter_max_age_secs: 30 * 86_400,
            dead_letter_max_bytes: 1 << 30,
            executor_record_ttl_secs: 3_600,
            auth: NatsAuth::default(),
            encryption: EncryptionOptions::default(),
            batch_appends: false,
        }
    }
}

/// Shard lease timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct LeaseOptions {
    /// A lease not renewed for this long may be taken over, ms. Default 1000 (a dead executor's workers answer again within about a second).
    pub ttl_ms: u64,
    /// How often a held lease is renewed (and free shards claimed), ms; well inside the TTL. Default 250.
    pub renew_every_ms: u64,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        Self {
            ttl_ms: 1_000,
            renew_every_ms: 250,
        }
    }
}
