//! The crate's error types. [`Error`] is the general one; [`AppendError`],
//! [`LeaseError`] and [`ControlError`] are the narrow enums callers branch on (a
//! fenced append, a lease held by someone else or lost, no executor answering a
//! control request). async-nats errors are classified by
//! their `.kind()`, never by message text; what is not worth a variant of its
//! own is kept as the source of [`Error::Nats`], with the operation named.

use revenant_types::codec::CodecError;
use revenant_types::names::{ExecutorId, NameError};

/// Any error a source can be boxed into.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to NATS or provisioning Revenant's streams.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name (namespace, component, worker, executor) is not `[A-Za-z0-9_-]{1,128}`.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The server could not be reached.
    #[error("could not connect to NATS at {url}: {source}; {hint}")]
    Connect {
        /// The URL(s) with any credentials in them redacted.
        url: String,
        #[source]
        source: async_nats::ConnectError,
        /// What to check, from the kind of failure ([`crate::connect`]).
        hint: &'static str,
    },
    /// Encryption at rest: a keyring that cannot be used, or a sealed value that
    /// cannot be opened.
    #[error("encryption at rest: {0}")]
    Seal(String),
    /// The credentials or TLS settings cannot be used as configured.
    #[error("NATS {what}: {message}")]
    Credentials { what: &'static str, message: String },
    /// The namespace's `RVN_INVOKE` stream was created with another shard count.
    #[error(
        "namespace {namespace:?} was provisioned with {existing} shards but the configuration asks for {configured}; \
         the shard count is fixed per namespace: set shards = {existing}, or use a new namespace and migrate"
    )]
    ShardCountMismatch {
        namespace: String,
        existing: String,
        configured: u32,
    },
    /// A stream or bucket exists with a setting JetStream cannot change in place.
    #[error(
        "{what} exists with {field} = {existing}, but the configuration asks for {configured}; \
         JetStream cannot change this in place: keep the existing value or recreate {what}"
    )]
    Incompatible {
        what: String,
        field: &'static str,
        existing: String,
        configured: String,
    },
    /// A record or oplog message could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A stored message is not what Revenant writes.
    #[error("{what} is malformed: {reason}")]
    Malformed { what: String, reason: String },
    /// The connection closed (or the client was dropped) while waiting for something.
    #[error("the NATS connection closed while {what}")]
    Closed { what: String },
    /// A schedule that cannot be accepted (a bad cron expression or time zone, cron on a
    /// server older than 2.14); the message says what was expected.
    #[error("{0}")]
    BadSchedule(String),
    /// A subscription that cannot be accepted or found; the message says what was expected.
    #[error("{0}")]
    BadSubscription(String),
    /// No subscription of that name; the message says where to look.
    #[error("{0}")]
    NoSubscription(String),
    /// `RVN_INVOKE` has limits that would silently evict schedule holders.
    #[error(
        "stream {stream} has {limit} = {value}; schedule holders (durable timers, scheduled invocations, cron) live in it \
         and JetStream would evict them silently when the limit is reached. Remove the limit \
         (nats stream edit {stream} --{flag}=-1); per-message TTLs and max age do not touch holders"
    )]
    EvictsSchedules {
        stream: String,
        limit: &'static str,
        flag: &'static str,
        value: i64,
    },
    /// A NATS / JetStream operation failed.
    #[error("{op} failed: {source}")]
    Nats {
        op: String,
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Wraps an async-nats error with the operation that failed.
    pub(crate) fn nats(op: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Nats {
            op: op.into(),
            source: source.into(),
        }
    }
}

/// Why an oplog append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer appended first: the subject's last sequence is not `expected`.
    /// The caller has lost the worker (or raced a stale reader) and must drop it.
    #[error(
        "oplog append fenced: expected the last sequence of the worker's oplog to be {expected}, \
         but it is {}; another executor owns this worker now",
        actual.map_or_else(|| "something else".to_owned(), |a| a.to_string())
    )]
    Fenced { expected: u64, actual: Option<u64> },
    /// The encoded batch exceeds the server's maximum message size; split it.
    #[error(
        "oplog batch is {bytes} bytes encoded, over the server's max payload of {max} bytes; append fewer entries per batch"
    )]
    TooLarge { bytes: usize, max: usize },
    /// Anything else (connection, codec, timeout).
    #[error(transparent)]
    Other(#[from] Error),
}

/// Why a lease operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another executor holds the lease and it has not expired.
    #[error("the lease is held by executor {owner} until {expires_at} (ms since the epoch)")]
    HeldBy { owner: ExecutorId, expires_at: u64 },
    /// The lease was taken over (or deleted) since it was last seen: the holder must stop at once.
    #[error("the lease was lost: another executor wrote it since our last renewal")]
    Lost,
    /// Anything else (connection, codec, timeout).
    #[error(transparent)]
    Other(#[from] Error),
}

/// Why a control request (interrupt / resume) got no state back.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nobody answered: no executor holds the worker's shard right now (none is running,
    /// or the shard is between owners).
    #[error(
        "no executor holds shard {shard} of worker {worker} right now; retry ({})",
        waited.map_or_else(|| "no executor is running".to_owned(), |t| format!("nobody answered within {t:?}"))
    )]
    NoExecutor {
        /// `<component>.<worker>`.
        worker: String,
        shard: u32,
        /// How long the request waited; `None` when nobody listens at all.
        waited: Option<std::time::Duration>,
    },
    /// The executor holding the worker refused: `worker-failed`, `unknown-worker`, …
    #[error("{}", .0.message)]
    Refused(revenant_types::oplog::ErrorBody),
    /// Anything else (connection, a malformed answer).
    #[error(transparent)]
    Other(#[from] Error),
}

/// Why a crash drill ([`crate::drills`]) was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// Nobody answered: no executor with that id is running.
    #[error(
        "no executor {executor} answered within {waited:?}; is it running? (`revenant status` lists the live executors)"
    )]
    NoExecutor {
        executor: String,
        waited: std::time::Duration,
    },
    /// The executor refused (`forbidden`: it was not started with `--allow-crash-drills`).
    #[error("{}", .0.message)]
    Refused(revenant_types::oplog::ErrorBody),
    /// Anything else (connection, a malformed answer).
    #[error(transparent)]
    Other(#[from] Error),
}

impl From<CodecError> for LeaseError {
    fn from(e: CodecError) -> Self {
        Self::Other(e.into())
    }
}

impl From<CodecError> for AppendError {
    fn from(e: CodecError) -> Self {
        Self::Other(e.into())
    }
}
