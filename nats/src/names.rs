//! Every NATS name Revenant uses — stream and bucket names, subjects, KV keys
//! and object names — built by typed constructors under a [`Namespace`] prefix.
//! Nothing outside this module formats a subject. Names are validated by
//! [`revenant_types::names`] before they get here (a [`WorkerId`] is always
//! token-safe), so no constructor can produce a wildcard or an extra token.
//!
//! This module does no IO; provisioning lives in [`crate::provision`].

use revenant_types::names::{self, ComponentName, ExecutorId, WorkerId, WorkerName};
use revenant_types::oplog::OplogIndex;
use revenant_types::promise::{PromiseId, PromiseIdError};

use crate::error::Error;

/// The default namespace prefix.
pub const DEFAULT_PREFIX: &str = "rvn";

/// A namespace prefix: every subject starts with `<prefix>.` and every stream
/// and bucket with `<PREFIX>_`. Two namespaces can share one NATS deployment
/// (prefixes that differ only in letter case share stream names, so don't).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    prefix: String,
    upper: String,
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new(DEFAULT_PREFIX).expect("default prefix is valid")
    }
}

impl Namespace {
    /// Validates `prefix` against `[A-Za-z0-9_-]{1,128}`.
    pub fn new(prefix: &str) -> Result<Self, Error> {
        names::validate("namespace", prefix)?;
        Ok(Self {
            prefix: prefix.to_owned(),
            upper: prefix.to_ascii_uppercase(),
        })
    }

    /// The prefix as given (`rvn`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn upper(&self, what: &str) -> String {
        format!("{}_{what}", self.upper)
    }

    // ---- streams and buckets -------------------------------------------------

    /// `RVN_INVOKE`: invocation requests, stored per shard.
    pub fn invoke_stream(&self) -> String {
        self.upper("INVOKE")
    }
    /// `RVN_OPLOG`: every worker's journal.
    pub fn oplog_stream(&self) -> String {
        self.upper("OPLOG")
    }
    /// `RVN_DEAD`: rejected invocations with the reason.
    pub fn dead_stream(&self) -> String {
        self.upper("DEAD")
    }
    /// `RVN_SHARDS` KV: shard leases.
    pub fn shards_bucket(&self) -> String {
        self.upper("SHARDS")
    }
    /// `RVN_EXECUTORS` KV: executor heartbeats.
    pub fn executors_bucket(&self) -> String {
        self.upper("EXECUTORS")
    }
    /// `RVN_WORKERS` KV: worker metadata and status.
    pub fn workers_bucket(&self) -> String {
        self.upper("WORKERS")
    }
    /// `RVN_COMPONENTS`: both the KV bucket (metadata) and the object store (binaries).
    pub fn components_bucket(&self) -> String {
        self.upper("COMPONENTS")
    }
    /// `RVN_RESULTS` KV (with TTL): completed invocation results.
    pub fn results_bucket(&self) -> String {
        self.upper("RESULTS")
    }
    /// `RVN_SNAPSHOTS` object store: worker snapshots.
    pub fn snapshots_bucket(&self) -> String {
        self.upper("SNAPSHOTS")
    }
    /// `RVN_BLOBS` object store: values too large for one message (oplog batches over
    /// the server's max payload), referenced by `Rvn-Payload-Ref`.
    pub fn blobs_bucket(&self) -> String {
        self.upper("BLOBS")
    }
    /// `RVN_APIS` KV: the router's API definitions (user-defined routes), key `<api-name>`.
    pub fn apis_bucket(&self) -> String {
        self.upper("APIS")
    }
    /// `RVN_PROMISES` KV: promise records, key `<c>.<w>.<index>` ([`Namespace::promise_key`]).
    pub fn promises_bucket(&self) -> String {
        self.upper("PROMISES")
    }
    /// `RVN_SCHEDULES`: the last firing of each schedule (key `<c>.<w>.<id>`).
    pub fn schedules_bucket(&self) -> String {
        self.upper("SCHEDULES")
    }
    /// `RVN_SUBSCRIPTIONS` KV: subscription definitions (`def.<name>`), their
    /// forwarders' status (`status.<name>`) and retried messages (`attempt.<name>.<seq>`).
    pub fn subscriptions_bucket(&self) -> String {
        self.upper("SUBSCRIPTIONS")
    }
    /// `<prefix>-sub-<name>`: the durable consumer a subscription reads its stream with
    /// (it lives on the user's stream, so the namespace is in its name).
    pub fn subscription_consumer(&self, name: &str) -> String {
        format!("{}-sub-{name}", self.prefix())
    }

    // ---- subjects --------------------------------------------------------------

    /// `rvn.invoke.<c>.<w>`: where invocations are published.
    pub fn invoke_subject(&self, w: &WorkerId) -> String {
        format!("{}.invoke.{}.{}", self.prefix, w.component, w.worker)
    }
    /// `rvn.invoke.*.*`: every published invocation (the transform's source).
    pub fn invoke_wildcard(&self) -> String {
        format!("{}.invoke.*.*", self.prefix)
    }
    /// `rvn.invoke.{{partition(N,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}`: the transform's destination.
    pub fn invoke_transform_dest(&self, shards: u32) -> String {
        format!(
            "{}.invoke.{{{{partition({shards},1,2)}}}}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}",
            self.prefix
        )
    }
    /// `rvn.invoke.<shard>.*.*`: one shard's invocations as stored after the transform.
    pub fn invoke_shard_filter(&self, shard: u32) -> String {
        format!("{}.invoke.{shard}.*.*", self.prefix)
    }
    /// `rvn.invoke.<shard>.<c>.<w>`: a worker's invocations as stored.
    pub fn stored_invoke_subject(&self, shard: u32, w: &WorkerId) -> String {
        format!(
            "{}.invoke.{shard}.{}.{}",
            self.prefix, w.component, w.worker
        )
    }
    /// Parses `rvn.invoke.<shard>.<c>.<w>`; `None` for anything else.
    pub fn parse_stored_invoke_subject(&self, subject: &str) -> Option<(u32, WorkerId)> {
        let rest = self.strip(subject, "invoke")?;
        let mut t = rest.split('.');
        let (shard, c, w) = (t.next()?, t.next()?, t.next()?);
        if t.next().is_some() || shard.starts_with('+') {
            return None;
        }
        Some((shard.parse().ok()?, WorkerId::parse(c, w).ok()?))
    }
    /// `rvn.schedule.<c>.<w>.<id>`: a schedule holder (in `RVN_INVOKE`, which allows
    /// message schedules): `t-<index>` a durable timer, `i-<key>` a one-off scheduled
    /// invocation, `c-<name>` a cron schedule. Purging it cancels the schedule.
    pub fn schedule_subject(&self, w: &WorkerId, id: &str) -> Result<String, Error> {
        names::validate("schedule id", id)?;
        Ok(format!(
            "{}.schedule.{}.{}.{id}",
            self.prefix, w.component, w.worker
        ))
    }
    /// `rvn.schedule.<c>.<w>.>`: every schedule holder of one worker.
    pub fn schedule_worker_wildcard(&self, w: &WorkerId) -> String {
        format!("{}.schedule.{}.{}.>", self.prefix, w.component, w.worker)
    }
    /// Parses `rvn.schedule.<c>.<w>.<id>` (a holder, or the `Nats-Scheduler` of a fired
    /// copy); `None` for anything else.
    pub fn parse_schedule_subject(&self, subject: &str) -> Option<(WorkerId, String)> {
        let rest = self.strip(subject, "schedule")?;
        let mut t = rest.split('.');
        let (c, w, id) = (t.next()?, t.next()?, t.next()?);
        if t.next().is_some() || names::validate("schedule id", id).is_err() {
            return None;
        }
        Some((WorkerId::parse(c, w).ok()?, id.to_owned()))
    }
    /// `rvn.schedule.>`.
    pub fn schedule_wildcard(&self) -> String {
        format!("{}.schedule.>", self.prefix)
    }
    /// `rvn.oplog.<c>.<w>`: the worker's journal.
    pub fn oplog_subject(&self, w: &WorkerId) -> String {
        format!("{}.oplog.{}.{}", self.prefix, w.component, w.worker)
    }
    /// `rvn.oplog.>`.
    pub fn oplog_wildcard(&self) -> String {
        format!("{}.oplog.>", self.prefix)
    }
    /// `rvn.dead.<c>.<w>`: dead letters of the worker.
    pub fn dead_subject(&self, w: &WorkerId) -> String {
        format!("{}.dead.{}.{}", self.prefix, w.component, w.worker)
    }
    /// `rvn.dead.>`.
    /// Where invocations whose subject names no valid worker are dead-lettered.
    pub fn dead_invalid_subject(&self) -> String {
        format!("{}.dead._invalid._invalid", self.prefix)
    }

    pub fn dead_wildcard(&self) -> String {
        format!("{}.dead.>", self.prefix)
    }
    /// `rvn.call.<c>.<w>`: core request/reply invocation.
    pub fn call_subject(&self, w: &WorkerId) -> String {
        format!("{}.call.{}.{}", self.prefix, w.component, w.worker)
    }
    /// `rvn.call.*.*`.
    pub fn call_wildcard(&self) -> String {
        format!("{}.call.*.*", self.prefix)
    }
    /// Parses `rvn.call.<c>.<w>`; `None` for anything else (including invalid names).
    pub fn parse_call_subject(&self, subject: &str) -> Option<WorkerId> {
        let rest = self.strip(subject, "call")?;
        let (c, w) = rest.split_once('.')?;
        WorkerId::parse(c, w).ok()
    }
    /// `rvn.control.<c>.<w>`: core request/reply to interrupt or resume the worker; every
    /// executor listens, the one holding the worker's shard answers.
    pub fn control_subject(&self, w: &WorkerId) -> String {
        format!("{}.control.{}.{}", self.prefix, w.component, w.worker)
    }
    /// `rvn.executor.<id>.crash`: crash drills of one executor (core request/reply).
    pub fn executor_crash_subject(&self, id: &ExecutorId) -> String {
        format!("{}.executor.{id}.crash", self.prefix)
    }
    /// `rvn.control.*.*`.
    pub fn control_wildcard(&self) -> String {
        format!("{}.control.*.*", self.prefix)
    }
    /// Parses `rvn.control.<c>.<w>`; `None` for anything else (including invalid names).
    pub fn parse_control_subject(&self, subject: &str) -> Option<WorkerId> {
        let rest = self.strip(subject, "control")?;
        let (c, w) = rest.split_once('.')?;
        WorkerId::parse(c, w).ok()
    }
    /// `rvn.inspect.<c>.<w>`: core request/reply for the worker's state as of an oplog
    /// index (time travel); every executor listens, the one holding the worker's shard answers.
    pub fn inspect_subject(&self, w: &WorkerId) -> String {
        format!("{}.inspect.{}.{}", self.prefix, w.component, w.worker)
    }
    /// `rvn.inspect.*.*`.
    pub fn inspect_wildcard(&self) -> String {
        format!("{}.inspect.*.*", self.prefix)
    }
    /// Parses `rvn.inspect.<c>.<w>`; `None` for anything else (including invalid names).
    pub fn parse_inspect_subject(&self, subject: &str) -> Option<WorkerId> {
        let rest = self.strip(subject, "inspect")?;
        let (c, w) = rest.split_once('.')?;
        WorkerId::parse(c, w).ok()
    }
    /// `rvn.promise.<c>.<w>.<index>`: core request/reply completing a promise (body = payload).
    pub fn promise_subject(&self, p: &PromiseId) -> String {
        format!("{}.promise.{}", self.prefix, p.dotted())
    }
    /// `rvn.promise.*.*.*`.
    pub fn promise_wildcard(&self) -> String {
        format!("{}.promise.*.*.*", self.prefix)
    }
    /// Parses `rvn.promise.<c>.<w>.<index>`; `None` when the subject is not one at all,
    /// `Some(Err)` when it is one whose parts are not a promise id (saying what was expected).
    pub fn parse_promise_subject(
        &self,
        subject: &str,
    ) -> Option<Result<PromiseId, PromiseIdError>> {
        let rest = self.strip(subject, "promise")?;
        let mut t = rest.split('.');
        let (c, w, i) = (t.next()?, t.next()?, t.next()?);
        if t.next().is_some() {
            return None;
        }
        Some(PromiseId::parse_parts(c, w, i))
    }
    /// `rvn.events.<c>.<w>`: live output and invocation events.
    pub fn events_subject(&self, w: &WorkerId) -> String {
        format!("{}.events.{}.{}", self.prefix, w.component, w.worker)
    }
    /// `rvn.events.*.*`.
    pub fn events_wildcard(&self) -> String {
        format!("{}.events.*.*", self.prefix)
    }

    fn strip<'a>(&self, subject: &'a str, kind: &str) -> Option<&'a str> {
        subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('.')?
            .strip_prefix(kind)?
            .strip_prefix('.')
    }

    // ---- keys and objects --------------------------------------------------------

    /// `shard.<n>` in `RVN_SHARDS`.
    pub fn shard_key(shard: u32) -> String {
        format!("shard.{shard}")
    }
    /// `sub.<name>` in `RVN_SHARDS`: the lease of a subscription's forwarder.
    pub fn subscription_lease_key(name: &str) -> String {
        format!("sub.{name}")
    }
    /// `def.<name>` in `RVN_SUBSCRIPTIONS`.
    pub fn subscription_key(name: &str) -> String {
        format!("def.{name}")
    }
    /// `status.<name>` in `RVN_SUBSCRIPTIONS`.
    pub fn subscription_status_key(name: &str) -> String {
        format!("status.{name}")
    }
    /// `attempt.<name>.<seq>` in `RVN_SUBSCRIPTIONS`: the retry a blocked message is on.
    pub fn subscription_attempt_key(name: &str, sequence: u64) -> String {
        format!("attempt.{name}.{sequence}")
    }
    /// `<c>.<w>` in `RVN_WORKERS`.
    pub fn worker_key(w: &WorkerId) -> String {
        w.dotted()
    }
    /// `<c>.<w>.<index>` in `RVN_PROMISES`.
    /// `<c>.<w>.<id>`: a schedule's last-firing record in `RVN_SCHEDULES`.
    pub fn schedule_key(w: &WorkerId, id: &str) -> String {
        format!("{}.{}.{id}", w.component, w.worker)
    }
    pub fn promise_key(p: &PromiseId) -> String {
        p.dotted()
    }
    /// The `RVN_PROMISES` key prefix of a worker's promises (`<c>.<w>.`), or of a
    /// component's (`<c>.`), for listing.
    pub fn promise_key_prefix(component: &ComponentName, worker: Option<&WorkerName>) -> String {
        match worker {
            Some(w) => format!("{component}.{w}."),
            None => format!("{component}."),
        }
    }
    /// Parses a `RVN_PROMISES` key back into the promise's id.
    pub fn parse_promise_key(key: &str) -> Option<PromiseId> {
        let mut t = key.split('.');
        let (c, w, i) = (t.next()?, t.next()?, t.next()?);
        if t.next().is_some() {
            return None;
        }
        PromiseId::parse_parts(c, w, i).ok()
    }
    /// `complete:<c>.<w>.<index>`: the `Nats-Msg-Id` of a promise's wake message.
    pub fn promise_wake_msg_id(p: &PromiseId) -> String {
        format!("complete:{}", p.dotted())
    }
    /// `<executor-id>` in `RVN_EXECUTORS`.
    pub fn executor_key(id: &ExecutorId) -> String {
        id.as_str().to_owned()
    }
    /// `<c>` in the `RVN_COMPONENTS` KV (latest version's metadata).
    pub fn component_key(c: &ComponentName) -> String {
        c.as_str().to_owned()
    }
    /// `<c>/<version>` in the `RVN_COMPONENTS` object store.
    pub fn component_object(c: &ComponentName, version: u64) -> String {
        format!("{c}/{version}")
    }
    /// `<c>/<w>/<oplog-index>` in the `RVN_SNAPSHOTS` object store.
    pub fn snapshot_object(w: &WorkerId, index: OplogIndex) -> String {
        format!("{}/{}/{index}", w.component, w.worker)
    }
    /// The `RVN_RESULTS` key of worker `w`'s invocation with an idempotency key:
    /// `<c>.<w>.<encoded key>` (keys belong to a worker: the same key of two workers is
    /// two results). See [`Namespace::encoded_result_key`].
    pub fn result_key(w: &WorkerId, idempotency_key: &str) -> String {
        format!(
            "{}.{}.{}",
            w.component,
            w.worker,
            Self::encoded_result_key(idempotency_key)
        )
    }

    /// `*.*.<encoded key>`: the `RVN_RESULTS` keys of an idempotency key at any worker.
    pub fn result_key_any_worker(idempotency_key: &str) -> String {
        format!("*.*.{}", Self::encoded_result_key(idempotency_key))
    }

    /// The worker of an `RVN_RESULTS` key (its first two tokens).
    pub fn parse_result_key(key: &str) -> Option<WorkerId> {
        let mut tokens = key.splitn(3, '.');
        WorkerId::parse(tokens.next()?, tokens.next()?).ok()
    }

    /// An idempotency key as the last tokens of its `RVN_RESULTS` key. Keys made only
    /// of `[A-Za-z0-9_-]` are used as they are; anything else (idempotency keys are
    /// free text) becomes `h.x<hex of the bytes>`, which cannot collide with a plain
    /// key because plain keys have no `.`.
    pub fn encoded_result_key(idempotency_key: &str) -> String {
        let plain = !idempotency_key.is_empty()
            && idempotency_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if plain {
            return idempotency_key.to_owned();
        }
        let mut key = String::with_capacity(3 + 2 * idempotency_key.len());
        key.push_str("h.x");
        for b in idempotency_key.bytes() {
            key.push_str(&format!("{b:02x}"));
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w() -> WorkerId {
        WorkerId::parse("counter", "w-1").unwrap()
    }

    #[test]
    fn builds_the_contract_names() {
        let ns = Namespace::default();
        assert_eq!(ns.invoke_stream(), "RVN_INVOKE");
        assert_eq!(ns.snapshots_bucket(), "RVN_SNAPSHOTS");
        assert_eq!(ns.invoke_subject(&w()), "rvn.invoke.counter.w-1");
        assert_eq!(ns.invoke_shard_filter(7), "rvn.invoke.7.*.*");
        assert_eq!(
            ns.invoke_transform_dest(64),
            "rvn.invoke.{{partition(64,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}"
        );
        assert_eq!(ns.oplog_subject(&w()), "rvn.oplog.counter.w-1");
        assert_eq!(ns.call_wildcard(), "rvn.call.*.*");
        assert_eq!(Namespace::shard_key(3), "shard.3");
        assert_eq!(Namespace::worker_key(&w()), "counter.w-1");
        assert_eq!(Namespace::component_object(&w().component, 2), "counter/2");
        let other = Namespace::new("t-1").unwrap();
        assert_eq!(other.oplog_stream(), "T-1_OPLOG");
        assert_eq!(other.events_subject(&w()), "t-1.events.counter.w-1");
    }

    #[test]
    fn parses_what_it_builds_and_nothing_else() {
        let ns = Namespace::default();
        let stored = ns.stored_invoke_subject(12, &w());
        assert_eq!(ns.parse_stored_invoke_subject(&stored), Some((12, w())));
        assert_eq!(
            ns.parse_stored_invoke_subject("rvn.invoke.counter.w-1"),
            None
        );
        assert_eq!(ns.parse_stored_invoke_subject("rvn.invoke.1.a.b.c"), None);
        assert_eq!(ns.parse_stored_invoke_subject("xyz.invoke.1.a.b"), None);
        assert_eq!(ns.parse_call_subject(&ns.call_subject(&w())), Some(w()));
        assert_eq!(ns.parse_call_subject("rvn.call.a.b.c"), None);
        assert_eq!(ns.parse_call_subject("rvn.calls.a.b"), None);
        assert_eq!(ns.control_subject(&w()), "rvn.control.counter.w-1");
        assert_eq!(ns.control_wildcard(), "rvn.control.*.*");
        assert_eq!(
            ns.parse_control_subject(&ns.control_subject(&w())),
            Some(w())
        );
        assert_eq!(ns.parse_control_subject("rvn.control.a.b.c"), None);
        assert_eq!(ns.inspect_subject(&w()), "rvn.inspect.counter.w-1");
        assert_eq!(ns.inspect_wildcard(), "rvn.inspect.*.*");
        assert_eq!(
            ns.parse_inspect_subject(&ns.inspect_subject(&w())),
            Some(w())
        );
        assert_eq!(ns.parse_inspect_subject("rvn.control.a.b"), None);
        assert_eq!(ns.parse_control_subject("rvn.call.a.b"), None);
        assert_eq!(
            Namespace::new("t")
                .unwrap()
                .parse_call_subject("rvn.call.a.b"),
            None
        );
    }

    #[test]
    fn promise_names_read_back_what_they_write() {
        let ns = Namespace::default();
        let p = PromiseId::new(w(), 7);
        assert_eq!(ns.promises_bucket(), "RVN_PROMISES");
        assert_eq!(ns.promise_subject(&p), "rvn.promise.counter.w-1.7");
        assert_eq!(ns.promise_wildcard(), "rvn.promise.*.*.*");
        assert_eq!(Namespace::promise_key(&p), "counter.w-1.7");
        assert_eq!(
            Namespace::parse_promise_key("counter.w-1.7"),
            Some(p.clone())
        );
        assert_eq!(Namespace::parse_promise_key("counter.w-1"), None);
        assert_eq!(Namespace::promise_wake_msg_id(&p), "complete:counter.w-1.7");
        assert_eq!(
            Namespace::promise_key_prefix(&w().component, Some(&w().worker)),
            "counter.w-1."
        );
        assert_eq!(
            Namespace::promise_key_prefix(&w().component, None),
            "counter."
        );
        assert_eq!(
            ns.parse_promise_subject("rvn.promise.counter.w-1.7"),
            Some(Ok(p))
        );
        assert!(matches!(
            ns.parse_promise_subject("rvn.promise.counter.w-1.x"),
            Some(Err(PromiseIdError::Index { .. }))
        ));
        assert_eq!(ns.parse_promise_subject("rvn.promise.a.b"), None);
        assert_eq!(ns.parse_promise_subject("rvn.call.a.b.1"), None);
    }

    #[test]
    fn refuses_bad_prefixes_and_encodes_free_text_keys() {
        assert!(Namespace::new("a.b").is_err());
        assert!(Namespace::new("").is_err());
        assert_eq!(Namespace::encoded_result_key("key-1"), "key-1");
        assert_eq!(Namespace::encoded_result_key("a.b"), "h.x612e62");
        assert_eq!(Namespace::encoded_result_key(""), "h.x");
        assert_eq!(Namespace::result_key(&w(), "key-1"), "counter.w-1.key-1");
        assert_eq!(Namespace::result_key(&w(), "a.b"), "counter.w-1.h.x612e62");
        assert_eq!(Namespace::result_key_any_worker("a.b"), "*.*.h.x612e62");
        assert_eq!(
            Namespace::parse_result_key("counter.w-1.h.x612e62"),
            Some(w())
        );
    }
}
