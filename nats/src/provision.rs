//! Idempotent provisioning of every stream and bucket of the NATS contract.
//! Each one is created when missing; when present, the settings Revenant
//! manages (subjects, replicas, limits, flags) are compared and the stream is
//! updated only if they differ. Settings JetStream cannot change in place
//! (storage, retention) and the namespace's shard count are refused with an
//! error that says what to do. Settings Revenant does not manage are left as
//! an operator set them.
//!
//! Nothing grows without bound: `RVN_DEAD` keeps dead letters for a configured
//! age and size (oldest dropped first), `RVN_RESULTS` for its TTL, and
//! `RVN_EXECUTORS` expires the record of an executor that stopped heartbeating
//! (a killed one never removes its own).
//!
//! `RVN_INVOKE` uses **limits** retention: executors consume each shard with a
//! durable pull consumer and ack; messages stay (bounded by operator limits)
//! so tools can inspect them and a new lease holder resumes from the consumer's
//! ack floor. Interest retention would drop invocations published while no
//! consumer exists yet, and work-queue retention forbids overlapping consumers
//! (e.g. an admin tool's), so neither is used. `RVN_INVOKE` also allows message
//! schedules and per-message TTLs (durable timers and scheduled invocations publish
//! holders `rvn.schedule.…`), and provisioning refuses a message-count, byte or
//! per-subject limit on it (set by an operator): JetStream would evict holders
//! silently when one is reached ([`Error::EvictsSchedules`]).

use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{self, RetentionPolicy, StorageType, SubjectTransform};
use async_nats::jetstream::{kv, object_store};
use revenant_types::config::StorageKind;

use crate::client::Nats;
use crate::error::{Error, Result};

/// What one provisioning pass did, per stream (JetStream stream names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

enum Create {
    Stream,
    Kv(Box<kv::Config>),
    /// A bucket created as its stream, for settings `kv::Config` lacks (`persist_mode`).
    KvStream(Box<stream::Config>),
    Object(Box<object_store::Config>),
}

type Apply = Box<dyn Fn(&mut stream::Config) + Send + Sync>;

struct Spec {
    /// JetStream stream name (`RVN_OPLOG`, `KV_RVN_SHARDS`, `OBJ_RVN_SNAPSHOTS`).
    stream: String,
    /// For messages: "stream RVN_OPLOG", "KV bucket RVN_SHARDS".
    what: String,
    create: Create,
    /// Sets every managed field on a stream config.
    apply: Apply,
}

impl Nats {
    /// Creates or verifies every stream and bucket; safe to call from every
    /// process at start-up, concurrently.
    pub async fn provision(&self) -> Result<()> {
        self.provision_report().await.map(drop)
    }

    /// [`Nats::provision`], reporting what was created, updated or left alone.
    pub async fn provision_report(&self) -> Result<ProvisionReport> {
        let mut report = ProvisionReport::default();
        for spec in self.specs() {
            self.ensure(&spec, &mut report).await?;
        }
        Ok(report)
    }

    fn storage(&self) -> StorageType {
        match self.options().storage {
            StorageKind::File => StorageType::File,
            StorageKind::Memory => StorageType::Memory,
        }
    }

    fn specs(&self) -> Vec<Spec> {
        let ns = self.namespace().clone();
        let opts = self.options().clone();
        let (storage, replicas) = (self.storage(), opts.replicas.max(1));
        let base = move |c: &mut stream::Config| {
            c.storage = storage;
            c.num_replicas = replicas;
        };
        let plain = |name: String, subjects: Vec<String>, extra: Apply| Spec {
            what: format!("stream {name}"),
            stream: name,
            create: Create::Stream,
            apply: Box::new(move |c| {
                base(c);
                c.subjects.clone_from(&subjects);
                c.retention = RetentionPolicy::Limits;
                extra(c);
            }),
        };
        let kv_spec = |bucket: String, max_age: Duration| Spec {
            stream: format!("KV_{bucket}"),
            what: format!("KV bucket {bucket}"),
            create: Create::Kv(Box::new(kv::Config {
                bucket,
                history: 1,
                max_age,
                storage,
                num_replicas: replicas,
                ..Default::default()
            })),
            apply: Box::new(move |c| {
                base(c);
                c.max_age = max_age;
                c.max_messages_per_subject = 1;
                // JetStream refuses a duplicate window longer than max_age.
                if !max_age.is_zero() && c.duplicate_window > max_age {
                    c.duplicate_window = max_age;
                }
            }),
        };
        // The result index is derived data (every journaled answer is in an oplog, where
        // readers that know the worker find it): on one file-backed server it is written
        // without an fsync of its own (`persist_mode: async`, which JetStream allows only
        // for R1 and only at creation, so an existing bucket keeps its mode).
        let index_spec = |bucket: String, max_age: Duration| {
            let mut spec = kv_spec(bucket.clone(), max_age);
            if replicas == 1 && storage == StorageType::File {
                let mut config = stream::Config {
                    name: spec.stream.clone(),
                    subjects: vec![format!("$KV.{bucket}.>")],
                    allow_rollup: true,
                    deny_delete: true,
                    allow_direct: true,
                    discard: stream::DiscardPolicy::New,
                    persist_mode: Some(stream::PersistenceMode::Async),
                    ..Default::default()
                };
                (spec.apply)(&mut config);
                spec.create = Create::KvStream(Box::new(config));
            }
            spec
        };
        let obj_spec = |bucket: String| Spec {
            stream: format!("OBJ_{bucket}"),
            what: format!("object store {bucket}"),
            create: Create::Object(Box::new(object_store::Config {
                bucket,
                storage,
                num_replicas: replicas,
                ..Default::default()
            })),
            apply: Box::new(base),
        };

        let transform = SubjectTransform {
            source: ns.invoke_wildcard(),
            destination: ns.invoke_transform_dest(opts.shards),
        };
        let dead_max_age = Duration::from_secs(opts.dead_letter_max_age_secs);
        let dead_max_bytes = match i64::try_from(opts.dead_letter_max_bytes) {
            Ok(0) | Err(_) => -1,
            Ok(n) => n,
        };
        let (dedup, max_msg) = (
            Duration::from_secs(opts.dedup_window_secs),
            i32::try_from(opts.max_payload),
        );
        vec![
            plain(
                ns.invoke_stream(),
                vec![ns.invoke_wildcard(), ns.schedule_wildcard()],
                Box::new(move |c| {
                    c.subject_transform = Some(transform.clone());
                    c.duplicate_window = dedup;
                    c.max_message_size = max_msg.unwrap_or(-1);
                    c.allow_message_schedules = true;
                    c.allow_message_ttl = true;
                }),
            ),
            plain(
                ns.oplog_stream(),
                vec![ns.oplog_wildcard()],
                Box::new(|c| {
                    c.allow_direct = true;
                    // Appends of several workers share one write ([`crate::oplog::batch`]).
                    c.allow_atomic_publish = true;
                }),
            ),
            plain(
                ns.dead_stream(),
                vec![ns.dead_wildcard()],
                Box::new(move |c| {
                    c.max_age = dead_max_age;
                    c.max_bytes = dead_max_bytes;
                    c.discard = stream::DiscardPolicy::Old;
                }),
            ),
            kv_spec(ns.shards_bucket(), Duration::ZERO),
            kv_spec(
                ns.executors_bucket(),
                Duration::from_secs(opts.executor_record_ttl_secs),
            ),
            kv_spec(ns.workers_bucket(), Duration::ZERO),
            kv_spec(ns.components_bucket(), Duration::ZERO),
            index_spec(
                ns.results_bucket(),
                Duration::from_secs(opts.results_ttl_secs),
            ),
            kv_spec(ns.apis_bucket(), Duration::ZERO),
            kv_spec(ns.promises_bucket(), Duration::ZERO),
            kv_spec(ns.schedules_bucket(), Duration::ZERO),
            kv_spec(ns.subscriptions_bucket(), Duration::ZERO),
            obj_spec(ns.components_bucket()),
            obj_spec(ns.snapshots_bucket()),
            obj_spec(ns.blobs_bucket()),
        ]
    }

    async fn ensure(&self, spec: &Spec, report: &mut ProvisionReport) -> Result<()> {
        // Two passes at most: a concurrent creator may win the race between our
        // "not found" and our create, after which we verify what it made.
        for _ in 0..3 {
            match self.jetstream().get_stream(&spec.stream).await {
                Ok(existing) => {
                    let current = existing.cached_info().config.clone();
                    return self.verify(spec, current, report).await;
                }
                Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND) => {
                    if self.create(spec).await? {
                        report.created.push(spec.stream.clone());
                        return Ok(());
                    }
                }
                Err(e) => return Err(Error::nats(format!("looking up {}", spec.what), e)),
            }
        }
        Err(Error::Malformed {
            what: spec.what.clone(),
            reason: "it keeps appearing and disappearing".into(),
        })
    }

    /// Creates the stream; `false` when someone else created it first with other settings.
    async fn create(&self, spec: &Spec) -> Result<bool> {
        let js = self.jetstream();
        let op = || format!("creating {}", spec.what);
        let raced = |e: &async_nats::jetstream::context::CreateStreamError| matches!(e.kind(), CreateStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NAME_EXIST);
        match &spec.create {
            Create::Stream | Create::KvStream(_) => {
                let config = if let Create::KvStream(config) = &spec.create {
                    (**config).clone()
                } else {
                    let mut config = stream::Config {
                        name: spec.stream.clone(),
                        ..Default::default()
                    };
                    (spec.apply)(&mut config);
                    config
                };
                match js.create_stream(config).await {
                    Ok(_) => Ok(true),
                    Err(e) if raced(&e) => Ok(false),
                    Err(e) => Err(Error::nats(op(), e)),
                }
            }
            // KV and object-store creation wrap the stream error; a lost race shows up as
            // "exists" on the next lookup, so any failure is retried once via `ensure`.
            Create::Kv(config) => match js.create_key_value((**config).clone()).await {
                Ok(_) => Ok(true),
                Err(e) if self.jetstream().get_stream(&spec.stream).await.is_ok() => {
                    tracing::debug!(error = %e, "{} appeared concurrently", spec.what);
                    Ok(false)
                }
                Err(e) => Err(Error::nats(op(), e)),
            },
            Create::Object(config) => match js.create_object_store((**config).clone()).await {
                Ok(_) => Ok(true),
                Err(e) if self.jetstream().get_stream(&spec.stream).await.is_ok() => {
                    tracing::debug!(error = %e, "{} appeared concurrently", spec.what);
                    Ok(false)
                }
                Err(e) => Err(Error::nats(op(), e)),
            },
        }
    }

    async fn verify(
        &self,
        spec: &Spec,
        current: stream::Config,
        report: &mut ProvisionReport,
    ) -> Result<()> {
        let mut desired = current.clone();
        (spec.apply)(&mut desired);
        if spec.stream == self.namespace().invoke_stream() {
            refuse_evicting_limits(&current)?;
        }

        if let (Some(have), Some(want)) = (&current.subject_transform, &desired.subject_transform)
            && have != want
        {
            return Err(Error::ShardCountMismatch {
                namespace: self.namespace().prefix().to_owned(),
                existing: partition_count(&have.destination)
                    .unwrap_or_else(|| have.destination.clone()),
                configured: self.options().shards,
            });
        }
        if current.storage != desired.storage {
            return Err(Error::Incompatible {
                what: spec.what.clone(),
                field: "storage",
                existing: format!("{:?}", current.storage),
                configured: format!("{:?}", desired.storage),
            });
        }
        if current.retention != desired.retention {
            return Err(Error::Incompatible {
                what: spec.what.clone(),
                field: "retention",
                existing: format!("{:?}", current.retention),
                configured: format!("{:?}", desired.retention),
            });
        }
        if current == desired {
            report.unchanged.push(spec.stream.clone());
            return Ok(());
        }
        tracing::info!(stream = %spec.stream, "updating {} to the configured settings", spec.what);
        self.jetstream()
            .update_stream(desired)
            .await
            .map_err(|e| Error::nats(format!("updating {}", spec.what), e))?;
        report.updated.push(spec.stream.clone());
        Ok(())
    }
}

/// `RVN_INVOKE` holds schedule holders: a message-count or byte limit would evict them
/// silently once reached (max age does not: holders carry `Nats-TTL: never`).
fn refuse_evicting_limits(c: &stream::Config) -> Result<()> {
    let limits = [
        ("max_msgs", "max-msgs", c.max_messages),
        ("max_bytes", "max-bytes", c.max_bytes),
        (
            "max_msgs_per_subject",
            "max-msgs-per-subject",
            c.max_messages_per_subject,
        ),
    ];
    match limits.into_iter().find(|(_, _, v)| *v > 0) {
        Some((limit, flag, value)) => Err(Error::EvictsSchedules {
            stream: c.name.clone(),
            limit,
            flag,
            value,
        }),
        None => Ok(()),
    }
}

/// `N` of `…{{partition(N,1,2)}}…`.
fn partition_count(dest: &str) -> Option<String> {
    let rest = dest.split_once("partition(")?.1;
    Some(rest.split_once(',')?.0.trim().to_owned())
}
