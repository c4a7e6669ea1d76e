//! Worker control on the wire: interrupt, resume and delete requests on the core
//! subject `<ns>.control.<component>.<worker>` (request/reply, no JetStream).
//!
//! The body is JSON `{"action": "interrupt"}`, `{"action": "resume"}` or
//! `{"action": "delete"}`; the
//! answer carries `Rvn-Status: ok` and the worker's state
//! `{"worker": "<c>.<w>", "status": …, "interrupted": bool}`, or
//! `Rvn-Status: error` and `{"kind", "message"}` (e.g. `worker-failed`). Every
//! executor subscribes to `<ns>.control.*.*` without a queue group and only the
//! one holding the worker's shard answers, so a request nobody answers means no
//! executor holds that shard right now ([`ControlError::NoExecutor`]).
//! What interrupting means for a worker is the executor's business.

use std::time::Duration;

use async_nats::RequestErrorKind;
use futures::{Stream, StreamExt};
use revenant_types::WorkerId;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::{ControlAction, ControlBody, WorkerState};

use crate::error::{ControlError, Error, Result};
use crate::{Nats, headers};

/// A request on `<ns>.control.<component>.<worker>`, as an executor receives it.
#[derive(Debug)]
pub struct ControlRequest {
    /// The worker, or why the subject names none.
    pub worker: std::result::Result<WorkerId, String>,
    /// The action, or why the body is not a control request.
    pub action: std::result::Result<ControlAction, String>,
    /// The requester's inbox.
    pub reply: Option<String>,
}

/// The answer to [`Nats::request_answer`].
pub(crate) enum Answer<T> {
    Ok(T),
    Refused(ErrorBody),
    Nobody { timed_out: bool },
}

impl Nats {
    /// Subscribes (no queue group: every executor sees every request) to `<ns>.control.*.*`.
    pub async fn control_requests(
        &self,
    ) -> Result<impl Stream<Item = ControlRequest> + Send + 'static> {
        // Through the intake connection (see `Nats::intake`): a request the client
        // cannot parse drops that one, not the executor's main connection.
        let sub = self
            .intake()
            .await?
            .client()
            .subscribe(self.namespace().control_wildcard())
            .await
            .map_err(|e| Error::nats("subscribe to control requests", e))?;
        let ns = self.namespace().clone();
        Ok(sub.map(move |m| {
            let worker = ns.parse_control_subject(&m.subject).ok_or_else(|| {
                format!(
                    "subject {:?} does not name a worker; expected <ns>.control.<component>.<worker> with names of [A-Za-z0-9_-]{{1,128}}",
                    m.subject.as_str()
                )
            });
            let action = serde_json::from_slice::<ControlBody>(&m.payload)
                .map(|b| b.action)
                .map_err(|e| {
                    format!(
                        "the body is not a control request ({e}); expected {{\"action\": \"interrupt\"}}, {{\"action\": \"resume\"}} or {{\"action\": \"delete\"}}"
                    )
                });
            ControlRequest {
                worker,
                action,
                reply: m.reply.as_ref().map(|r| r.to_string()),
            }
        }))
    }

    /// A core request answered `Rvn-Status: ok` with JSON `T`, or with an error body;
    /// [`Answer::Nobody`] when nobody answered within `timeout` or nobody listens.
    pub(crate) async fn request_answer<T: serde::de::DeserializeOwned>(
        &self,
        subject: String,
        body: bytes::Bytes,
        timeout: Duration,
        what: &str,
    ) -> Result<Answer<T>> {
        let request = async_nats::Request::new()
            .payload(body)
            .timeout(Some(timeout));
        let answer = match self.client().send_request(subject, request).await {
            Ok(m) => m,
            Err(e) if e.kind() == RequestErrorKind::TimedOut => {
                return Ok(Answer::Nobody { timed_out: true });
            }
            Err(e) if e.kind() == RequestErrorKind::NoResponders => {
                return Ok(Answer::Nobody { timed_out: false });
            }
            Err(e) => return Err(Error::nats(format!("{what} request"), e)),
        };
        match crate::reply::parse_reply(answer.headers.as_ref(), &answer.payload) {
            InvocationOutcome::Ok(json) => {
                serde_json::from_str(&json)
                    .map(Answer::Ok)
                    .map_err(|e| Error::Malformed {
                        what: format!("the answer to {what}"),
                        reason: e.to_string(),
                    })
            }
            InvocationOutcome::Err(error) => Ok(Answer::Refused(error)),
        }
    }

    /// Asks the executor holding `w`'s shard to interrupt, resume or delete it and returns the
    /// worker's state after that. Nobody answering within `timeout` (or nobody listening
    /// at all) is [`ControlError::NoExecutor`]; an error answer is [`ControlError::Refused`].
    pub async fn control(
        &self,
        w: &WorkerId,
        action: ControlAction,
        timeout: Duration,
    ) -> Result<WorkerState, ControlError> {
        let body = serde_json::json!(ControlBody { action }).to_string();
        let subject = self.namespace().control_subject(w);
        self.ask_owner(subject, w, body, timeout, action.as_str())
            .await
    }

    /// Sends a core request on `subject` (one every executor listens to and only the
    /// holder of `w`'s shard answers) and reads the answer as `T`. Nobody answering within
    /// `timeout` is [`ControlError::NoExecutor`]; an error answer [`ControlError::Refused`].
    pub(crate) async fn ask_owner<T: serde::de::DeserializeOwned>(
        &self,
        subject: String,
        w: &WorkerId,
        body: String,
        timeout: Duration,
        what: &str,
    ) -> Result<T, ControlError> {
        let what = format!("{what} of {w}");
        match self
            .request_answer(subject, body.into(), timeout, &what)
            .await?
        {
            Answer::Ok(answer) => Ok(answer),
            Answer::Refused(error) => Err(ControlError::Refused(error)),
            Answer::Nobody { timed_out } => Err(ControlError::NoExecutor {
                worker: w.dotted(),
                shard: self.shard_of(w),
                waited: timed_out.then_some(timeout),
            }),
        }
    }

    /// Answers a control request with the worker's state (`Rvn-Status: ok`).
    pub async fn reply_state(&self, subject: &str, state: &WorkerState) -> Result<()> {
        let body = serde_json::json!(state).to_string();
        self.reply(subject, headers::STATUS_OK, body).await
    }

    /// Answers a control request with an error (`Rvn-Status: error`, `{kind, message}`).
    pub async fn reply_error(&self, subject: &str, error: &ErrorBody) -> Result<()> {
        self.reply_outcome(subject, &InvocationOutcome::Err(error.clone()))
            .await
    }
}
