//! Durable outgoing HTTP (`wasi:http/outgoing-handler`). Each request is
//! journaled as `BeginRemoteWrite` when the guest sends it (in call order, so
//! replay can match it) and its full response as `EndRemoteWrite`. Live, the
//! request leaves only after the journal is committed (output commit). In
//! replay a recorded response is handed back and the request is never sent
//! again; a request whose response was not recorded (the executor died while
//! it was in flight) is sent again: at-least-once, as the contract says.
//! With span export on, a request sent live carries `traceparent` naming its own
//! `http <METHOD>` span, a child of the invocation's ([`crate::spans`]).

use std::future::Future;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use revenant_types::oplog::{HttpRequestRecord, HttpResponseRecord, TraceContext};
use revenant_types::trace::Kind;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::Journal;
use super::journaled::HttpHandle;

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// The wasi-http hooks of a worker.
pub struct DurableHttp {
    journal: Journal,
}

impl DurableHttp {
    pub fn new(journal: Journal) -> Self {
        Self { journal }
    }
}

fn record_request(req: &http::Request<WasiBody>) -> HttpRequestRecord {
    HttpRequestRecord {
        method: req.method().to_string(),
        uri: req.uri().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        // The body may still be streaming when the request is handed over; the
        // journal keys requests by order, method and URI.
        body: Vec::new(),
    }
}

/// Sets the request's `traceparent` / `tracestate` to `trace` (after it was journaled:
/// the journal keys requests by method and URI, and the ids are fresh on every send).
fn carry_trace(req: &mut http::Request<WasiBody>, trace: &TraceContext) {
    use revenant_nats::headers::{TRACEPARENT, TRACESTATE};
    for (name, value) in [
        (TRACEPARENT, &trace.traceparent),
        (TRACESTATE, &trace.tracestate),
    ] {
        let value = value
            .as_deref()
            .and_then(|v| http::HeaderValue::from_str(v).ok());
        match value {
            Some(v) => {
                req.headers_mut().insert(name, v);
            }
            None => {
                req.headers_mut().remove(name);
            }
        }
    }
}

fn response_from_record(rec: HttpResponseRecord) -> Result<http::Response<WasiBody>, Error> {
    let mut builder = http::Response::builder().status(rec.status);
    for (k, v) in rec.headers {
        builder = builder.header(k, v);
    }
    let body = Full::new(Bytes::from(rec.body))
        .map_err(|never| match never {})
        .boxed_unsync();
    builder
        .body(body)
        .map_err(|e| Error::InternalError(Some(e.to_string())))
}

fn error_from_record(message: String) -> Error {
    match message.as_str() {
        "ConnectionRefused" => Error::ConnectionRefused,
        "ConnectionTimeout" => Error::ConnectionTimeout,
        "DestinationNotFound" => Error::DestinationNotFound,
        "HttpResponseTimeout" => Error::HttpResponseTimeout,
        _ => Error::InternalError(Some(message)),
    }
}

fn replayed(
    exchange: Result<HttpResponseRecord, String>,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let done: IoFuture = Box::new(async { Ok(()) });
    match exchange {
        Ok(rec) => Ok((response_from_record(rec)?, done)),
        Err(message) => Err(error_from_record(message)),
    }
}

impl WasiHttpHooks for DurableHttp {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let journal = self.journal.clone();
        let begun = journal.begin_write::<HttpHandle>(record_request(&request));
        Box::new(async move {
            let (begin, recorded) = begun.map_err(|d| Error::InternalError(Some(d.to_string())))?;
            if let Some(exchange) = recorded {
                return replayed(exchange);
            }
            // Output commit: the request leaves only once its begin entry is durable.
            journal
                .commit()
                .await
                .map_err(|e| Error::InternalError(Some(e.to_string())))?;
            let context = journal.context().trace;
            let span = crate::spans::Call::start(&context, false);
            if let Some(span) = &span {
                carry_trace(&mut request, &span.place.context());
            }
            let (method, uri) = (request.method().to_string(), request.uri().to_string());
            let outcome = async {
                let (resp, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
                let io = tokio::spawn(io);
                let (parts, body) = resp.into_parts();
                let body = body.collect().await?.to_bytes();
                // The connection task ends once the body is read; its error, if any, surfaced above.
                drop(io);
                Ok::<_, Error>(HttpResponseRecord {
                    status: parts.status.as_u16(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.to_string(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body: body.to_vec(),
                })
            }
            .await;
            let exchange = outcome.map_err(|e| format!("{e:?}"));
            if let Some(span) = span {
                let mut attributes =
                    vec![("http.request.method", method.clone()), ("url.full", uri)];
                let error = match &exchange {
                    Ok(r) => {
                        attributes.push(("http.response.status_code", r.status.to_string()));
                        (r.status >= 500).then(|| format!("status {}", r.status))
                    }
                    Err(e) => Some(e.clone()),
                };
                span.end(
                    format!("http {method}"),
                    Kind::Client,
                    &context,
                    attributes,
                    error,
                );
            }
            journal.end_write::<HttpHandle>(begin, exchange.clone());
            replayed(exchange)
        })
    }
}
