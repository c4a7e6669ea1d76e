//! OTLP export of Revenant's spans (README "Tracing"): on only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, over `OTEL_EXPORTER_OTLP_PROTOCOL` = `grpc` or
//! `http/protobuf` (the default). One tracer provider per service run by this process
//! (`revenant-router`, `revenant-executor`; `up` runs both), each with a batch exporter;
//! [`Telemetry::shutdown`] flushes them.
//!
//! Spans are built by [`revenant_types::trace::emit`] with the OpenTelemetry API and
//! ids chosen by Revenant (an invocation's span id is derived from its worker and key),
//! which the SDK takes through [`ChosenIds`]: tracing-opentelemetry is not used, since
//! none of these spans is a scope of the running code (they are emitted when finished,
//! with journaled times, parents read off the wire and explicit ids).

use anyhow::Context as _;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracerProvider};
use revenant_types::trace::{self, Service};

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";

/// The providers to flush on shutdown (none when export is off).
#[derive(Default)]
pub struct Telemetry {
    providers: Vec<SdkTracerProvider>,
}

/// Ids for the SDK: the ones [`trace::emit`] chose for the span being built, else random.
#[derive(Debug, Default)]
struct ChosenIds(RandomIdGenerator);

impl IdGenerator for ChosenIds {
    fn new_trace_id(&self) -> TraceId {
        trace::take_forced_trace_id().map_or_else(|| self.0.new_trace_id(), TraceId::from_bytes)
    }

    fn new_span_id(&self) -> SpanId {
        trace::take_forced_span_id().map_or_else(|| self.0.new_span_id(), SpanId::from_bytes)
    }
}

/// The wire protocol `OTEL_EXPORTER_OTLP_PROTOCOL` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Grpc,
    HttpProtobuf,
}

fn protocol(value: Option<&str>) -> anyhow::Result<Protocol> {
    match value.map(str::trim) {
        None | Some("") | Some("http/protobuf") => Ok(Protocol::HttpProtobuf),
        Some("grpc") => Ok(Protocol::Grpc),
        Some(other) => anyhow::bail!(
            "{PROTOCOL}={other} is not supported; use `grpc` or `http/protobuf` (or unset it)"
        ),
    }
}

/// Starts export for `services` when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise
/// does nothing (and spans are never built). Must run inside the tokio runtime (the
/// gRPC exporter's channel lives there).
pub fn init(services: &[Service]) -> anyhow::Result<Telemetry> {
    let endpoint = std::env::var(ENDPOINT).unwrap_or_default();
    if endpoint.trim().is_empty() {
        return Ok(Telemetry::default());
    }
    let protocol = protocol(std::env::var(PROTOCOL).ok().as_deref())?;
    let mut providers = Vec::new();
    for service in services {
        // The exporter reads the endpoint (and headers, timeout) from the environment
        // itself, adding `/v1/traces` for HTTP as the specification says.
        let exporter = match protocol {
            Protocol::Grpc => SpanExporter::builder()
                .with_tonic()
                .with_protocol(opentelemetry_otlp::Protocol::Grpc)
                .build(),
            Protocol::HttpProtobuf => SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .build(),
        }
        .with_context(|| format!("the OTLP exporter for {ENDPOINT}={endpoint}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_id_generator(ChosenIds::default())
            .with_resource(
                Resource::builder()
                    .with_service_name(service.name())
                    .build(),
            )
            .build();
        let tracer = provider.tracer(trace::SCOPE);
        trace::install(
            *service,
            opentelemetry::global::BoxedTracer::new(Box::new(tracer)),
        );
        providers.push(provider);
    }
    tracing::info!(endpoint = %endpoint, ?protocol, "exporting spans over OTLP");
    Ok(Telemetry { providers })
}

impl Telemetry {
    /// Flushes what is batched and stops the exporters.
    pub fn shutdown(self) {
        if self.providers.is_empty() {
            return;
        }
        let flush = || {
            for provider in self.providers {
                if let Err(e) = provider.shutdown() {
                    tracing::warn!(error = %e, "flushing spans on shutdown failed");
                }
            }
        };
        // The exporters block on their own threads; let the runtime go on meanwhile.
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(flush)
            }
            _ => flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_is_http_protobuf_unless_grpc_is_asked_for() {
        assert_eq!(protocol(None).unwrap(), Protocol::HttpProtobuf);
        assert_eq!(
            protocol(Some("http/protobuf")).unwrap(),
            Protocol::HttpProtobuf
        );
        assert_eq!(protocol(Some("grpc")).unwrap(), Protocol::Grpc);
        let e = protocol(Some("http/json")).unwrap_err().to_string();
        assert!(e.contains("grpc") && e.contains("http/protobuf"), "{e}");
    }
}
