//! Logs and traces of every binary. Logs: human-readable on stderr by default, JSON with
//! `LOG_FORMAT=json`, the level from `RUST_LOG` (default [`DEFAULT_FILTER`]). Traces: with the
//! `otel` feature (on by default) and `OTEL_EXPORTER_OTLP_ENDPOINT` set (an OpenTelemetry
//! collector's OTLP/HTTP address, e.g. `http://otel-collector:4318`), every span is also
//! exported, as OTLP JSON, under `OTEL_SERVICE_NAME` (default: the binary's name).
//!
//! A trace crosses processes inside the job: the producer puts its span's W3C `traceparent`
//! in each job ([`traceparent`]) and the worker makes it the parent of the job's span
//! ([`adopt_parent`]), so a run is one trace from trigger to every worker's job.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// What the services log unless `RUST_LOG` says otherwise. Postgres NOTICEs ("relation
/// already exists, skipping" on every migration) are noise.
pub const DEFAULT_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// Keeps the trace exporter alive; dropping it sends the spans not yet exported. Hold it in
/// `main` until the end, outside any async runtime (the exporter's HTTP client blocks).
#[derive(Debug)]
#[must_use = "spans not yet exported are lost when this is dropped"]
pub struct Telemetry {
    #[cfg(feature = "otel")]
    traces: Option<otel::Exporter>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(traces) = self.traces.take() {
            traces.shutdown();
        }
    }
}

/// Installs the logger (and the trace exporter when configured); `default_filter` applies
/// to the logs when `RUST_LOG` is unset, `service` names the process in traces.
pub fn init(default_filter: &str, service: &'static str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // The filter is the logs' own: a quiet log level does not cut the traces short.
    let logs = if std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().with_filter(filter).boxed()
    } else {
        logs.with_filter(filter).boxed()
    };
    #[cfg_attr(not(feature = "otel"), expect(unused_mut, reason = "only the trace exporter adds a layer"))]
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![logs];
    #[cfg(feature = "otel")]
    let traces = otel::Exporter::from_env(service);
    #[cfg(feature = "otel")]
    layers.extend(traces.as_ref().map(otel::Exporter::layer));
    #[cfg(not(feature = "otel"))]
    let _ = service;
    tracing_subscriber::registry().with(layers).init();
    #[cfg(feature = "otel")]
    if let Some(traces) = &traces {
        tracing::info!(service = traces.service(), "exporting traces over OTLP");
    }
    Telemetry {
        #[cfg(feature = "otel")]
        traces,
    }
}

/// The W3C `traceparent` of the current span, to carry in a job; `None` when traces are not
/// exported.
pub fn traceparent() -> Option<String> {
    #[cfg(feature = "otel")]
    return otel::traceparent();
    #[cfg(not(feature = "otel"))]
    None
}

/// Makes the span that `traceparent` names the parent of `span`: the worker's job span joins
/// the producer's trace. Does nothing without one, or when traces are not exported.
pub fn adopt_parent(span: &tracing::Span, traceparent: Option<&str>) {
    #[cfg(feature = "otel")]
    if let Some(traceparent) = traceparent {
        otel::adopt_parent(span, traceparent);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, traceparent);
}

#[cfg(feature = "otel")]
mod otel {
    use std::collections::HashMap;

    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::{Layer, Registry};

    const TRACEPARENT: &str = "traceparent";

    #[derive(Debug)]
    pub(super) struct Exporter {
        provider: SdkTracerProvider,
        service: String,
    }

    impl Exporter {
        /// An OTLP/HTTP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces-only
        /// variant) is set; a bad setting is reported and leaves traces off, never the process.
        pub(super) fn from_env(service: &'static str) -> Option<Self> {
            let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
                .iter()
                .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
            if !configured {
                return None;
            }
            // The exporter reads the endpoint, headers and timeout from the standard variables.
            let exporter = match opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpJson)
                .build()
            {
                Ok(exporter) => exporter,
                Err(error) => {
                    // The logger is not installed yet: say it on stderr directly.
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!("traces are not exported: the OTLP exporter cannot be built: {error}");
                    }
                    return None;
                }
            };
            let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
            let resource = Resource::builder().with_service_name(service.clone()).build();
            let provider =
                SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
            Some(Self { provider, service })
        }

        /// The spans at info and above; the exporter's own HTTP client is not traced.
        pub(super) fn layer(&self) -> Box<dyn Layer<Registry> + Send + Sync> {
            let spans = Targets::new()
                .with_default(LevelFilter::INFO)
                .with_target("reqwest", LevelFilter::OFF)
                .with_target("hyper_util", LevelFilter::OFF)
                .with_target("opentelemetry", LevelFilter::OFF);
            tracing_opentelemetry::layer()
                .with_tracer(self.provider.tracer("boltfleet"))
                .with_filter(spans)
                .boxed()
        }

        pub(super) fn service(&self) -> &str {
            &self.service
        }

        /// Exports what is buffered and stops.
        pub(super) fn shutdown(self) {
            if let Err(error) = self.provider.shutdown() {
                tracing::warn!(error = %error, "traces not all exported at exit");
            }
        }
    }

    pub(super) fn traceparent() -> Option<String> {
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
        carrier.remove(TRACEPARENT)
    }

    pub(super) fn adopt_parent(span: &tracing::Span, traceparent: &str) {
        let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
        let parent = TraceContextPropagator::new().extract(&carrier);
        // Without the OpenTelemetry layer (traces not exported) there is nothing to join.
        let _ = span.set_parent(parent);
    }
}
