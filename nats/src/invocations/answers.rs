//! What goes back from an invocation: its result to a reply subject or to the inbox
//! of the worker awaiting it (an RPC caller), and dead letters (see [`super`]).

use async_nats::HeaderMap;
use bytes::Bytes;
use revenant_types::WorkerId;
use revenant_types::oplog::{ErrorBody, InvocationOutcome, TraceContext};

use super::{CallRequest, InvocationMessage};
use crate::error::{Error, Result};
use crate::{Nats, headers};

/// The headers of a result: `Rvn-Status` and the JSON content type.
fn result_headers(status: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(headers::STATUS, status);
    h.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
    h
}

/// The prefix a dead letter gives the `Nats-*` headers of the invocation it keeps.
pub const ORIGINAL_PREFIX: &str = "Rvn-Original-";

/// The headers of a dead letter: the invocation's, with every `Nats-*` header (which
/// JetStream acts on: `Nats-Msg-Id` would dedup the dead letter against the invocation,
/// `Nats-TTL` and `Nats-Expected-*` can make its publish fail, `Nats-Schedule` would
/// schedule it) renamed `Rvn-Original-Nats-*`, then the reason.
pub fn dead_letter_headers(
    original: Option<&HeaderMap>,
    error: &ErrorBody,
    subject: &str,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, values) in original.into_iter().flat_map(|o| o.iter()) {
        let name: &str = name.as_ref();
        let is_nats = name
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("nats-"));
        for v in values {
            if is_nats {
                h.append(format!("{ORIGINAL_PREFIX}{name}"), v.clone());
            } else {
                h.append(name, v.clone());
            }
        }
    }
    h.insert(headers::ERROR_KIND, error.kind.as_str());
    h.insert(
        headers::ERROR_MESSAGE,
        error.message.replace(['\r', '\n'], " ").as_str(),
    );
    h.insert(headers::ORIGINAL_SUBJECT, subject);
    h
}

impl Nats {
    /// Publishes a result (`Rvn-Status` + JSON body) to a reply subject.
    pub async fn reply(&self, subject: &str, status: &str, body: String) -> Result<()> {
        self.reply_marked(subject, status, body, false).await
    }

    /// Publishes an invocation's outcome to its reply subject with the trace context of
    /// the invocation's span (the result hop of its trace).
    pub async fn reply_traced(
        &self,
        subject: &str,
        outcome: &InvocationOutcome,
        trace: &TraceContext,
    ) -> Result<()> {
        let (status, body) = revenant_types::records::outcome_status_and_body(outcome);
        self.reply_with(subject, status, body, false, trace).await
    }

    /// [`Nats::reply`]; `arguments_differ` adds `Rvn-Duplicate: arguments-differ`.
    pub(crate) async fn reply_marked(
        &self,
        subject: &str,
        status: &str,
        body: String,
        arguments_differ: bool,
    ) -> Result<()> {
        let none = TraceContext::default();
        self.reply_with(subject, status, body, arguments_differ, &none)
            .await
    }

    async fn reply_with(
        &self,
        subject: &str,
        status: &str,
        body: String,
        arguments_differ: bool,
        trace: &TraceContext,
    ) -> Result<()> {
        let mut h = result_headers(status);
        if arguments_differ {
            h.insert(headers::DUPLICATE, headers::DUPLICATE_ARGUMENTS_DIFFER);
        }
        super::insert_trace(&mut h, trace);
        self.client()
            .publish_with_headers(subject.to_owned(), h, body.into())
            .await
            .map_err(|e| Error::nats("publish reply", e))
    }

    /// Sends the outcome of the call `key` to the inbox of the worker that awaits it
    /// (ARCHITECTURE.md "Worker-to-worker RPC"): a JetStream publish of `Rvn-Kind:
    /// result` with `Rvn-Correlation: <key>`, deduplicated as `result:<key>`, carrying
    /// `trace` (the callee's invocation span).
    pub async fn send_call_result(
        &self,
        caller: &WorkerId,
        key: &str,
        outcome: &InvocationOutcome,
        trace: &TraceContext,
    ) -> Result<()> {
        let (status, body) = revenant_types::records::outcome_status_and_body(outcome);
        let mut h = result_headers(status);
        super::insert_trace(&mut h, trace);
        h.insert(headers::KIND, headers::KIND_RESULT);
        h.insert(headers::CORRELATION, key);
        h.insert(headers::MSG_ID, format!("result:{key}").as_str());
        self.jetstream()
            .publish_with_headers(self.namespace().invoke_subject(caller), h, body.into())
            .await
            .map_err(|e| Error::nats("send call result", e))?
            .await
            .map_err(|e| Error::nats("send call result", e))?;
        Ok(())
    }

    /// Records a rejected invocation in `RVN_DEAD` with the reason, keeping its headers and body.
    pub async fn dead_letter(&self, msg: &InvocationMessage, error: &ErrorBody) -> Result<()> {
        let h = msg.message.headers.as_ref();
        self.dead_letter_raw(
            msg.worker.as_ref().ok(),
            h,
            msg.subject(),
            msg.body.clone(),
            error,
        )
        .await
    }

    /// Records a call request refused by the ingress rules in `RVN_DEAD` with the reason.
    pub async fn dead_letter_call(&self, call: &CallRequest, error: &ErrorBody) -> Result<()> {
        let (h, body) = (call.headers.as_ref(), call.request.body.clone());
        self.dead_letter_raw(call.worker.as_ref().ok(), h, &call.subject, body, error)
            .await
    }

    /// Publishes a dead letter of a message on `subject` for worker `w` (or the
    /// invalid-name subject).
    pub(crate) async fn dead_letter_raw(
        &self,
        w: Option<&WorkerId>,
        original: Option<&HeaderMap>,
        subject: &str,
        body: Bytes,
        error: &ErrorBody,
    ) -> Result<()> {
        let dead = match w {
            Some(w) => self.namespace().dead_subject(w),
            None => self.namespace().dead_invalid_subject(),
        };
        let h = dead_letter_headers(original, error, subject);
        self.jetstream()
            .publish_with_headers(dead, h, body)
            .await
            .map_err(|e| Error::nats("dead-letter", e))?
            .await
            .map_err(|e| Error::nats("dead-letter", e))?;
        Ok(())
    }
}
