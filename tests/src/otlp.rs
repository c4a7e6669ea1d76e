//! A minimal in-process OTLP receiver for tests of span export, listening for both
//! protocols: an HTTP/1.1 server accepting `POST /v1/traces` (`application/x-protobuf`,
//! what `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf` sends) and a tonic gRPC
//! `TraceService` (`grpc`). Each `ExportTraceServiceRequest` is decoded with
//! `opentelemetry-proto`; every span received, by either, is kept in arrival order for
//! the test to read ([`OtlpReceiver::spans`]). Point a process at it with
//! `OTEL_EXPORTER_OTLP_ENDPOINT=`[`OtlpReceiver::endpoint`] (HTTP) or
//! [`OtlpReceiver::grpc_endpoint`] (with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`).

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One received span, ids in lowercase hex (a root's `parent` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSpan {
    /// The exporting process's `service.name`.
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent: String,
    /// `SpanKind` as the protocol numbers it (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    /// `(trace_id, span_id)` of each link.
    pub links: Vec<(String, String)>,
    /// String-valued attributes (others as their debug text).
    pub attributes: Vec<(String, String)>,
}

impl ReceivedSpan {
    /// The value of attribute `key`, if set.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The receiver; stops serving when dropped.
pub struct OtlpReceiver {
    endpoint: String,
    grpc_endpoint: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The gRPC side: keeps what it is sent.
struct Grpc(Arc<Mutex<Vec<ReceivedSpan>>>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = spans_of(request.into_inner());
        self.0.lock().expect("spans").extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

/// The spans of one export request's protobuf body.
pub fn decode(body: &[u8]) -> Result<Vec<ReceivedSpan>, prost::DecodeError> {
    Ok(spans_of(ExportTraceServiceRequest::decode(body)?))
}

/// The spans of one export request.
pub fn spans_of(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    kind: span.kind,
                    links: span
                        .links
                        .iter()
                        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                        .collect(),
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
    out
}

impl OtlpReceiver {
    /// Starts the receiver on two free loopback ports (HTTP, gRPC).
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let sink = spans.clone();
        let http = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, sink.clone()));
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let grpc_endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let service = TraceServiceServer::new(Grpc(spans.clone()));
        let grpc = tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
            if let Err(e) = served {
                eprintln!("[otlp] the gRPC receiver stopped: {e}");
            }
        });
        Self {
            endpoint,
            grpc_endpoint,
            spans,
            tasks: vec![http, grpc],
        }
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` with `http/protobuf`
    /// (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` with `grpc`.
    pub fn grpc_endpoint(&self) -> &str {
        &self.grpc_endpoint
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("spans").clone()
    }
}

/// Serves one connection: requests one after another (the exporter keeps it alive).
async fn serve(sock: TcpStream, sink: Arc<Mutex<Vec<ReceivedSpan>>>) {
    let mut sock = BufReader::new(sock);
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match sock.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => head.push(line),
            }
        }
        let request_line = head.first().cloned().unwrap_or_default();
        let length = head
            .iter()
            .find_map(|h| {
                let (name, value) = h.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if sock.read_exact(&mut body).await.is_err() {
            return;
        }
        let status = if !request_line.starts_with("POST /v1/traces ") {
            "404 Not Found"
        } else {
            match decode(&body) {
                Ok(spans) => {
                    sink.lock().expect("spans").extend(spans);
                    "200 OK"
                }
                Err(_) => "400 Bad Request",
            }
        };
        // An empty `ExportTraceServiceResponse` encodes to no bytes.
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if sock.get_mut().write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
