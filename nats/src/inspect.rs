//! Time travel on the wire: a worker's state as of an oplog index, asked on the
//! core subject `<ns>.inspect.<component>.<worker>` (request/reply, no JetStream).
//!
//! The body is JSON `{"at": <oplog index>}`; the answer carries `Rvn-Status: ok`
//! and an [`Inspection`], or `Rvn-Status: error` and `{"kind", "message"}`. As with
//! control requests ([`crate::control`]), every executor subscribes to
//! `<ns>.inspect.*.*` without a queue group and only the one holding the worker's
//! shard answers, so a request nobody answers means no executor holds that shard
//! right now ([`ControlError::NoExecutor`]). It is a request of its own, not a
//! control action: it changes nothing, so it does not queue in the worker's mailbox
//! behind a running invocation. How the state is rebuilt is the executor's business.

use std::time::Duration;

use futures::{Stream, StreamExt};
use revenant_types::WorkerId;
use revenant_types::inspect::{InspectRequest, Inspection};
use revenant_types::oplog::{ErrorBody, InvocationOutcome, OplogIndex};

use crate::Nats;
use crate::error::{ControlError, Error, Result};

/// A request on `<ns>.inspect.<component>.<worker>`, as an executor receives it.
#[derive(Debug)]
pub struct InspectCall {
    /// The worker, or why the subject names none.
    pub worker: std::result::Result<WorkerId, String>,
    /// The index to inspect, or why the body is not an inspect request.
    pub at: std::result::Result<OplogIndex, String>,
    /// The requester's inbox.
    pub reply: Option<String>,
}

impl Nats {
    /// Subscribes (no queue group: every executor sees every request) to `<ns>.inspect.*.*`.
    pub async fn inspect_requests(
        &self,
    ) -> Result<impl Stream<Item = InspectCall> + Send + 'static> {
        let sub = self
            .intake()
            .await?
            .client()
            .subscribe(self.namespace().inspect_wildcard())
            .await
            .map_err(|e| Error::nats("subscribe to inspect requests", e))?;
        let ns = self.namespace().clone();
        Ok(sub.map(move |m| {
            let worker = ns.parse_inspect_subject(&m.subject).ok_or_else(|| {
                format!(
                    "subject {:?} does not name a worker; expected <ns>.inspect.<component>.<worker>",
                    m.subject.as_str()
                )
            });
            let at = serde_json::from_slice::<InspectRequest>(&m.payload)
                .map(|r| r.at)
                .map_err(|e| {
                    format!("the body is not an inspect request ({e}); expected {{\"at\": <oplog index>}}")
                });
            InspectCall {
                worker,
                at,
                reply: m.reply.as_ref().map(|r| r.to_string()),
            }
        }))
    }

    /// Asks the executor holding `w`'s shard for the worker's state as of oplog index
    /// `at`. Nobody answering within `timeout` is [`ControlError::NoExecutor`]; an error
    /// answer is [`ControlError::Refused`].
    pub async fn inspect(
        &self,
        w: &WorkerId,
        at: OplogIndex,
        timeout: Duration,
    ) -> Result<Inspection, ControlError> {
        let body = serde_json::json!(InspectRequest { at }).to_string();
        let subject = self.namespace().inspect_subject(w);
        self.ask_owner(subject, w, body, timeout, "an inspection")
            .await
    }

    /// Answers an inspect request (`Rvn-Status: ok` and the inspection, or an error).
    pub async fn reply_inspection(
        &self,
        subject: &str,
        answer: std::result::Result<&Inspection, &ErrorBody>,
    ) -> Result<()> {
        let outcome = match answer {
            Ok(i) => InvocationOutcome::Ok(serde_json::json!(i).to_string()),
            Err(e) => InvocationOutcome::Err(e.clone()),
        };
        self.reply_outcome(subject, &outcome).await
    }
}
