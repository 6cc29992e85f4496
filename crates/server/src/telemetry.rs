//! Logs and traces. JSON lines in production (one object per event, Loki-friendly), human-readable
//! in development; `RUST_LOG` overrides `LOG_LEVEL`. With `OTEL_EXPORTER_OTLP_ENDPOINT` spans are
//! exported over OTLP/HTTP; W3C `traceparent` is always accepted.
use crate::config::{Config, LogFormat};
use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the trace exporter alive; `shutdown` flushes it.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes buffered spans. The SDK's exporter runs on its own thread with a blocking client,
    /// so this must not run on an async worker.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}

/// `RUST_LOG` directives when given, else `LOG_LEVEL` for everything.
fn log_filter(config: &Config) -> anyhow::Result<EnvFilter> {
    match &config.rust_log {
        Some(directives) => EnvFilter::try_new(directives).context("RUST_LOG is not a valid filter"),
        // sqlx logs every statement at info: keep that at warn unless asked
        None => EnvFilter::try_new(format!("{},sqlx=warn,h2=warn,hyper=warn", config.log_level))
            .context("LOG_LEVEL is not a valid level"),
    }
}

pub fn init(config: &Config) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    let filter = log_filter(config)?;
    let fmt = match config.log_format() {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        // colours only on a terminal: redirected output stays plain text
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .boxed(),
    };
    let (otel, provider) = match &config.otel_exporter_otlp_endpoint {
        Some(endpoint) => {
            let endpoint = endpoint.trim_end_matches('/');
            let endpoint =
                if endpoint.ends_with("/v1/traces") { endpoint.to_owned() } else { format!("{endpoint}/v1/traces") };
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .build()
                .context("cannot build the OTLP exporter")?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder().with_service_name(config.otel_service_name.clone()).build(),
                )
                .build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("freeagentics"));
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .context("a global tracing subscriber is already installed")?;
    Ok(Telemetry { provider })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::filter::LevelFilter;

    fn max_level(pairs: &[(&'static str, &str)]) -> Option<LevelFilter> {
        let config = Config::from_pairs(pairs.iter().map(|(k, v)| (*k, (*v).to_owned()))).unwrap();
        log_filter(&config).unwrap().max_level_hint()
    }

    #[test]
    fn log_level_sets_the_filter_and_rust_log_overrides_it() {
        assert_eq!(max_level(&[]), Some(LevelFilter::INFO));
        assert_eq!(max_level(&[("LOG_LEVEL", "warn")]), Some(LevelFilter::WARN));
        assert_eq!(max_level(&[("LOG_LEVEL", "warn"), ("RUST_LOG", "debug")]), Some(LevelFilter::DEBUG));
    }
}
