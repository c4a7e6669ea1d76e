//! The promise store: records in KV `RVN_PROMISES` (key `<c>.<w>.<index>`,
//! [`PromiseRecord`] in the codec envelope) and every way to complete one.
//!
//! The protocol (ARCHITECTURE.md, "Waiting: suspension, timers, promises"):
//! - **create**: the executor writes a `pending` record once, when the guest
//!   creates the promise; a replay writes it again and finds it there.
//! - **complete**: read the record, decide ([`PromiseRecord::complete_step`]):
//!   no record is [`PromiseError::Unknown`]; a completed one is
//!   [`Completion::AlreadyCompleted`]; a pending one is CAS-updated at the
//!   revision it was read at to `completed` with the payload (losing that race
//!   re-reads and finds it completed). Then, whoever completed it, the **wake
//!   message** is published with JetStream to the worker's inbox
//!   `<ns>.invoke.<c>.<w>` (`Rvn-Kind: complete`, `Rvn-Promise: <index>`,
//!   `Nats-Msg-Id: complete:<c>.<w>.<index>`, body = the winning payload) and its
//!   PubAck awaited: a first completer that died between its write and its
//!   publish is covered by the next one, and JetStream's dedup window keeps
//!   the copies from piling up.
//! - **over NATS**: any client may send a core request to
//!   `<ns>.promise.<c>.<w>.<index>` with the payload as its body; executors serve it
//!   ([`Nats::promise_requests`]) and answer `Rvn-Status: ok` with
//!   `{"completed": true|false}`, or `Rvn-Status: error` with `{"kind", "message"}`.
//!
//! Not here: awaiting a promise and journaling its completion (the executor).

use async_nats::HeaderMap;
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use revenant_types::oplog::{ErrorBody, ErrorKind};
use revenant_types::promise::{CompleteStep, PromiseId, PromiseRecord, max_promise_payload};
use revenant_types::{ComponentName, WorkerName, codec};

use crate::error::{Error, Result};
use crate::registry::{all_decoded_with_keys, get_decoded};
use crate::{Namespace, Nats, headers};

/// How many times a completion re-reads after losing a CAS before giving up
/// (each loss means the record changed, i.e. someone completed it: one suffices).
const CAS_ATTEMPTS: usize = 5;

/// How a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// This call completed it: its payload is the promise's.
    Completed,
    /// It was completed before (or concurrently, by a faster completer); its payload stays.
    AlreadyCompleted,
}

impl Completion {
    /// `true` for [`Completion::Completed`]: the guest's `complete -> bool`, the NATS answer.
    pub fn completed(self) -> bool {
        self == Self::Completed
    }
}

/// Why a completion (or a promise request) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PromiseError {
    /// Nobody created the promise (or its worker was deleted).
    #[error(
        "promise {0} does not exist; expected the id a worker's promises.create returned, as <component>/<worker>/<index>"
    )]
    Unknown(PromiseId),
    /// The payload is over what a message may carry.
    #[error(
        "the payload of promise {id} is {len} bytes; the limit is {max} bytes (the configured max payload less {} bytes for headers)",
        revenant_types::promise::PAYLOAD_HEADROOM
    )]
    TooLarge {
        id: PromiseId,
        len: usize,
        max: usize,
    },
    /// Anything else (connection, codec, a record that keeps changing).
    #[error(transparent)]
    Other(#[from] Error),
}

impl PromiseError {
    /// The wire error of this failure.
    pub fn to_error_body(&self) -> ErrorBody {
        let kind = match self {
            Self::Unknown(_) => ErrorKind::UnknownPromise,
            Self::TooLarge { .. } => ErrorKind::PayloadTooLarge,
            Self::Other(Error::Name(_)) => ErrorKind::InvalidName,
            Self::Other(_) => ErrorKind::Unavailable,
        };
        ErrorBody::new(kind, self.to_string())
    }
}

/// The promise records of one namespace.
#[derive(Clone)]
pub struct PromiseStore {
    nats: Nats,
}

/// A request on `<ns>.promise.<c>.<w>.<index>`, as an executor receives it.
#[derive(Debug)]
pub struct PromiseRequest {
    /// The promise, or why the subject names none (saying what was expected).
    pub id: std::result::Result<PromiseId, String>,
    pub payload: Bytes,
    /// The requester's inbox.
    pub reply: Option<String>,
}

impl Nats {
    /// The promise store.
    pub fn promises(&self) -> PromiseStore {
        PromiseStore { nats: self.clone() }
    }

    /// Subscribes (queue group `executors`: one executor answers each) to
    /// `<ns>.promise.*.*.*`.
    pub async fn promise_requests(
        &self,
    ) -> Result<impl Stream<Item = PromiseRequest> + Send + 'static> {
        // Through the intake connection (see `Nats::intake`): a request the client
        // cannot parse drops that one, not the executor's main connection.
        let sub = self
            .intake()
            .await?
            .client()
            .queue_subscribe(self.namespace().promise_wildcard(), "executors".into())
            .await
            .map_err(|e| Error::nats("subscribe to promise completions", e))?;
        let ns = self.namespace().clone();
        Ok(sub.map(move |m| {
            let id = match ns.parse_promise_subject(&m.subject) {
                Some(parsed) => parsed.map_err(|e| e.to_string()),
                None => Err(format!(
                    "subject {:?} does not name a promise; expected <ns>.promise.<component>.<worker>.<index>",
                    m.subject.as_str()
                )),
            };
            PromiseRequest {
                id,
                payload: m.payload.clone(),
                reply: m.reply.as_ref().map(|r| r.to_string()),
            }
        }))
    }

    /// Answers a promise request: `Rvn-Status: ok` and `{"completed": bool}`.
    pub async fn reply_completion(&self, subject: &str, completion: Completion) -> Result<()> {
        let body = serde_json::json!({ "completed": completion.completed() }).to_string();
        self.reply(subject, headers::STATUS_OK, body).await
    }
}

impl PromiseStore {
    async fn kv(&self) -> Result<kv::Store> {
        self.nats
            .kv_bucket(self.nats.namespace().promises_bucket())
            .await
    }

    /// Writes `id`'s pending record unless one exists (a replay calls this again).
    pub async fn create(&self, id: &PromiseId) -> Result<()> {
        let value = codec::encode(&PromiseRecord::pending(revenant_types::now_ms()))?;
        match self
            .kv()
            .await?
            .create(Namespace::promise_key(id), value.into())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::nats(format!("create promise {id}"), e)),
        }
    }

    /// Removes every promise record of worker `w` (it was deleted).
    pub async fn remove_worker(&self, w: &revenant_types::WorkerId) -> Result<()> {
        let kv = self.kv().await?;
        for (id, _) in self
            .list(Some(w.component.as_str()), Some(w.worker.as_str()))
            .await?
        {
            kv.purge(Namespace::promise_key(&id))
                .await
                .map_err(|e| Error::nats(format!("remove promise {id}"), e))?;
        }
        Ok(())
    }

    /// The record of `id`, if it was created.
    pub async fn get(&self, id: &PromiseId) -> Result<Option<PromiseRecord>> {
        Ok(get_decoded(&self.kv().await?, &Namespace::promise_key(id))
            .await?
            .map(|(r, _)| r))
    }

    /// Every promise (pending and completed) of one worker, of a component's
    /// workers, of workers of that name in any component, or of everyone; by id.
    pub async fn list(
        &self,
        component: Option<&str>,
        worker: Option<&str>,
    ) -> Result<Vec<(PromiseId, PromiseRecord)>> {
        let component = component.map(ComponentName::new).transpose()?;
        let worker = worker.map(WorkerName::new).transpose()?;
        let prefix = component
            .as_ref()
            .map(|c| Namespace::promise_key_prefix(c, worker.as_ref()));
        let all: Vec<(String, PromiseRecord)> =
            all_decoded_with_keys(&self.kv().await?, "promises", |key| {
                prefix.as_ref().is_none_or(|p| key.starts_with(p.as_str()))
            })
            .await?;
        let mut out: Vec<(PromiseId, PromiseRecord)> = all
            .into_iter()
            .filter_map(|(key, r)| Some((Namespace::parse_promise_key(&key)?, r)))
            .filter(|(id, _)| worker.as_ref().is_none_or(|w| id.worker.worker == *w))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Completes `id` with `payload` (see the module docs), then publishes the
    /// wake message with the winning payload and waits for its PubAck.
    pub async fn complete(
        &self,
        id: &PromiseId,
        payload: Bytes,
    ) -> Result<Completion, PromiseError> {
        let max = max_promise_payload(self.nats.options().max_payload);
        if payload.len() > max {
            return Err(PromiseError::TooLarge {
                id: id.clone(),
                len: payload.len(),
                max,
            });
        }
        let kv = self.kv().await?;
        let key = Namespace::promise_key(id);
        for _ in 0..CAS_ATTEMPTS {
            let stored = get_decoded::<PromiseRecord>(&kv, &key).await?;
            let (record, revision) = match stored {
                Some((r, rev)) => (Some(r), rev),
                None => (None, 0),
            };
            let now = revenant_types::now_ms();
            match PromiseRecord::complete_step(record.as_ref(), &payload, now) {
                CompleteStep::Unknown => return Err(PromiseError::Unknown(id.clone())),
                CompleteStep::AlreadyCompleted => {
                    let winner = record.and_then(|r| r.payload).unwrap_or_default();
                    self.wake(id, winner.into()).await?;
                    return Ok(Completion::AlreadyCompleted);
                }
                CompleteStep::Write(done) => {
                    let value = codec::encode(&done).map_err(Error::from)?;
                    match kv.update(&key, value.into(), revision).await {
                        Ok(_) => {
                            self.wake(id, payload).await?;
                            return Ok(Completion::Completed);
                        }
                        // Someone wrote it since we read it: read again (and find it completed).
                        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                        Err(e) => {
                            return Err(Error::nats(format!("complete promise {id}"), e).into());
                        }
                    }
                }
            }
        }
        Err(Error::Malformed {
            what: format!("promise {id}"),
            reason: format!("its record changed under {CAS_ATTEMPTS} completions in a row"),
        }
        .into())
    }

    /// Publishes the wake message of `id` to its worker's inbox and waits for the PubAck
    /// (a duplicate within the dedup window is fine: the owner has it already).
    async fn wake(&self, id: &PromiseId, payload: Bytes) -> Result<()> {
        let mut h = HeaderMap::new();
        h.insert(headers::KIND, headers::KIND_COMPLETE);
        h.insert(headers::PROMISE, id.index.to_string().as_str());
        h.insert(headers::MSG_ID, Namespace::promise_wake_msg_id(id).as_str());
        let op = || format!("publish the completion of promise {id}");
        self.nats
            .jetstream()
            .publish_with_headers(self.nats.namespace().invoke_subject(&id.worker), h, payload)
            .await
            .map_err(|e| Error::nats(op(), e))?
            .await
            .map_err(|e| Error::nats(op(), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> PromiseId {
        "approval/a1/5".parse().unwrap()
    }

    #[test]
    fn only_the_first_completion_answers_completed_true() {
        assert!(Completion::Completed.completed());
        assert!(!Completion::AlreadyCompleted.completed());
    }

    #[test]
    fn each_failure_has_its_wire_kind_and_says_what_was_expected() {
        let unknown = PromiseError::Unknown(id()).to_error_body();
        assert_eq!(unknown.kind, ErrorKind::UnknownPromise);
        assert!(
            unknown.message.contains("approval/a1/5")
                && unknown.message.contains("<component>/<worker>/<index>"),
            "{}",
            unknown.message
        );
        let large = PromiseError::TooLarge {
            id: id(),
            len: 10,
            max: 4,
        }
        .to_error_body();
        assert_eq!(large.kind, ErrorKind::PayloadTooLarge);
        assert!(
            large.message.contains("10 bytes; the limit is 4"),
            "{}",
            large.message
        );
        let name = PromiseError::from(Error::from(
            revenant_types::ComponentName::new("a.b").unwrap_err(),
        ));
        assert_eq!(name.to_error_body().kind, ErrorKind::InvalidName);
        let closed = PromiseError::from(Error::Closed { what: "x".into() });
        assert_eq!(closed.to_error_body().kind, ErrorKind::Unavailable);
    }
}
