//! Shard leases in the `RVN_SHARDS` KV bucket. A lease is the key `shard.<n>`
//! holding a [`LeaseRecord`]; whoever wrote the current revision owns the
//! shard until `expires_at`. Acquire is a KV create, or a compare-and-set on
//! the revision of an expired (or deleted) record; renew and release are
//! compare-and-sets on the holder's last revision, so a holder that was taken
//! over learns it at its next renewal ([`LeaseError::Lost`]) — or at once
//! through [`LeaseManager::watch_loss`].
//!
//! Expiry is judged by the record's `expires_at`, written with the holder's
//! clock: clocks are assumed roughly in sync (within a fraction of the TTL).
//! Timing only decides *when* a shard moves; the oplog's fenced appends, not
//! leases, guarantee a single writer per worker. Executor ids must be unique
//! per process (a restarted process should not reuse its predecessor's id).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use futures::StreamExt;
use revenant_types::codec;
use revenant_types::config::LeaseOptions;
use revenant_types::names::ExecutorId;
use revenant_types::records::LeaseRecord;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;

use crate::client::Nats;
use crate::error::{Error, LeaseError};
use crate::names::Namespace;

/// What a lease is for: a shard (`shard.<n>`) or a subscription's forwarder (`sub.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaseKey {
    Shard(u32),
    Subscription(String),
}

impl LeaseKey {
    fn kv_key(&self) -> String {
        match self {
            Self::Shard(n) => Namespace::shard_key(*n),
            Self::Subscription(name) => Namespace::subscription_lease_key(name),
        }
    }
}

impl std::fmt::Display for LeaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shard(n) => write!(f, "shard {n}"),
            Self::Subscription(name) => write!(f, "subscription {name}"),
        }
    }
}

/// A held lease (of a shard, or of a subscription: see [`LeaseKey`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: LeaseKey,
    /// The shard, for a shard's lease (`u32::MAX` for any other).
    pub shard: u32,
    /// KV revision at which this tenure began; unique and increasing per shard.
    pub epoch: u64,
    pub owner: ExecutorId,
    /// Ms since the Unix epoch when the lease lapses unless renewed.
    pub expires_at: u64,
    /// When this tenure began (ms since the Unix epoch).
    pub acquired_at: u64,
    /// The KV revision of the last write by this holder (the CAS token of the next renewal).
    pub revision: u64,
}

/// Acquires, renews and releases shard leases for one executor. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LeaseManager {
    nats: Nats,
    owner: ExecutorId,
    opts: LeaseOptions,
    store: Arc<OnceCell<kv::Store>>,
}

pub use revenant_types::now_ms;

impl LeaseManager {
    pub(crate) fn new(nats: Nats, owner: ExecutorId, opts: LeaseOptions) -> Self {
        Self {
            nats,
            owner,
            opts,
            store: Arc::new(OnceCell::new()),
        }
    }

    /// The executor this manager acts for.
    pub fn owner(&self) -> &ExecutorId {
        &self.owner
    }

    /// The lease timing.
    pub fn options(&self) -> &LeaseOptions {
        &self.opts
    }

    /// How often a held lease should be renewed.
    pub fn renew_interval(&self) -> Duration {
        Duration::from_millis(self.opts.renew_every_ms)
    }

    async fn kv(&self) -> Result<&kv::Store, Error> {
        let bucket = self.nats.namespace().shards_bucket();
        self.store
            .get_or_try_init(|| async {
                self.nats
                    .jetstream()
                    .get_key_value(&bucket)
                    .await
                    .map_err(|e| Error::nats(format!("opening KV bucket {bucket}"), e))
            })
            .await
    }

    fn record(&self, acquired_at: u64) -> (LeaseRecord, u64) {
        let now = now_ms();
        let expires_at = now + self.opts.ttl_ms;
        (
            LeaseRecord {
                owner: self.owner.clone(),
                expires_at,
                acquired_at: acquired_at.min(now),
            },
            now,
        )
    }

    fn lease(&self, key: &LeaseKey, record: &LeaseRecord, revision: u64) -> Lease {
        Lease {
            shard: match key {
                LeaseKey::Shard(n) => *n,
                LeaseKey::Subscription(_) => u32::MAX,
            },
            key: key.clone(),
            epoch: revision,
            owner: self.owner.clone(),
            expires_at: record.expires_at,
            acquired_at: record.acquired_at,
            revision,
        }
    }

    /// Takes shard `shard` if nobody holds it or its holder's lease has expired.
    pub async fn acquire(&self, shard: u32) -> Result<Lease, LeaseError> {
        self.acquire_key(&LeaseKey::Shard(shard)).await
    }

    /// Takes the lease `what` if nobody holds it or its holder's lease has expired.
    pub async fn acquire_key(&self, what: &LeaseKey) -> Result<Lease, LeaseError> {
        let kv = self.kv().await?;
        let key = what.kv_key();
        let op = || format!("acquiring the lease of {what}");
        for _ in 0..3 {
            let (record, now) = self.record(u64::MAX);
            let value = codec::encode(&record)?;
            match kv.create(&key, value.clone().into()).await {
                Ok(rev) => return Ok(self.lease(what, &record, rev)),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::nats(op(), e).into()),
            }
            let Some(entry) = kv.entry(&key).await.map_err(|e| Error::nats(op(), e))? else {
                continue; // purged in between: try creating again
            };
            if entry.operation == Operation::Put {
                let current: LeaseRecord = codec::decode(&entry.value)?;
                if current.expires_at > now && current.owner != self.owner {
                    return Err(LeaseError::HeldBy {
                        owner: current.owner,
                        expires_at: current.expires_at,
                    });
                }
            }
            match kv.update(&key, value.into(), entry.revision).await {
                Ok(rev) => return Ok(self.lease(what, &record, rev)),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue, // raced: look again
                Err(e) => return Err(Error::nats(op(), e).into()),
            }
        }
        // Lost three races in a row: report whoever holds it now.
        match kv.entry(&key).await.map_err(|e| Error::nats(op(), e))? {
            Some(entry) if entry.operation == Operation::Put => {
                let current: LeaseRecord = codec::decode(&entry.value)?;
                Err(LeaseError::HeldBy {
                    owner: current.owner,
                    expires_at: current.expires_at,
                })
            }
            _ => Err(Error::nats(op(), "the lease key kept changing under us").into()),
        }
    }

    /// Extends `lease` by the TTL; [`LeaseError::Lost`] if anyone wrote the key since.
    pub async fn renew(&self, lease: &mut Lease) -> Result<(), LeaseError> {
        let kv = self.kv().await?;
        let (record, _) = self.record(lease.acquired_at);
        let value = codec::encode(&record)?;
        match kv
            .update(lease.key.kv_key(), value.into(), lease.revision)
            .await
        {
            Ok(rev) => {
                lease.revision = rev;
                lease.expires_at = record.expires_at;
                Ok(())
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(LeaseError::Lost),
            Err(e) => Err(Error::nats(format!("renewing the lease of {}", lease.key), e).into()),
        }
    }

    /// Gives the shard up (a delete marker, so the next acquirer need not wait
    /// for the TTL); [`LeaseError::Lost`] if it was no longer ours.
    pub async fn release(&self, lease: Lease) -> Result<(), LeaseError> {
        let kv = self.kv().await?;
        match kv
            .delete_expect_revision(lease.key.kv_key(), Some(lease.revision))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(LeaseError::Lost),
            Err(e) => Err(Error::nats(format!("releasing the lease of {}", lease.key), e).into()),
        }
    }

    /// The current holder of `shard`, if any (expired or not).
    pub async fn holder(&self, shard: u32) -> Result<Option<(LeaseRecord, u64)>, LeaseError> {
        let kv = self.kv().await?;
        let entry = kv
            .entry(Namespace::shard_key(shard))
            .await
            .map_err(|e| Error::nats(format!("reading the lease of shard {shard}"), e))?;
        match entry {
            Some(e) if e.operation == Operation::Put => {
                Ok(Some((codec::decode(&e.value)?, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// A future that completes as soon as someone other than this executor
    /// writes, deletes or purges `lease`'s key (or the watch itself fails,
    /// which is reported as a loss to be safe). Dropping it stops the watch.
    pub async fn watch_loss(&self, lease: &Lease) -> Result<LeaseLoss, LeaseError> {
        let kv = self.kv().await?;
        let mut watch = kv
            .watch(lease.key.kv_key())
            .await
            .map_err(|e| Error::nats(format!("watching the lease of {}", lease.key), e))?;
        let (tx, rx) = oneshot::channel();
        let (owner, since, what) = (self.owner.clone(), lease.epoch, lease.key.clone());
        let task = tokio::spawn(async move {
            while let Some(item) = watch.next().await {
                let Ok(entry) = item else { break };
                if entry.revision < since {
                    continue;
                }
                let ours = entry.operation == Operation::Put
                    && codec::decode::<LeaseRecord>(&entry.value).is_ok_and(|r| r.owner == owner);
                if !ours {
                    tracing::warn!(lease = %what, revision = entry.revision, "lease lost");
                    break;
                }
            }
            let _ = tx.send(());
        });
        Ok(LeaseLoss { rx, task })
    }
}

/// Completes when the watched lease is lost. See [`LeaseManager::watch_loss`].
#[derive(Debug)]
pub struct LeaseLoss {
    rx: oneshot::Receiver<()>,
    task: JoinHandle<()>,
}

impl LeaseLoss {
    /// Whether the loss has already been observed (non-blocking).
    pub fn is_lost(&mut self) -> bool {
        !matches!(self.rx.try_recv(), Err(oneshot::error::TryRecvError::Empty))
    }
}

impl Future for LeaseLoss {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.rx).poll(cx).map(|_| ())
    }
}

impl Drop for LeaseLoss {
    fn drop(&mut self) {
        self.task.abort();
    }
}
