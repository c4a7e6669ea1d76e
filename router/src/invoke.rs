//! The invocation core shared by the REST API and user-defined routes:
//! checking a call against the component's exports (so a caller hears "no such
//! function" or "wrong arity" at once), publishing it with the idempotency key
//! as `Nats-Msg-Id`, and awaiting its outcome.
//!
//! Awaiting is the nats crate's one invoke-and-await
//! ([`revenant_nats::Nats::invoke_and_await`]) with an inbox of the router's one
//! wildcard reply subscription ([`AppState::replies`]): a retried request whose
//! publish JetStream deduplicates gets no reply of its own, but the stored
//! result reaches it from `RVN_RESULTS`. When nothing arrives within the
//! timeout the caller gets [`CallOutcome::Pending`] (HTTP 202 with a location
//! to poll); nothing is lost, the invocation is durable.

use std::time::Duration;

use bytes::Bytes;
use revenant_components::resolve_function;
use revenant_nats::headers;
use revenant_nats::invocations::InvocationRequest;
use revenant_types::oplog::{InvocationOutcome, TraceContext};
use revenant_types::records::ExportedFunction;
use revenant_types::{ErrorKind, WorkerId};

use crate::AppState;
use crate::error::ApiError;
use crate::spans;

/// One invocation to make.
#[derive(Debug, Clone)]
pub struct Call {
    pub worker: WorkerId,
    /// As requested (full or bare name).
    pub function: String,
    /// A JSON array of arguments or an object keyed by parameter name.
    pub args: serde_json::Value,
    pub idempotency_key: String,
    pub trace: TraceContext,
}

/// How an invocation ended, as far as this request knows.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The returned value.
    Ok(serde_json::Value),
    /// The invocation failed (or was rejected) with this error.
    Err(ApiError),
    /// Not finished within the timeout; poll `/v1/invocations/{key}`.
    Pending,
}

/// A fresh idempotency key when the caller gave none.
pub fn new_key() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `/v1/invocations/<percent-encoded key>`.
pub fn location(key: &str) -> String {
    let mut out = String::from("/v1/invocations/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Resolves `function` against the worker's component (its recorded version,
/// else the latest) and checks the arguments' arity or parameter names.
pub async fn check(state: &AppState, call: &Call) -> Result<ExportedFunction, ApiError> {
    let nats = state.nats();
    let components = nats.components();
    let record = match nats.workers().get(&call.worker).await? {
        Some(w) => {
            state
                .component_record(&call.worker.component, w.component_version)
                .await?
        }
        None => components.latest(&call.worker.component).await?,
    };
    let record = record.ok_or_else(|| {
        ApiError::not_found(
            ErrorKind::UnknownComponent,
            format!(
                "component {} does not exist; upload it with POST /v1/components/{}",
                call.worker.component, call.worker.component
            ),
        )
    })?;
    let export = resolve_function(&record.exports, &call.function)
        .map_err(|e| ApiError::not_found(ErrorKind::UnknownFunction, e.to_string()))?
        .clone();
    check_args(&export, &call.args)?;
    Ok(export)
}

/// Arity / parameter-name check; value types are checked by the executor.
pub fn check_args(export: &ExportedFunction, args: &serde_json::Value) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::bad_request(ErrorKind::InvalidArguments, m);
    match args {
        serde_json::Value::Null => Ok(()),
        serde_json::Value::Array(a) if a.len() == export.params.len() => Ok(()),
        serde_json::Value::Array(a) => Err(bad(format!(
            "{} takes {} argument(s), got {}",
            export.signature(),
            export.params.len(),
            a.len()
        ))),
        serde_json::Value::Object(o) => {
            match o
                .keys()
                .find(|k| !export.params.iter().any(|(n, _)| n == *k))
            {
                Some(k) => Err(bad(format!(
                    "{} has no parameter `{k}`",
                    export.signature()
                ))),
                None => Ok(()),
            }
        }
        other => Err(bad(format!(
            "expected a JSON array of arguments or an object keyed by parameter name for {}, got {}",
            export.signature(),
            kind_of(other)
        ))),
    }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn request(call: &Call, export: &ExportedFunction, reply_to: Option<String>) -> InvocationRequest {
    InvocationRequest {
        function: export.name.clone(),
        idempotency_key: Some(call.idempotency_key.clone()),
        reply_to,
        content_type: Some(headers::CONTENT_TYPE_JSON.into()),
        body: Bytes::from(call.args.to_string()),
        trace: call.trace.clone(),
        caller: None,
        subscription: None,
        // Key-only polling (`GET /v1/invocations/{key}`) finds it once answered.
        index: true,
    }
}

/// Publishes without waiting.
pub async fn enqueue(state: &AppState, call: &Call) -> Result<(), ApiError> {
    let export = check(state, call).await?;
    let (span, trace) = spans::publish(&call.trace);
    let request = InvocationRequest {
        trace,
        ..request(call, &export, None)
    };
    state
        .nats()
        .publish_invocation(&call.worker, &request)
        .await?;
    spans::published(
        span,
        false,
        &call.worker,
        &export.name,
        &call.idempotency_key,
    );
    Ok(())
}

/// Publishes and awaits the outcome ([`CallOutcome::Pending`] after `timeout`).
pub async fn invoke(
    state: &AppState,
    call: &Call,
    timeout: Duration,
) -> Result<CallOutcome, ApiError> {
    Ok(invoke_marked(state, call, timeout).await?.0)
}

/// [`invoke`], and whether the call duplicated an invocation of the same key with
/// other arguments (its outcome is then the original's; see
/// [`revenant_nats::reply::Awaited::arguments_differ`]).
pub async fn invoke_marked(
    state: &AppState,
    call: &Call,
    timeout: Duration,
) -> Result<(CallOutcome, bool), ApiError> {
    // A key that already completed is not looked up first: republished, it is either a
    // duplicate within JetStream's window (answered from RVN_RESULTS) or, past it,
    // answered by the executor from the worker's oplog without running again.
    let export = check(state, call).await?;
    let mut inbox = state.replies().inbox();
    let (span, trace) = spans::publish(&call.trace);
    let request = InvocationRequest {
        trace,
        ..request(call, &export, None)
    };
    let awaited = state
        .nats()
        .invoke_and_await(&call.worker, request, &mut inbox, timeout)
        .await?;
    spans::published(
        span,
        true,
        &call.worker,
        &export.name,
        &call.idempotency_key,
    );
    let outcome = match awaited.outcome {
        // Not the invocation's outcome but the request's own mistake: answered as such,
        // never through a route's error template.
        Some(InvocationOutcome::Err(e)) if e.kind == ErrorKind::KeyConflict => {
            return Err(e.into());
        }
        Some(o) => outcome(&o),
        None => CallOutcome::Pending,
    };
    Ok((outcome, awaited.arguments_differ))
}

/// What an outcome (a reply, or a stored result) answers over HTTP.
pub fn outcome(o: &InvocationOutcome) -> CallOutcome {
    match o {
        InvocationOutcome::Ok(json) => match serde_json::from_str(json) {
            Ok(v) => CallOutcome::Ok(v),
            Err(e) => CallOutcome::Err(ApiError::from_kind(
                ErrorKind::InvalidReply,
                format!("the executor's result is not JSON: {e}"),
            )),
        },
        InvocationOutcome::Err(e) => CallOutcome::Err(e.clone().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export() -> ExportedFunction {
        ExportedFunction {
            name: "example:counter/api.{add}".into(),
            params: vec![("value".into(), "u64".into())],
            result: Some("u64".into()),
            shapes: vec![revenant_components::WitShape::Integer],
        }
    }

    #[test]
    fn checks_arity_and_names() {
        assert!(check_args(&export(), &serde_json::json!([1])).is_ok());
        assert!(check_args(&export(), &serde_json::json!({"value": 1})).is_ok());
        let e = check_args(&export(), &serde_json::json!([1, 2])).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("takes 1 argument(s), got 2"), "{e}");
        let e = check_args(&export(), &serde_json::json!({"nope": 1})).unwrap_err();
        assert!(e.message.contains("no parameter `nope`"), "{e}");
        assert!(check_args(&export(), &serde_json::json!("x")).is_err());
    }

    #[test]
    fn maps_outcomes_and_locations() {
        assert_eq!(
            outcome(&InvocationOutcome::Ok("5".into())),
            CallOutcome::Ok(serde_json::json!(5))
        );
        let trap = revenant_types::oplog::ErrorBody::new(ErrorKind::Trap, "boom");
        let CallOutcome::Err(e) = outcome(&InvocationOutcome::Err(trap)) else {
            panic!()
        };
        assert_eq!((e.status.as_u16(), e.kind), (500, ErrorKind::Trap));
        let CallOutcome::Err(e) = outcome(&InvocationOutcome::Ok("[1,".into())) else {
            panic!()
        };
        assert_eq!((e.status.as_u16(), e.kind), (502, ErrorKind::InvalidReply));
        assert_eq!(location("a b/c"), "/v1/invocations/a%20b%2Fc");
    }
}
