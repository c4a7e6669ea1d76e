//! Serving user-defined routes: the router's fallback handler matches the
//! request against the deployed routes, builds the worker name and the
//! arguments from path, query, headers and body, invokes through the shared
//! core (idempotency key and 202-on-timeout included) and renders the
//! outcome with the route's response templates.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use revenant_components::WitShape;
use revenant_types::ErrorKind;
use revenant_types::WorkerId;
use serde_json::{Value, json};

use super::definition::{CompiledRoute, Segment, match_path, percent_decode};
use super::template::{Data, eval};
use crate::AppState;
use crate::error::ApiError;
use crate::invoke::{self, Call, CallOutcome};
use crate::rest::invocations::{IDEMPOTENCY_KEY, json_body, key_and_trace, respond};

/// Captured path parameters, in path order.
pub type Captures = Vec<(String, String)>;

/// The best route for `method` and `path` with its captures: most literal segments wins.
pub fn find(
    routes: &[(String, CompiledRoute)],
    method: &str,
    path: &str,
) -> Result<(CompiledRoute, Captures), ApiError> {
    let mut path_matched = false;
    let mut best: Option<(usize, &CompiledRoute, Captures)> = None;
    for (_, route) in routes {
        let Some(captures) = match_path(&route.segments, path) else {
            continue;
        };
        path_matched = true;
        if route.def.method != method {
            continue;
        }
        let literals = route
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        if best.as_ref().is_none_or(|(n, _, _)| literals > *n) {
            best = Some((literals, route, captures));
        }
    }
    match best {
        Some((_, route, captures)) => Ok((route.clone(), captures)),
        None if path_matched => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::MethodNotAllowed,
            format!("{path} does not accept {method}"),
        )),
        None => Err(ApiError::not_found(
            ErrorKind::NoRoute,
            format!(
                "no route matches {method} {path}; the REST API is under /v1 (see /openapi.json), user-defined routes under GET /v1/apis"
            ),
        )),
    }
}

/// Query parameters (`+` is a space, `%XX` decoded; the last value of a name wins).
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// The worker and the JSON arguments of a request for `route`.
pub fn map_request(route: &CompiledRoute, data: &Data) -> Result<(WorkerId, Value), ApiError> {
    let bad = |m: String| ApiError::bad_request(ErrorKind::InvalidRequest, m);
    let name = match eval(
        &Value::String(route.def.worker.clone()),
        Some(&WitShape::String),
        data,
    )
    .map_err(|e| bad(format!("worker name: {e}")))?
    {
        Value::String(s) => s,
        other => other.to_string().trim_matches('"').to_owned(),
    };
    let worker = WorkerId::parse(&route.def.component, &name).map_err(|e| {
        ApiError::bad_request(
            ErrorKind::InvalidName,
            format!("worker name {name:?} built from the request: {e}"),
        )
    })?;
    let args = match &route.def.args {
        None => data.body.clone().unwrap_or(Value::Null),
        Some(Value::Array(items)) => Value::Array(
            items
                .iter()
                .zip(&route.params)
                .map(|(t, (_, shape))| eval(t, Some(shape), data))
                .collect::<Result<_, _>>()
                .map_err(bad)?,
        ),
        Some(t) => eval(t, Some(&WitShape::Record(route.params.clone())), data).map_err(bad)?,
    };
    Ok((worker, args))
}

/// The response for an outcome, by the route's response templates.
pub fn render(route: &CompiledRoute, outcome: CallOutcome, mut data: Data, key: &str) -> Response {
    let returns_result = route
        .result
        .as_deref()
        .is_some_and(|r| r.starts_with("result"));
    let single = |v: &Value, k: &str| {
        v.as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get(k).cloned())
    };
    let (ok, status, default_body) = match outcome {
        CallOutcome::Pending => return respond(CallOutcome::Pending, key),
        CallOutcome::Ok(v) => match returns_result.then(|| single(&v, "err")).flatten() {
            Some(err) => {
                let message = err.as_str().map_or_else(|| err.to_string(), str::to_owned);
                let body =
                    json!({ "kind": ErrorKind::FunctionError, "message": message, "error": err });
                data.error = Some(err);
                (false, StatusCode::UNPROCESSABLE_ENTITY, body)
            }
            None => {
                let result = if returns_result {
                    single(&v, "ok").unwrap_or(v)
                } else {
                    v
                };
                data.result = Some(result.clone());
                (true, StatusCode::OK, result)
            }
        },
        CallOutcome::Err(e) => {
            data.error = Some(e.body());
            (false, e.status, e.body())
        }
    };
    let case = if ok {
        &route.def.response.ok
    } else {
        &route.def.response.error
    };
    let status = case
        .as_ref()
        .and_then(|c| c.status)
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(status);
    let body = match case.as_ref().and_then(|c| c.body.as_ref()) {
        Some(t) => eval(t, None, &data)
            .unwrap_or_else(|e| json!({ "kind": ErrorKind::ResponseTemplate, "message": e })),
        None => default_body,
    };
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(key) {
        response.headers_mut().insert(IDEMPOTENCY_KEY, v);
    }
    response
}

/// The fallback handler: serves user-defined routes, 404 / 405 otherwise.
pub async fn serve_route(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (route, captures) = find(&state.routes().all(), method.as_str(), uri.path())?;
    let data = Data {
        path: captures.into_iter().collect(),
        query: parse_query(uri.query()),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: match json_body(&body)? {
            Value::Null => None,
            v => Some(v),
        },
        result: None,
        error: None,
    };
    let (worker, args) = map_request(&route, &data)?;
    let (key, trace) = key_and_trace(&headers)?;
    let call = Call {
        worker,
        function: route.function.clone(),
        args,
        idempotency_key: key.clone(),
        trace,
    };
    let outcome = invoke::invoke(&state, &call, state.invoke_timeout(None)).await?;
    Ok(render(&route, outcome, data, &key))
}
