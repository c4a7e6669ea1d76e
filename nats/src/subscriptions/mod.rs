//! Subscriptions on the wire (ARCHITECTURE.md "Subscriptions"): definitions in
//! KV `RVN_SUBSCRIPTIONS` (`def.<name>`, JSON [`SubscriptionSpec`]), the status
//! each forwarder reports (`status.<name>`), the retry a blocked message is on
//! (`attempt.<name>.<seq>`), the durable pull consumer a forwarder reads the
//! source stream with (`<prefix>-sub-<name>`, `max_ack_pending` = the window,
//! taken over like a shard's: what an earlier forwarder left unacknowledged comes
//! first, in stream order), source messages, their dead letters, and guests'
//! durable publishes ([`Nats::publish_message`]).
//!
//! Not here: what a forwarder does with a message (the executor decides), the
//! lease it runs under (`crate::lease`, key `sub.<name>`).

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use async_nats::jetstream::{self, AckKind, consumer};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use revenant_types::ComponentName;
use revenant_types::WorkerId;
use revenant_types::oplog::ErrorBody;
use revenant_types::records::ExportedFunction;
use revenant_types::subscription::{
    DEFAULT_WINDOW, Input, OnFailure, SUBSCRIBER_HANDLE, Start, SubscriptionError,
    SubscriptionSpec, SubscriptionStatus, WorkerTemplate,
};
use serde::{Deserialize, Serialize};

use crate::Nats;
use crate::error::{Error, Result};
use crate::names::Namespace;

/// How long the source consumer waits for an ack before redelivering; forwarders
/// report progress on what they hold well within it.
pub const ACK_WAIT: Duration = Duration::from_secs(30);
/// How often a forwarder tells the server it still works on what it holds.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

pub use crate::headers::{SOURCE, SUBSCRIPTION};

/// One message of a subscription's source stream.
#[derive(Debug)]
pub struct SourceMessage {
    pub sequence: u64,
    /// When the stream stored it, ms since the epoch.
    pub published_ms: u64,
    /// How often it was delivered (1 the first time).
    pub delivered: u64,
    message: jetstream::Message,
}

impl SourceMessage {
    fn new(message: jetstream::Message) -> Self {
        let (sequence, published_ms, delivered) = message
            .info()
            .map(|i| {
                (
                    i.stream_sequence,
                    u64::try_from(i.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
                    u64::try_from(i.delivered).unwrap_or(1),
                )
            })
            .unwrap_or((0, 0, 1));
        Self {
            sequence,
            published_ms,
            delivered,
            message,
        }
    }

    pub fn subject(&self) -> &str {
        self.message.subject.as_str()
    }

    pub fn payload(&self) -> &Bytes {
        &self.message.payload
    }

    pub fn headers(&self) -> Option<&HeaderMap> {
        self.message.headers.as_ref()
    }

    /// A header's first value, when present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().and_then(|h| h.get(name)).map(|v| v.as_str())
    }

    /// Every header as (name, value) pairs, in order.
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers()
            .into_iter()
            .flat_map(|h| h.iter())
            .flat_map(|(n, vs)| {
                let n: &str = n.as_ref();
                vs.iter()
                    .map(move |v| (n.to_owned(), v.as_str().to_owned()))
            })
            .collect()
    }

    /// Applied (or dead-lettered): never delivered again.
    pub async fn ack(&self) -> Result<()> {
        self.message
            .ack_with(AckKind::Ack)
            .await
            .map_err(|e| Error::nats("ack a subscription's message", e))
    }

    /// Still being applied: resets the ack wait.
    pub async fn in_progress(&self) -> Result<()> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| Error::nats("report progress on a subscription's message", e))
    }
}

/// The consumer configuration of a subscription: the window, the filters, and where a
/// new consumer starts (an existing one keeps its position: JetStream cannot move it).
pub fn consumer_config(
    ns: &Namespace,
    spec: &SubscriptionSpec,
    existing: Option<&consumer::Config>,
) -> consumer::pull::Config {
    let deliver_policy = match existing {
        Some(c) => c.deliver_policy,
        None => match spec.start {
            Start::New => consumer::DeliverPolicy::New,
            Start::All => consumer::DeliverPolicy::All,
            Start::Sequence(n) => consumer::DeliverPolicy::ByStartSequence { start_sequence: n },
            Start::Time(ms) => consumer::DeliverPolicy::ByStartTime {
                start_time: time::OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(ms) * 1_000_000,
                )
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            },
        },
    };
    let (filter_subject, filter_subjects) = match spec.filters.as_slice() {
        [] => (String::new(), Vec::new()),
        [one] => (one.clone(), Vec::new()),
        many => (String::new(), many.to_vec()),
    };
    consumer::pull::Config {
        durable_name: Some(ns.subscription_consumer(&spec.name)),
        description: Some(format!(
            "Revenant subscription {} → {}/{}",
            spec.name, spec.component, spec.worker
        )),
        filter_subject,
        filter_subjects,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: i64::from(spec.window),
        max_deliver: -1,
        deliver_policy,
        ..Default::default()
    }
}

/// Where a subscription's consumer starts again when a forwarder takes it over: right
/// after its ack floor (everything up to it is applied), or where it first started when
/// nothing was acknowledged yet.
pub fn restart_policy(ack_floor: u64, existing: &consumer::Config) -> consumer::DeliverPolicy {
    if ack_floor > 0 {
        consumer::DeliverPolicy::ByStartSequence {
            start_sequence: ack_floor + 1,
        }
    } else {
        existing.deliver_policy
    }
}

/// Lag of a subscription's consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    /// Messages not yet delivered.
    pub pending: u64,
    /// Delivered, not yet acknowledged.
    pub ack_pending: u64,
    /// The stream sequence of the last message delivered.
    pub delivered: u64,
}

/// What `revenant subscription add` (and `POST /v1/subscriptions`) asks for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NewSubscription {
    pub name: String,
    pub stream: String,
    #[serde(default)]
    pub filters: Vec<String>,
    pub component: String,
    /// The worker template, e.g. `orders-{token:2}`.
    pub worker: String,
    /// The export to call; default `revenant:api/subscriber.handle`.
    #[serde(default)]
    pub function: Option<String>,
    #[serde(default)]
    pub window: Option<u32>,
    /// `block-key` (default) or `dead-letter`.
    #[serde(default)]
    pub on_failure: Option<String>,
    /// `new` (default), `all`, `seq:<n>` or an RFC 3339 time.
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub paused: bool,
}

/// A stream a subscriptions file creates when missing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StreamDef {
    pub name: String,
    pub subjects: Vec<String>,
}

/// A subscriptions file (YAML or JSON): streams to create when missing, subscriptions
/// to add when missing. `revenant up` applies the bundled pipeline's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SubscriptionsFile {
    #[serde(default)]
    pub streams: Vec<StreamDef>,
    #[serde(default)]
    pub subscriptions: Vec<NewSubscription>,
}

impl Nats {
    /// Applies a subscriptions file: creates its missing streams and adds its missing
    /// subscriptions (an existing one is left as it is). Returns one line per item.
    pub async fn apply_subscriptions(&self, file: &SubscriptionsFile) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for s in &file.streams {
            if self.ensure_stream(&s.name, &s.subjects).await? {
                done.push(format!(
                    "created stream {} ({})",
                    s.name,
                    s.subjects.join(", ")
                ));
            }
        }
        for new in &file.subscriptions {
            if self.subscription(&new.name).await?.is_some() {
                done.push(format!("subscription {} exists", new.name));
                continue;
            }
            let spec = self.add_subscription(new).await?;
            done.push(format!(
                "added subscription {}: {} → {}/{} {}",
                spec.name, spec.stream, spec.component, spec.worker, spec.function
            ));
        }
        Ok(done)
    }
}

impl NewSubscription {
    /// The spec, checked against the component's latest version: the function is
    /// resolved among its exports (the message is passed whole to
    /// `revenant:api/subscriber.handle`, as arguments to any other function).
    pub fn spec(
        &self,
        exports: &[ExportedFunction],
    ) -> std::result::Result<SubscriptionSpec, SubscriptionError> {
        let bad = |m: String| SubscriptionError(m);
        let requested = self.function.as_deref().unwrap_or(SUBSCRIBER_HANDLE);
        let f = revenant_components::names::resolve_function(exports, requested).map_err(|e| {
            bad(format!(
                "component {}: {e}{}",
                self.component,
                if self.function.is_none() {
                    " (without --function a subscription calls revenant:api/subscriber.handle)"
                } else {
                    ""
                }
            ))
        })?;
        let handle = f.name.starts_with("revenant:api/subscriber") && f.name.ends_with(".{handle}");
        let spec = SubscriptionSpec {
            name: self.name.clone(),
            stream: self.stream.clone(),
            filters: self.filters.clone(),
            component: ComponentName::new(self.component.clone())
                .map_err(|e| bad(e.to_string()))?,
            worker: WorkerTemplate::parse(&self.worker)?,
            function: f.name.clone(),
            input: if handle {
                Input::Message
            } else {
                Input::Arguments
            },
            returns_result: f.result.as_deref().is_some_and(|r| r.starts_with("result")),
            window: self.window.unwrap_or(DEFAULT_WINDOW),
            on_failure: self
                .on_failure
                .as_deref()
                .map(OnFailure::parse)
                .transpose()?
                .unwrap_or_default(),
            start: self
                .start
                .as_deref()
                .map(Start::parse)
                .transpose()?
                .unwrap_or_default(),
            paused: self.paused,
            retries: 0,
            skips: 0,
            created_at: revenant_types::now_ms(),
        };
        spec.check()?;
        Ok(spec)
    }
}

impl Nats {
    /// Creates stream `name` capturing `subjects` (file storage, no limits) unless it
    /// exists; `true` when it was created. For examples and `revenant up`'s
    /// subscriptions file: production streams are the user's own.
    pub async fn ensure_stream(&self, name: &str, subjects: &[String]) -> Result<bool> {
        if self.jetstream().get_stream(name).await.is_ok() {
            return Ok(false);
        }
        let config = jetstream::stream::Config {
            name: name.to_owned(),
            subjects: subjects.to_vec(),
            duplicate_window: Duration::from_secs(120),
            num_replicas: self.options().replicas.max(1),
            ..Default::default()
        };
        self.jetstream()
            .get_or_create_stream(config)
            .await
            .map_err(|e| Error::nats(format!("create stream {name}"), e))?;
        Ok(true)
    }

    /// Every message stored in stream `name` now, as `(subject, payload)` in stream order
    /// (an ordered consumer): what examples and checks compute offline results from.
    pub async fn read_stream(&self, name: &str) -> Result<Vec<(String, Bytes)>> {
        let stream = self
            .jetstream()
            .get_stream(name)
            .await
            .map_err(|e| Error::nats(format!("read stream {name}"), e))?;
        let last = stream.cached_info().state.last_sequence;
        let mut out = Vec::new();
        if last == 0 {
            return Ok(out);
        }
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::nats(format!("read stream {name}"), e))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| Error::nats(format!("read stream {name}"), e))?;
        while let Some(m) = messages.next().await {
            let m = m.map_err(|e| Error::nats(format!("read stream {name}"), e))?;
            let seq = m.info().map(|i| i.stream_sequence).unwrap_or(last);
            out.push((m.subject.to_string(), m.payload.clone()));
            if seq >= last {
                break;
            }
        }
        Ok(out)
    }

    /// Adds a subscription: resolves its function against the component's latest
    /// version, checks its stream, stores it. The error says what was expected.
    pub async fn add_subscription(&self, new: &NewSubscription) -> Result<SubscriptionSpec> {
        let component = ComponentName::new(new.component.clone())
            .map_err(|e| Error::BadSubscription(e.to_string()))?;
        let record = self.components().latest(&component).await?.ok_or_else(|| {
            Error::BadSubscription(format!(
                "component {component} does not exist; upload it first (revenant component add {component} <file.wasm>)"
            ))
        })?;
        let spec = new
            .spec(&record.exports)
            .map_err(|e| Error::BadSubscription(e.0))?;
        self.create_subscription(&spec).await?;
        Ok(spec)
    }

    async fn subscriptions_kv(&self) -> Result<kv::Store> {
        self.kv_bucket(self.namespace().subscriptions_bucket())
            .await
    }

    /// The source stream of `spec`, or an error saying it does not exist.
    async fn source_stream(&self, spec: &SubscriptionSpec) -> Result<jetstream::stream::Stream> {
        self.jetstream()
            .get_stream(&spec.stream)
            .await
            .map_err(|e| {
                Error::BadSubscription(format!(
                    "stream {:?} cannot be read ({e}); a subscription reads an existing JetStream stream: create it first (e.g. nats stream add)",
                    spec.stream
                ))
            })
    }

    /// Adds a subscription; [`Error::BadSubscription`] when one of that name exists or
    /// its stream does not.
    pub async fn create_subscription(&self, spec: &SubscriptionSpec) -> Result<()> {
        spec.check()
            .map_err(|e| Error::BadSubscription(e.to_string()))?;
        self.source_stream(spec).await?;
        let kv = self.subscriptions_kv().await?;
        let value = serde_json::to_vec(spec).map_err(|e| malformed("a subscription record", &e))?;
        match kv
            .create(Namespace::subscription_key(&spec.name), value.into())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                Err(Error::BadSubscription(format!(
                    "a subscription named {} exists already; delete it first or choose another name",
                    spec.name
                )))
            }
            Err(e) => Err(Error::nats("store the subscription", e)),
        }
    }

    /// The subscription `name`, if it exists.
    pub async fn subscription(&self, name: &str) -> Result<Option<SubscriptionSpec>> {
        Ok(self.subscription_entry(name).await?.map(|(s, _)| s))
    }

    async fn subscription_entry(&self, name: &str) -> Result<Option<(SubscriptionSpec, u64)>> {
        let kv = self.subscriptions_kv().await?;
        match kv
            .entry(Namespace::subscription_key(name))
            .await
            .map_err(|e| Error::nats("read the subscription", e))?
        {
            Some(e) if e.operation == kv::Operation::Put => {
                let spec = serde_json::from_slice(&e.value)
                    .map_err(|e| malformed(&format!("subscription {name}"), &e))?;
                Ok(Some((spec, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Changes subscription `name` with `change` (compare-and-set: concurrent changes are
    /// applied one after the other); [`Error::BadSubscription`] when it does not exist.
    pub async fn update_subscription(
        &self,
        name: &str,
        change: impl Fn(&mut SubscriptionSpec),
    ) -> Result<SubscriptionSpec> {
        let kv = self.subscriptions_kv().await?;
        loop {
            let Some((mut spec, revision)) = self.subscription_entry(name).await? else {
                return Err(not_found(name));
            };
            change(&mut spec);
            let value =
                serde_json::to_vec(&spec).map_err(|e| malformed("a subscription record", &e))?;
            match kv
                .update(Namespace::subscription_key(name), value.into(), revision)
                .await
            {
                Ok(_) => return Ok(spec),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(Error::nats("update the subscription", e)),
            }
        }
    }

    /// Every subscription with its forwarder's last status, by name.
    pub async fn list_subscriptions(
        &self,
    ) -> Result<Vec<(SubscriptionSpec, Option<SubscriptionStatus>)>> {
        let kv = self.subscriptions_kv().await?;
        let keys: Vec<String> = kv
            .keys()
            .await
            .map_err(|e| Error::nats("list subscriptions", e))?
            .try_collect()
            .await
            .map_err(|e| Error::nats("list subscriptions", e))?;
        let mut out = Vec::new();
        for key in keys {
            let Some(name) = key.strip_prefix("def.") else {
                continue;
            };
            if let Some(spec) = self.subscription(name).await? {
                let status = self.subscription_status(name).await?;
                out.push((spec, status));
            }
        }
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(out)
    }

    /// Deletes subscription `name`: its definition, status and consumer (its forwarder
    /// stops when it sees the definition go). `false` when there was none.
    pub async fn delete_subscription(&self, name: &str) -> Result<bool> {
        let Some(spec) = self.subscription(name).await? else {
            return Ok(false);
        };
        let kv = self.subscriptions_kv().await?;
        kv.purge(Namespace::subscription_key(name))
            .await
            .map_err(|e| Error::nats("delete the subscription", e))?;
        let _ = kv.purge(Namespace::subscription_status_key(name)).await;
        if let Ok(stream) = self.jetstream().get_stream(&spec.stream).await {
            let _ = stream
                .delete_consumer(&self.namespace().subscription_consumer(name))
                .await;
        }
        Ok(true)
    }

    /// Every subscription now, then each change: `(name, Some(spec))` when one is added
    /// or changed, `(name, None)` when it is deleted.
    pub async fn watch_subscriptions(
        &self,
    ) -> Result<impl Stream<Item = (String, Option<SubscriptionSpec>)> + Send + 'static + use<>>
    {
        let kv = self.subscriptions_kv().await?;
        let watch = kv
            .watch_with_history("def.*")
            .await
            .map_err(|e| Error::nats("watch subscriptions", e))?;
        Ok(watch.filter_map(|entry| async move {
            let entry = entry.ok()?;
            let name = entry.key.strip_prefix("def.")?.to_owned();
            match entry.operation {
                kv::Operation::Put => match serde_json::from_slice(&entry.value) {
                    Ok(spec) => Some((name, Some(spec))),
                    Err(e) => {
                        tracing::warn!(subscription = %name, error = %e, "unreadable subscription definition");
                        None
                    }
                },
                _ => Some((name, None)),
            }
        }))
    }

    /// Stores the forwarder's status of subscription `name`.
    pub async fn put_subscription_status(
        &self,
        name: &str,
        status: &SubscriptionStatus,
    ) -> Result<()> {
        let kv = self.subscriptions_kv().await?;
        let value =
            serde_json::to_vec(status).map_err(|e| malformed("a subscription record", &e))?;
        kv.put(Namespace::subscription_status_key(name), value.into())
            .await
            .map_err(|e| Error::nats("store the subscription's status", e))?;
        Ok(())
    }

    /// The last status a forwarder of subscription `name` reported.
    pub async fn subscription_status(&self, name: &str) -> Result<Option<SubscriptionStatus>> {
        let kv = self.subscriptions_kv().await?;
        let value = kv
            .get(Namespace::subscription_status_key(name))
            .await
            .map_err(|e| Error::nats("read the subscription's status", e))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Records that message `sequence` of subscription `name` is retried as retry `retry`
    /// (before that retry is published, so a later forwarder asks for its outcome).
    pub async fn set_subscription_attempt(
        &self,
        name: &str,
        sequence: u64,
        retry: u64,
    ) -> Result<()> {
        let kv = self.subscriptions_kv().await?;
        kv.put(
            Namespace::subscription_attempt_key(name, sequence),
            retry.to_string().into(),
        )
        .await
        .map_err(|e| Error::nats("record a retried message", e))?;
        Ok(())
    }

    /// The retry message `sequence` of subscription `name` is on (0: never retried).
    pub async fn subscription_attempt(&self, name: &str, sequence: u64) -> Result<u64> {
        let kv = self.subscriptions_kv().await?;
        let value = kv
            .get(Namespace::subscription_attempt_key(name, sequence))
            .await
            .map_err(|e| Error::nats("read a retried message", e))?;
        Ok(value
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
            .unwrap_or(0))
    }

    /// Forgets the retry record of an applied message.
    pub async fn clear_subscription_attempt(&self, name: &str, sequence: u64) -> Result<()> {
        let kv = self.subscriptions_kv().await?;
        kv.purge(Namespace::subscription_attempt_key(name, sequence))
            .await
            .map_err(|e| Error::nats("forget a retried message", e))?;
        Ok(())
    }

    /// Creates the consumer of `spec`, or takes it over by starting it again from its
    /// ack floor ([`restart_policy`]), and returns its messages (through the intake
    /// connection). Starting again, rather than waiting for redeliveries, is what keeps
    /// each key in stream order across a takeover: everything not yet acknowledged comes
    /// again in stream order, before anything newer. What was applied already comes
    /// again too; its key answers it from the first outcome, nothing runs twice.
    pub async fn subscription_messages(
        &self,
        spec: &SubscriptionSpec,
    ) -> Result<impl Stream<Item = Result<SourceMessage>> + Send + 'static + use<>> {
        let stream = self.source_stream(spec).await?;
        let name = self.namespace().subscription_consumer(&spec.name);
        let existing = match stream.consumer_info(&name).await {
            Ok(info) => Some(info),
            Err(e) if e.kind() == jetstream::context::ConsumerInfoErrorKind::NotFound => None,
            Err(e) => match e.kind() {
                jetstream::context::ConsumerInfoErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::CONSUMER_NOT_FOUND =>
                {
                    None
                }
                _ => return Err(Error::nats("read the subscription's consumer", e)),
            },
        };
        let mut config = consumer_config(self.namespace(), spec, None);
        match &existing {
            Some(info) => {
                config.deliver_policy =
                    restart_policy(info.ack_floor.stream_sequence, &info.config);
                stream
                    .delete_consumer(&name)
                    .await
                    .map_err(|e| Error::nats("restart the subscription's consumer", e))?;
            }
            // "New" is made concrete, so that a restart before anything was acknowledged
            // starts where the first one did.
            None if spec.start == Start::New => {
                config.deliver_policy = consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: stream.cached_info().state.last_sequence + 1,
                };
            }
            None => {}
        }
        stream
            .create_consumer(config)
            .await
            .map_err(|e| Error::nats("create the subscription's consumer", e))?;
        let consumer_name = name.clone();
        let consumer: consumer::PullConsumer = self
            .intake()
            .await?
            .get_consumer_from_stream(name, spec.stream.clone())
            .await
            .map_err(|e| Error::nats("open the subscription's consumer for intake", e))?;
        let messages = consumer
            .stream()
            .expires(crate::invocations::PULL_EXPIRES)
            .heartbeat(Duration::from_millis(500))
            .max_bytes_per_batch(self.pull_bytes())
            .messages()
            .await
            .map_err(|e| Error::nats("consume the subscription's stream", e))?
            .map(|m| m.map_err(|e| Error::nats("receive a subscription's message", e)));
        // Created anew: its deliveries count from 1, and the stream ends where any were lost
        // (the forwarder then takes the consumer again from its ack floor).
        Ok(
            crate::deliveries::in_sequence(consumer_name, Some(1), messages)
                .map(|m| m.map(SourceMessage::new)),
        )
    }

    /// How far behind subscription `spec`'s consumer is.
    pub async fn subscription_lag(&self, spec: &SubscriptionSpec) -> Result<Lag> {
        let stream = self.source_stream(spec).await?;
        let info = stream
            .consumer_info(self.namespace().subscription_consumer(&spec.name))
            .await
            .map_err(|e| Error::nats("read the subscription's consumer", e))?;
        Ok(Lag {
            pending: info.num_pending,
            ack_pending: info.num_ack_pending as u64,
            delivered: info.delivered.stream_sequence,
        })
    }

    /// When the oldest message of `spec`'s stream not yet delivered was stored (ms since
    /// the epoch), read after sequence `after`.
    pub async fn subscription_next_stored_ms(
        &self,
        spec: &SubscriptionSpec,
        after: u64,
    ) -> Result<Option<u64>> {
        let stream = self.source_stream(spec).await?;
        let filters: Vec<&str> = if spec.filters.is_empty() {
            vec![">"]
        } else {
            spec.filters.iter().map(String::as_str).collect()
        };
        let mut oldest: Option<u64> = None;
        for f in filters {
            if let Ok(m) = stream.direct_get_next_for_subject(f, Some(after + 1)).await {
                let ms = u64::try_from(m.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                oldest = Some(oldest.map_or(ms, |o| o.min(ms)));
            }
        }
        Ok(oldest)
    }

    /// Records a source message that could not be applied in `RVN_DEAD` (under its
    /// worker, or the invalid-name subject when it names none), with the error, the
    /// subscription and the source position.
    pub async fn dead_letter_source(
        &self,
        subscription: &str,
        stream: &str,
        w: Option<&WorkerId>,
        msg: &SourceMessage,
        error: &ErrorBody,
    ) -> Result<()> {
        let mut h = msg.headers().cloned().unwrap_or_default();
        h.insert(SUBSCRIPTION, subscription);
        h.insert(SOURCE, format!("{stream}:{}", msg.sequence).as_str());
        self.dead_letter_raw(w, Some(&h), msg.subject(), msg.payload().clone(), error)
            .await
    }
}

fn malformed(what: &str, e: &serde_json::Error) -> Error {
    Error::Malformed {
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

fn not_found(name: &str) -> Error {
    Error::NoSubscription(format!(
        "there is no subscription named {name}; see revenant subscription list"
    ))
}

mod publish;

#[cfg(test)]
mod tests;
