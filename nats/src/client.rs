//! [`Nats`]: one connection (core client + JetStream context) bound to a
//! namespace and its options, handing out the oplog store and lease managers.
//! It also predicts the shard of a worker with the same hash the server's
//! `partition()` subject transform uses, so nobody else needs to know it.
//!
//! Provisioning is in [`crate::provision`], the oplog in [`crate::oplog`],
//! leases in [`crate::lease`].

use async_nats::jetstream;
use revenant_types::config::{LeaseOptions, NatsOptions};
use revenant_types::names::{ExecutorId, WorkerId};

use crate::error::{Error, Result};
use crate::lease::LeaseManager;
use crate::names::Namespace;
use crate::oplog::OplogStore;

/// What the intake connection's pulls ask for at most, all shards together ([`Nats::pull_bytes`]).
const INTAKE_BYTES: usize = 16 << 20;

/// A connection to NATS bound to one Revenant namespace. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Nats {
    client: async_nats::Client,
    js: jetstream::Context,
    ns: Namespace,
    /// Shared: the options (with credentials) are large, and a `Nats` is in many futures.
    opts: std::sync::Arc<NatsOptions>,
    /// Opened KV buckets by name: opening one costs a round trip (stream info).
    buckets:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, jetstream::kv::Store>>>,
    /// Reconnect counting and the keyring, behind one pointer (a `Nats` is in many futures).
    trust: std::sync::Arc<Trust>,
}

/// What a connection knows of its trust settings.
#[derive(Debug)]
struct Trust {
    reconnects: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// The keys of encryption at rest, when configured ([`crate::seal`]).
    keyring: Option<crate::seal::Keyring>,
    /// The intake connection ([`Nats::intake`]), made on first use; `None` inside
    /// when this `Nats` wraps a given client (it takes invocations itself then).
    intake: tokio::sync::OnceCell<Option<async_nats::Client>>,
    separate_intake: bool,
    /// Where oplog appends are batched across workers ([`Nats::appender`]), started
    /// on first use; `None` inside when batching is off.
    appender: std::sync::OnceLock<Option<crate::oplog::batch::Appender>>,
}

impl Nats {
    /// Connects to `opts.url` (comma-separated URLs for a cluster) after
    /// validating the namespace and shard count; makes no other NATS call.
    pub async fn connect(opts: &NatsOptions) -> Result<Nats> {
        let ns = Namespace::new(&opts.namespace)?;
        if opts.shards == 0 {
            return Err(Error::Incompatible {
                what: "the shard count".into(),
                field: "shards",
                existing: "0".into(),
                configured: "at least 1".into(),
            });
        }
        let keyring = crate::seal::Keyring::load(&opts.encryption)?;
        let reconnects = std::sync::Arc::new(tokio::sync::watch::channel(0).0);
        let (connect, urls) = crate::connect::connect_options(opts, reconnects.clone()).await?;
        let client = connect
            .connect(urls.clone())
            .await
            .map_err(|source| Error::Connect {
                url: urls.join(","),
                hint: crate::connect::hint(
                    source.kind(),
                    opts.auth.tls_ca.is_some() || opts.auth.tls_cert.is_some(),
                ),
                source,
            })?;
        let mut nats = Self::from_client(client, ns, opts.clone());
        nats.trust = std::sync::Arc::new(Trust {
            reconnects,
            keyring,
            intake: Default::default(),
            separate_intake: true,
            appender: Default::default(),
        });
        Ok(nats)
    }

    /// Wraps an existing connection (e.g. one shared with other subsystems).
    pub fn from_client(client: async_nats::Client, ns: Namespace, opts: NatsOptions) -> Nats {
        let js = jetstream::new(client.clone());
        Nats {
            client,
            js,
            ns,
            opts: std::sync::Arc::new(opts),
            buckets: Default::default(),
            trust: std::sync::Arc::new(Trust {
                reconnects: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
                keyring: None,
                intake: Default::default(),
                separate_intake: false,
                appender: Default::default(),
            }),
        }
    }

    /// The connection's cross-worker appender ([`crate::oplog::batch`]), started on
    /// first use; `None` when `batch_appends` is off.
    pub(crate) fn appender(&self) -> Option<&crate::oplog::batch::Appender> {
        self.trust
            .appender
            .get_or_init(|| {
                self.opts.batch_appends.then(|| {
                    crate::oplog::batch::Appender::start(self.js.clone(), self.client.clone())
                })
            })
            .as_ref()
    }

    /// Seals a value Revenant stores for a worker (oplog payloads, results), when
    /// encryption at rest is configured ([`crate::seal`]); otherwise returns it as it is.
    /// `place` is where it is stored (its oplog subject, its result key): a sealed
    /// value opens only there.
    pub fn seal(&self, plain: Vec<u8>, place: &str) -> Result<Vec<u8>> {
        crate::seal::seal(self.trust.keyring.as_ref(), plain, place)
    }

    /// Opens a value [`Nats::seal`] stored (a plain one reads as it is).
    pub fn unseal<'a>(&self, bytes: &'a [u8], place: &str) -> Result<std::borrow::Cow<'a, [u8]>> {
        crate::seal::open(self.trust.keyring.as_ref(), bytes, place)
    }

    /// The JetStream context an executor takes what anyone may send it through (shard
    /// consumers; call, control and promise requests): a second connection (same
    /// options), so that a message the client cannot parse — which makes async-nats
    /// drop the connection that receives it ([`crate::quarantine`]) — costs only what
    /// is in flight on it, never the replies of lease renewals, oplog appends or
    /// results on the main connection. Its reconnects are counted too.
    pub(crate) async fn intake(&self) -> Result<jetstream::Context> {
        let client = self
            .trust
            .intake
            .get_or_try_init(|| async {
                if !self.trust.separate_intake {
                    return Ok(None);
                }
                let (connect, urls) =
                    crate::connect::connect_options(&self.opts, self.trust.reconnects.clone())
                        .await?;
                let client = connect
                    .name("revenant-intake")
                    .connect(urls.clone())
                    .await
                    .map_err(|source| Error::Connect {
                        url: urls.join(","),
                        hint: crate::connect::hint(source.kind(), false),
                        source,
                    })?;
                Ok::<_, Error>(Some(client))
            })
            .await?;
        Ok(match client {
            Some(c) => jetstream::new(c.clone()),
            None => self.js.clone(),
        })
    }

    /// Counts the connection's reconnects (see [`crate::connect`]).
    pub fn reconnects(&self) -> crate::connect::Reconnects {
        self.trust.reconnects.subscribe()
    }

    /// A KV bucket handle, opened once per connection.
    pub(crate) async fn kv_bucket(&self, bucket: String) -> Result<jetstream::kv::Store> {
        if let Some(kv) = self
            .buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&bucket)
        {
            return Ok(kv.clone());
        }
        let kv = self
            .js
            .get_key_value(bucket.clone())
            .await
            .map_err(|e| Error::nats(format!("open bucket {bucket}"), e))?;
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(bucket, kv.clone());
        Ok(kv)
    }

    /// The namespace every name is built in.
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// The options this connection was made with.
    pub fn options(&self) -> &NatsOptions {
        &self.opts
    }

    /// The core client (for publish / subscribe / request on names built by [`Namespace`]).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// [`byte_budget`] with this server's max payload.
    pub(crate) fn byte_budget(&self, total: usize, parts: usize) -> usize {
        byte_budget(total, parts, self.client.server_info().max_payload)
    }

    /// The bytes one pull of a shard's (or a subscription's) consumer asks for at most:
    /// all shards' pulls together stay well under the 64 MiB the server lets a client
    /// fall behind by before it cuts it off as a slow consumer (a burst of large
    /// invocations once did, while the workers kept the intake connection's reader from
    /// running), unless one message alone is larger.
    pub fn pull_bytes(&self) -> usize {
        self.byte_budget(INTAKE_BYTES, self.opts.shards as usize)
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The fenced oplog store.
    pub fn oplog(&self) -> OplogStore {
        OplogStore::new(self.clone())
    }

    /// A lease manager acting for executor `owner`.
    pub fn leases(&self, owner: ExecutorId, opts: LeaseOptions) -> LeaseManager {
        LeaseManager::new(self.clone(), owner, opts)
    }

    /// The shard the server's `RVN_INVOKE` transform stores `w`'s invocations under.
    pub fn shard_of(&self, w: &WorkerId) -> u32 {
        shard_of(w, self.opts.shards)
    }

    /// `rvn.invoke.<shard>.<c>.<w>`: where `w`'s invocations end up after the transform.
    pub fn stored_invoke_subject(&self, w: &WorkerId) -> String {
        self.ns.stored_invoke_subject(self.shard_of(w), w)
    }
}

/// The server's `{{partition(shards,1,2)}}`: FNV-1a (32 bit) of the component
/// token followed directly by the worker token (no separator), modulo `shards`.
/// (nats-server `subjectTransform.getHashPartition`; checked against a live
/// server by the integration tests.)
pub fn shard_of(w: &WorkerId, shards: u32) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let mut h = OFFSET;
    for b in w
        .component
        .as_str()
        .bytes()
        .chain(w.worker.as_str().bytes())
    {
        h ^= u32::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h % shards.max(1)
}

/// What one of `parts` requests (a read, a consumer's pull) asks the server for at most,
/// in bytes: its share of `total`, but never less than the largest message a server
/// with `max_payload` takes, with room for its subject and framing (a message that
/// does not fit a request's budget alone would never be delivered).
pub fn byte_budget(total: usize, parts: usize, max_payload: usize) -> usize {
    (total / parts.max(1)).max(max_payload + 64 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_budget_is_a_share_of_the_total_but_always_fits_the_largest_message() {
        const MIB: usize = 1 << 20;
        assert_eq!(byte_budget(16 * MIB, 8, MIB), 2 * MIB);
        // 64 shards of 16 MiB is 256 KiB each: too small for a 1 MiB message.
        assert_eq!(byte_budget(16 * MIB, 64, MIB), MIB + 64 * 1024);
        assert_eq!(byte_budget(8 * MIB, 1, MIB), 8 * MIB);
        assert_eq!(byte_budget(8 * MIB, 1, 64 * MIB), 64 * MIB + 64 * 1024);
        assert_eq!(byte_budget(8 * MIB, 0, MIB), 8 * MIB, "no parts is one");
    }

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // FNV-1a 32 of "a" is 0xe40c292c, of "foobar" 0xbf9cf968.
        let a = WorkerId::parse("a", "_").unwrap();
        let mut h = 0x811c_9dc5u32;
        h ^= u32::from(b'a');
        h = h.wrapping_mul(0x0100_0193);
        assert_eq!(h, 0xe40c_292c);
        let foobar = WorkerId::parse("foo", "bar").unwrap();
        assert_eq!(shard_of(&foobar, 1000), 0xbf9c_f968 % 1000);
        assert!(shard_of(&a, 64) < 64);
    }
}
