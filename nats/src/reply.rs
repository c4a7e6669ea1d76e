//! Results on the wire, from the caller's side: the one parser of a reply
//! ([`parse_reply`]: `Rvn-Status` + body → [`InvocationOutcome`]), the one
//! writer of one ([`Nats::reply_outcome`]), where replies arrive ([`Replies`])
//! and the one invoke-and-await ([`Nats::invoke_and_await`]).
//!
//! The contract (ARCHITECTURE.md, "Invocation message"): a result carries
//! `Rvn-Status: ok` and the JSON of the returned value, or `Rvn-Status: error`
//! and the JSON object `{"kind", "message"}`. Invoke-and-await is a JetStream
//! publish with `Nats-Msg-Id` (the idempotency key) and `Rvn-Reply-To`, then a
//! wait for the reply. When JetStream reports the publish as a duplicate it
//! stored nothing and no executor will answer that reply subject: the
//! original's result is picked up from `RVN_RESULTS` instead, where results
//! are kept per worker (`<c>.<w>.<key>`). Which invocation the publish
//! duplicated is read from the stream ([`Nats::duplicated`]): the same key sent
//! to another worker is answered `key-conflict` at once, never with someone
//! else's result; the same key with other arguments is answered with the
//! original's result and says so (`Rvn-Duplicate: arguments-differ` on a NATS
//! reply, [`Awaited::arguments_differ`] for callers of this crate).
//!
//! Reply inboxes: one [`Replies`] is ONE wildcard subscription `<inbox>.*` that
//! routes every reply to the caller waiting on its subject, so a process that
//! makes many calls (the router, the bench) pays no subscribe/unsubscribe per
//! call; a one-shot caller (the CLI, a test) makes its own [`Replies`].
//!
//! Not here: what the executor sends (it uses [`Nats::reply_outcome`]), and the
//! HTTP status of an error kind (the router's business).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use futures::StreamExt;
use revenant_types::WorkerId;
use revenant_types::oplog::{ErrorBody, ErrorKind, InvocationOutcome};
use revenant_types::records::{ResultRecord, outcome_status_and_body};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::invocations::InvocationRequest;
use crate::{Nats, headers};

/// What a reply says: `Rvn-Status: ok` and a JSON body is the returned value
/// (an empty body is JSON `null`); any other status (or none) with a JSON
/// `{"kind", "message"}` body is that error. A reply that is neither is an
/// [`ErrorKind::InvalidReply`] error saying what was wrong, so every caller
/// gets an outcome.
pub fn parse_reply(headers: Option<&HeaderMap>, body: &[u8]) -> InvocationOutcome {
    let status = headers
        .and_then(|h| h.get(headers::STATUS))
        .map(|v| v.as_str());
    let invalid = |reason: String| {
        InvocationOutcome::Err(ErrorBody::new(
            ErrorKind::InvalidReply,
            format!(
                "the reply is not a Revenant result: {reason}; expected {} {} with a JSON value, or {} {} with a JSON object {{\"kind\", \"message\"}}",
                headers::STATUS,
                headers::STATUS_OK,
                headers::STATUS,
                headers::STATUS_ERROR,
            ),
        ))
    };
    if status == Some(headers::STATUS_OK) {
        let text = match std::str::from_utf8(body) {
            Ok(t) => t,
            Err(e) => return invalid(format!("the body is not UTF-8 ({e})")),
        };
        if text.trim().is_empty() {
            return InvocationOutcome::Ok("null".to_owned());
        }
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => InvocationOutcome::Ok(text.to_owned()),
            Err(e) => invalid(format!("the body is not JSON ({e})")),
        };
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => InvocationOutcome::Err(error),
        Err(e) => invalid(format!(
            "status {:?} with a body that is not an error object ({e}): {:?}",
            status.unwrap_or("(none)"),
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    }
}

/// Where replies for one process arrive: ONE wildcard subscription
/// (`<inbox>.*`) routes each reply to the caller waiting on its subject, so an
/// invoke-and-await costs no subscribe/unsubscribe (which would churn the
/// server's subscription index on every request). Cheap to clone.
#[derive(Clone)]
pub struct Replies {
    inner: Arc<RepliesInner>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<async_nats::Message>>>>;

struct RepliesInner {
    prefix: String,
    next: AtomicU64,
    /// The task routing replies holds only a weak reference: it ends with the last clone.
    pending: Pending,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RepliesInner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One expected reply: put [`ReplyInbox::subject`] in `Rvn-Reply-To` (or let
/// [`Nats::invoke_and_await`] do it), then await [`ReplyInbox::next`]. The same
/// inbox may be given to several publishes of one idempotency key (retries):
/// the first reply to any of them is the answer. Dropping it forgets the expectation.
pub struct ReplyInbox {
    subject: String,
    id: u64,
    rx: oneshot::Receiver<async_nats::Message>,
    replies: Replies,
}

impl Drop for ReplyInbox {
    fn drop(&mut self) {
        self.replies.lock().remove(&self.id);
    }
}

impl ReplyInbox {
    /// The subject to put in `Rvn-Reply-To`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The reply, parsed ([`parse_reply`]); `None` when the connection closed.
    /// Parsing happens here, in the caller's task, not in the one routing task.
    pub async fn next(&mut self) -> Option<InvocationOutcome> {
        let m = (&mut self.rx).await.ok()?;
        Some(parse_reply(m.headers.as_ref(), &m.payload))
    }
}

impl Replies {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<async_nats::Message>>> {
        self.inner.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh reply subject and the receiver of what is published to it.
    pub fn inbox(&self) -> ReplyInbox {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        ReplyInbox {
            subject: format!("{}.{id}", self.inner.prefix),
            id,
            rx,
            replies: self.clone(),
        }
    }
}

/// How an invoke-and-await ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaited {
    /// The outcome; `None` when nothing arrived within the timeout (the invocation
    /// is durable: its result will be stored in `RVN_RESULTS` under its key).
    pub outcome: Option<InvocationOutcome>,
    /// JetStream deduplicated the publish (the key was seen within its window),
    /// so the outcome came from `RVN_RESULTS`.
    pub duplicate: bool,
    /// A duplicate whose function or arguments differ from the original's: the outcome
    /// is the original invocation's, not one of these arguments.
    pub arguments_differ: bool,
}

/// What a deduplicated publish duplicated, as read from `RVN_INVOKE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Duplicate {
    /// An invocation of the same worker; `arguments_differ` when its function, content
    /// type or body is not the same.
    Same { arguments_differ: bool },
    /// An invocation of another worker: the key is that worker's.
    Conflict(ErrorBody),
}

/// The invocation stored under a sequence (what a duplicate publish duplicated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvocation {
    pub worker: Option<WorkerId>,
    pub function: Option<String>,
    pub content_type: Option<String>,
    pub body: bytes::Bytes,
}

/// Compares a publish of `w` that JetStream deduplicated with the invocation it
/// duplicated: another worker's is a `key-conflict`; the same worker's with another
/// function, content type or body differs in its arguments.
pub fn compare_duplicate(
    w: &WorkerId,
    key: &str,
    req: &InvocationRequest,
    original: &StoredInvocation,
) -> Duplicate {
    match &original.worker {
        Some(other) if other != w => Duplicate::Conflict(key_conflict(key, other)),
        _ => Duplicate::Same {
            arguments_differ: original.function.as_deref() != Some(req.function.as_str())
                || original
                    .content_type
                    .as_deref()
                    .unwrap_or(headers::CONTENT_TYPE_JSON)
                    != req
                        .content_type
                        .as_deref()
                        .unwrap_or(headers::CONTENT_TYPE_JSON)
                || original.body != req.body,
        },
    }
}

/// The error of a key sent to worker(s) other than `owner`, the worker it belongs to.
pub fn key_conflict(key: &str, owner: &WorkerId) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::KeyConflict,
        format!(
            "idempotency key {key:?} belongs to worker {owner} (keys belong to a worker); use a new key for another worker"
        ),
    )
}

impl Nats {
    /// Subscribes to `<inbox>.*` and routes replies to [`Replies::inbox`]es.
    pub async fn replies(&self) -> Result<Replies> {
        let prefix = self.client().new_inbox();
        let mut sub = self
            .client()
            .subscribe(format!("{prefix}.*"))
            .await
            .map_err(|e| Error::nats("subscribe to reply inboxes", e))?;
        let pending: Pending = Arc::default();
        let routes = Arc::downgrade(&pending);
        let task = tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let Some(id) = m
                    .subject
                    .as_str()
                    .rsplit('.')
                    .next()
                    .and_then(|t| t.parse().ok())
                else {
                    continue;
                };
                let Some(routes) = routes.upgrade() else {
                    return;
                };
                let tx = routes.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                if let Some(tx) = tx {
                    let _ = tx.send(m);
                }
            }
        });
        Ok(Replies {
            inner: Arc::new(RepliesInner {
                prefix,
                next: AtomicU64::new(0),
                pending,
                task,
            }),
        })
    }

    /// Invoke-and-await: publishes `req` to `w` with `inbox` as its `Rvn-Reply-To`
    /// (whatever `req.reply_to` says) and waits up to `timeout` (counted from the
    /// publish's ack) for the outcome: the reply, or for a publish JetStream
    /// deduplicated, the result stored under `req.idempotency_key` (see
    /// [`Nats::await_result`]). A failed publish or a closed connection is an error;
    /// nothing within `timeout` is `Awaited { outcome: None, .. }`.
    pub async fn invoke_and_await(
        &self,
        w: &WorkerId,
        mut req: InvocationRequest,
        inbox: &mut ReplyInbox,
        timeout: Duration,
    ) -> Result<Awaited> {
        req.reply_to = Some(inbox.subject().to_owned());
        let published = self.publish_invocation(w, &req).await?;
        if published.duplicate {
            let Some(key) = req.idempotency_key.clone() else {
                return Ok(Awaited {
                    outcome: None,
                    duplicate: true,
                    arguments_differ: false,
                });
            };
            let arguments_differ = match self.duplicated(w, &req, published.sequence).await {
                Duplicate::Conflict(error) => {
                    return Ok(Awaited {
                        outcome: Some(InvocationOutcome::Err(error)),
                        duplicate: true,
                        arguments_differ: false,
                    });
                }
                Duplicate::Same { arguments_differ } => arguments_differ,
            };
            // Not stored again, so no executor answers this inbox: the original's result
            // lands in RVN_RESULTS. (Watching only here keeps the common path free of a
            // consumer per call.)
            // The inbox is still listened to: when it is shared by earlier publishes of the
            // same key (a retrying caller), their answer may arrive there first.
            let outcome = tokio::select! {
                stored = self.await_result(w, &key, timeout) => stored?,
                Some(outcome) = inbox.next() => Some(outcome),
            };
            return Ok(Awaited {
                outcome,
                duplicate: true,
                arguments_differ,
            });
        }
        let awaited = |outcome| Awaited {
            outcome,
            duplicate: false,
            arguments_differ: false,
        };
        match tokio::time::timeout(timeout, inbox.next()).await {
            Ok(Some(outcome)) => Ok(awaited(Some(outcome))),
            Ok(None) => Err(Error::Closed {
                what: format!("awaiting the result of {w} {}", req.function),
            }),
            Err(_) => Ok(awaited(None)),
        }
    }

    /// What the publish of `req` to `w` that JetStream deduplicated duplicated: the
    /// invocation stored at `sequence` ([`compare_duplicate`]). When it cannot be read
    /// (expired, purged), it is taken for the same worker's with the same arguments.
    pub async fn duplicated(
        &self,
        w: &WorkerId,
        req: &InvocationRequest,
        sequence: u64,
    ) -> Duplicate {
        let key = req.idempotency_key.as_deref().unwrap_or_default();
        match self.stored_invocation(sequence).await {
            Ok(original) => compare_duplicate(w, key, req, &original),
            Err(e) => {
                tracing::debug!(sequence, error = %e, "could not read the invocation a duplicate duplicated");
                Duplicate::Same {
                    arguments_differ: false,
                }
            }
        }
    }

    /// The invocation stored in `RVN_INVOKE` at `sequence`.
    pub async fn stored_invocation(&self, sequence: u64) -> Result<StoredInvocation> {
        let stream = self
            .jetstream()
            .get_stream_no_info(self.namespace().invoke_stream())
            .await
            .map_err(|e| Error::nats("get invoke stream", e))?;
        let m = stream
            .get_raw_message(sequence)
            .await
            .map_err(|e| Error::nats("read the duplicated invocation", e))?;
        let header = |name: &str| m.headers.get(name).map(|v| v.as_str().to_owned());
        Ok(StoredInvocation {
            worker: self
                .namespace()
                .parse_stored_invoke_subject(&m.subject)
                .map(|(_, w)| w),
            function: header(headers::FUNCTION),
            content_type: header(headers::CONTENT_TYPE),
            body: m.payload,
        })
    }

    /// The outcome of worker `w`'s invocation with `key`, waiting up to `timeout` for it;
    /// `None` if it did not come. It comes from whichever has it first: the record in
    /// `RVN_RESULTS` (rejections and answers no oplog holds are only there; a record of
    /// another worker under the key is answered as [`ErrorKind::KeyConflict`]), or the
    /// answer journaled in `w`'s oplog ([`crate::oplog::OplogStore::await_answer`]).
    pub async fn await_result(
        &self,
        w: &WorkerId,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<InvocationOutcome>> {
        let closed = || Error::Closed {
            what: format!("watching the result of idempotency key {key:?}"),
        };
        let wait = async {
            let mut indexed = Box::pin(self.watch_result(w, key).await?);
            let oplog = self.oplog();
            tokio::select! {
                record = indexed.next() => record.ok_or_else(closed),
                journaled = oplog.await_answer(w, key) => match journaled {
                    Ok(record) => Ok(record),
                    // The index may still answer: keep waiting on it alone.
                    Err(e) => {
                        tracing::debug!(worker = %w, key, error = %e, "could not follow the oplog for a result");
                        indexed.next().await.ok_or_else(closed)
                    }
                },
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(record) => Ok(Some(outcome_for(w, key, record?))),
            Err(_) => Ok(None),
        }
    }

    /// Answers `reply` with the result stored under `key` for `w`, once it is stored:
    /// what the `call` bridge does for a call whose publish JetStream deduplicated
    /// (no executor answers it otherwise). After `wait` the answer is a `timeout`
    /// error; when `RVN_RESULTS` cannot be watched, an `unavailable` one.
    /// Another worker's invocation under the key is answered `key-conflict` at once; one
    /// with other arguments gets the original's outcome with `Rvn-Duplicate: arguments-differ`.
    pub async fn answer_duplicate(
        &self,
        reply: &str,
        w: &WorkerId,
        req: &InvocationRequest,
        sequence: u64,
        wait: Duration,
    ) -> Result<()> {
        let key = req.idempotency_key.as_deref().unwrap_or_default();
        let arguments_differ = match self.duplicated(w, req, sequence).await {
            Duplicate::Conflict(error) => {
                return self
                    .reply_outcome(reply, &InvocationOutcome::Err(error))
                    .await;
            }
            Duplicate::Same { arguments_differ } => arguments_differ,
        };
        let outcome = match self.await_result(w, key, wait).await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => InvocationOutcome::Err(ErrorBody::new(
                ErrorKind::Timeout,
                format!(
                    "the invocation with idempotency key {key} is a duplicate and its result did not arrive within {wait:?}"
                ),
            )),
            Err(e) => InvocationOutcome::Err(ErrorBody::new(ErrorKind::Unavailable, e.to_string())),
        };
        self.reply_outcome_with(reply, &outcome, arguments_differ)
            .await
    }

    /// Publishes an outcome to a reply subject (`Rvn-Status` + JSON body): the one
    /// writer of what [`parse_reply`] reads.
    pub async fn reply_outcome(&self, subject: &str, outcome: &InvocationOutcome) -> Result<()> {
        self.reply_outcome_with(subject, outcome, false).await
    }

    /// [`Nats::reply_outcome`] for a duplicate; `arguments_differ` adds
    /// `Rvn-Duplicate: arguments-differ` (the outcome is the original invocation's).
    pub async fn reply_outcome_with(
        &self,
        subject: &str,
        outcome: &InvocationOutcome,
        arguments_differ: bool,
    ) -> Result<()> {
        let (status, body) = outcome_status_and_body(outcome);
        self.reply_marked(subject, status, body, arguments_differ)
            .await
    }
}

/// A stored result as the answer for `w`: its outcome, or `key-conflict` when the
/// key belongs to another worker (results are stored per worker: a record of another
/// worker under `w`'s key is a bug, never an answer).
fn outcome_for(w: &WorkerId, key: &str, record: ResultRecord) -> InvocationOutcome {
    if record.worker != *w {
        return InvocationOutcome::Err(key_conflict(key, &record.worker));
    }
    record.outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_status(status: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(headers::STATUS, status);
        h
    }

    fn error_of(outcome: InvocationOutcome) -> ErrorBody {
        match outcome {
            InvocationOutcome::Err(e) => e,
            InvocationOutcome::Ok(v) => panic!("expected an error, got ok {v}"),
        }
    }

    #[test]
    fn an_ok_reply_is_its_json_text() {
        let ok = with_status(headers::STATUS_OK);
        assert_eq!(
            parse_reply(Some(&ok), b"5"),
            InvocationOutcome::Ok("5".into())
        );
        assert_eq!(
            parse_reply(Some(&ok), br#"{"a": [1, "x"]}"#),
            InvocationOutcome::Ok(r#"{"a": [1, "x"]}"#.into())
        );
    }

    #[test]
    fn an_ok_reply_with_an_empty_body_is_null() {
        let ok = with_status(headers::STATUS_OK);
        assert_eq!(
            parse_reply(Some(&ok), b""),
            InvocationOutcome::Ok("null".into())
        );
    }

    #[test]
    fn an_error_reply_is_its_kind_and_message() {
        let e = error_of(parse_reply(
            Some(&with_status(headers::STATUS_ERROR)),
            br#"{"kind":"worker-failed","message":"worker counter/c1 is failed: boom"}"#,
        ));
        assert_eq!(e.kind, ErrorKind::WorkerFailed);
        assert_eq!(e.message, "worker counter/c1 is failed: boom");
    }

    #[test]
    fn an_error_kind_this_build_does_not_know_is_kept() {
        let e = error_of(parse_reply(
            Some(&with_status(headers::STATUS_ERROR)),
            br#"{"kind":"cycle","message":"a calls b calls a"}"#,
        ));
        assert_eq!(e.kind, ErrorKind::Other("cycle".into()));
        assert_eq!(e.kind.as_str(), "cycle");
    }

    #[test]
    fn a_reply_without_status_is_read_as_an_error() {
        let e = error_of(parse_reply(
            None,
            br#"{"kind":"invalid-name","message":"bad"}"#,
        ));
        assert_eq!(e.kind, ErrorKind::InvalidName);
    }

    #[test]
    fn an_ok_reply_that_is_not_json_is_an_invalid_reply() {
        let e = error_of(parse_reply(Some(&with_status(headers::STATUS_OK)), b"[1,"));
        assert_eq!(e.kind, ErrorKind::InvalidReply);
        assert!(e.message.contains("not JSON"), "{}", e.message);
        let e = error_of(parse_reply(
            Some(&with_status(headers::STATUS_OK)),
            &[0xff, 0xfe],
        ));
        assert_eq!(e.kind, ErrorKind::InvalidReply);
    }

    #[test]
    fn an_error_reply_that_is_not_an_error_object_is_an_invalid_reply() {
        for body in [&b"oops"[..], br#"{"message":"no kind"}"#, b"42"] {
            let e = error_of(parse_reply(Some(&with_status(headers::STATUS_ERROR)), body));
            assert_eq!(e.kind, ErrorKind::InvalidReply, "{body:?}");
            assert!(e.message.contains("Rvn-Status"), "{}", e.message);
        }
    }

    #[test]
    fn what_the_executor_writes_parses_back_to_the_same_outcome() {
        for outcome in [
            InvocationOutcome::Ok("[1,2]".into()),
            InvocationOutcome::Err(ErrorBody::new(ErrorKind::Trap, "unreachable")),
            InvocationOutcome::Err(ErrorBody::new(ErrorKind::Other("new".into()), "m")),
        ] {
            let (status, body) = outcome_status_and_body(&outcome);
            assert_eq!(
                parse_reply(Some(&with_status(status)), body.as_bytes()),
                outcome
            );
        }
    }

    fn record(worker: &str) -> ResultRecord {
        ResultRecord {
            worker: WorkerId::parse_path(worker).unwrap(),
            function: "add".into(),
            outcome: InvocationOutcome::Ok("1".into()),
            completed_at: 0,
        }
    }

    fn stored(worker: &str, function: &str, body: &str) -> StoredInvocation {
        StoredInvocation {
            worker: Some(WorkerId::parse_path(worker).unwrap()),
            function: Some(function.into()),
            content_type: None,
            body: bytes::Bytes::from(body.to_owned()),
        }
    }

    fn req(function: &str, body: &str) -> InvocationRequest {
        InvocationRequest {
            function: function.into(),
            idempotency_key: Some("k".into()),
            content_type: Some(headers::CONTENT_TYPE_JSON.into()),
            body: bytes::Bytes::from(body.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn a_duplicate_of_another_workers_invocation_is_a_key_conflict_naming_the_owner() {
        let w = WorkerId::parse_path("counter/a").unwrap();
        let Duplicate::Conflict(e) = compare_duplicate(
            &w,
            "k",
            &req("add", "[1]"),
            &stored("counter/b", "add", "[1]"),
        ) else {
            panic!("not a conflict")
        };
        assert_eq!(e.kind, ErrorKind::KeyConflict);
        assert!(
            e.message.contains("counter/b") && e.message.contains("\"k\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_duplicate_with_other_arguments_or_function_says_so() {
        let w = WorkerId::parse_path("counter/a").unwrap();
        let original = stored("counter/a", "add", "[1]");
        let same = |r: &InvocationRequest| compare_duplicate(&w, "k", r, &original);
        assert_eq!(
            same(&req("add", "[1]")),
            Duplicate::Same {
                arguments_differ: false
            }
        );
        assert_eq!(
            same(&req("add", "[2]")),
            Duplicate::Same {
                arguments_differ: true
            }
        );
        assert_eq!(
            same(&req("sub", "[1]")),
            Duplicate::Same {
                arguments_differ: true
            }
        );
    }

    #[test]
    fn a_stored_result_answers_only_its_own_worker() {
        let w = WorkerId::parse_path("counter/a").unwrap();
        assert_eq!(
            outcome_for(&w, "k", record("counter/a")),
            InvocationOutcome::Ok("1".into())
        );
        let e = error_of(outcome_for(&w, "k", record("counter/b")));
        assert_eq!(e.kind, ErrorKind::KeyConflict);
        assert!(e.message.contains("counter/b"), "{}", e.message);
    }
}
