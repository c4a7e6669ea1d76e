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
