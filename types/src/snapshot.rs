//! Snapshots (ARCHITECTURE.md "Snapshots, trimming, updates, ephemeral workers"):
//! what an `OplogEntry::Snapshot` carries besides the guest's bytes ([`HostState`]),
//! when a component's workers take one ([`SnapshotPolicy`]), and how a worker moves to
//! another component version ([`UpdateMode`]).
//!
//! The guest's `revenant:api/snapshot.save` returns its own state; the host's part of
//! a worker (how it was created, the promises it made and their payloads, the timers
//! that fired) is kept in the entry, because trimming purges the entries that said it.
//! A snapshot is taken only between invocations of a worker that is not suspended,
//! interrupted or failed and has nothing parked, so nothing else is in flight.

use serde::{Deserialize, Serialize};

use crate::oplog::{OplogIndex, TimestampMs};

/// The host's state of a worker at a snapshot (named MessagePack fields: fields may be
/// added with `#[serde(default)]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// The worker's `Create`: when, and with which args and env.
    pub created_at: TimestampMs,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Indexes of the promises it created.
    #[serde(default)]
    pub promises: Vec<OplogIndex>,
    /// Payloads of completed promises (and call outcomes), by index.
    #[serde(default)]
    pub promise_payloads: Vec<(OplogIndex, serde_bytes::ByteBuf)>,
    /// Timers whose `TimerFired` was journaled.
    #[serde(default)]
    pub timers_fired: Vec<OplogIndex>,
}

/// When a component's workers take snapshots (set with `revenant component add
/// --snapshot-every N --snapshot-period SECS`; kept in the component version's record).
/// A worker whose component does not export `revenant:api/snapshot` never takes one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SnapshotPolicy {
    /// After this many invocations since the last snapshot (0: never by count).
    #[serde(default)]
    pub every: u64,
    /// After an invocation this long (milliseconds) after the last snapshot (0: never by time).
    #[serde(default)]
    pub period_ms: u64,
}

impl SnapshotPolicy {
    /// Whether the policy ever takes a snapshot by itself.
    pub fn is_off(&self) -> bool {
        self.every == 0 && self.period_ms == 0
    }
}

/// The interface a component exports to be snapshotted.
pub const INTERFACE: &str = "revenant:api/snapshot@0.2.0";

/// The full export name of `revenant:api/snapshot` function `function` (`save`, `load`).
pub fn export_name(function: &str) -> String {
    format!("{INTERFACE}.{{{function}}}")
}

/// How a worker moves to another component version (`revenant worker update --mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateMode {
    /// Replay the worker's history (from its newest snapshot, loaded by the new
    /// version) on the new version; a divergence fails the update.
    #[default]
    Auto,
    /// `save` on the old version, `load` on the new one; the history before is never
    /// replayed on the new version.
    Snapshot,
}

impl UpdateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Snapshot => "snapshot",
        }
    }
}

impl std::str::FromStr for UpdateMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "snapshot" => Ok(Self::Snapshot),
            other => Err(format!(
                "expected an update mode, auto or snapshot; got {other:?}"
            )),
        }
    }
}
