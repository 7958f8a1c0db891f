//! JSON log lines in the shape Lambda's advanced logging controls read
//! (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>):
//! one JSON object per line with `timestamp` (RFC 3339), `level`
//! (`TRACE`..`ERROR`, which Lambda's log-level filter reads), `message`, and
//! the fields of the event and of its spans flattened to the top level — so
//! the runtime's `requestId` span field becomes a top-level `requestId`, as in
//! the managed runtimes' JSON logs, and Logs Insights can filter on it.
//!
//! Level: `RUST_LOG` when set (full `EnvFilter` syntax), else
//! `PCSCALE_LOG_LEVEL` (the template's `LogLevel`), else
//! `AWS_LAMBDA_LOG_LEVEL` (set by Lambda from `ApplicationLogLevel`), else
//! `INFO`. The template keeps Lambda's own filter at `INFO` or lower because
//! Lambda gives EMF lines (JSON without `level`) the level `INFO` and would
//! drop them under `WARN`; `PCSCALE_LOG_LEVEL` filters in-process instead. The level applies to pcscale and the runtime; dependencies (the
//! AWS SDK, hyper) stay at `WARN` so `DEBUG` is readable.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, fmt as tfmt};

/// Formats each event as one flat JSON object (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct LambdaJson;

impl<S, N> FormatEvent<S, N> for LambdaJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut obj = Map::new();
        obj.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        obj.insert("level".into(), Value::String(meta.level().as_str().into()));
        // Span fields, outermost first, so an inner span's field wins.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&fields.fields)
                {
                    obj.extend(m);
                }
            }
        }
        let mut visitor = JsonVisitor(&mut obj);
        event.record(&mut visitor);
        obj.entry("message")
            .or_insert_with(|| Value::String(String::new()));
        obj.insert("target".into(), Value::String(meta.target().into()));
        let line = serde_json::to_string(&Value::Object(obj)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

/// The filter directives for a level name (`INFO`, `debug`, ...): the level
/// for pcscale and the Lambda runtime (whose invoke span carries `requestId`,
/// so it must stay enabled at `INFO`), `WARN` for everything else.
pub fn directives_for(level: &str) -> String {
    let level = match level.trim().to_ascii_lowercase().as_str() {
        l @ ("trace" | "debug" | "info" | "warn" | "error") => l.to_owned(),
        "fatal" => "error".to_owned(),
        _ => "info".to_owned(),
    };
    let runtime = if matches!(level.as_str(), "trace" | "debug") {
        level.as_str()
    } else {
        "info"
    };
    format!("warn,pcscale={level},pcscale_lambda={level},lambda_runtime={runtime}")
}

/// The filter from `RUST_LOG`, else `PCSCALE_LOG_LEVEL`, else
/// `AWS_LAMBDA_LOG_LEVEL`, else `INFO`.
pub fn filter_from_env() -> EnvFilter {
    if let Ok(explicit) = std::env::var("RUST_LOG")
        && let Ok(f) = EnvFilter::try_new(&explicit)
    {
        return f;
    }
    let level = std::env::var("PCSCALE_LOG_LEVEL")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| "INFO".into());
    EnvFilter::new(directives_for(&level))
}

/// Installs the JSON subscriber on stdout (Lambda forwards stdout to
/// CloudWatch Logs). Call once, first thing in `main`.
pub fn init() {
    tfmt()
        .event_format(LambdaJson)
        .fmt_fields(JsonFields::new())
        .with_env_filter(filter_from_env())
        .with_writer(std::io::stdout)
        .init();
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing::{info, info_span, warn};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn log_lines_are_flat_json_with_level_timestamp_message_and_request_id() {
        let buf = Buf::default();
        let sub = tfmt()
            .event_format(LambdaJson)
            .fmt_fields(JsonFields::new())
            .with_env_filter(EnvFilter::new("trace"))
            .with_writer(buf.clone())
            .finish();
        tracing::subscriber::with_default(sub, || {
            let span = info_span!("Lambda runtime invoke", requestId = "req-1");
            let _g = span.enter();
            let inner = info_span!("resource", resource = "function:a:live");
            let _g2 = inner.enter();
            warn!(changed = 2u64, "tick done");
            info!("second");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first = &lines[0];
        assert_eq!(first["level"], "WARN");
        assert_eq!(first["message"], "tick done");
        assert_eq!(first["requestId"], "req-1");
        assert_eq!(first["resource"], "function:a:live");
        assert_eq!(first["changed"], 2);
        let ts = first["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        assert_eq!(lines[1]["level"], "INFO");
    }

    #[test]
    fn directives_keep_dependencies_at_warn_and_map_unknown_levels_to_info() {
        assert_eq!(
            directives_for("DEBUG"),
            "warn,pcscale=debug,pcscale_lambda=debug,lambda_runtime=debug"
        );
        assert_eq!(
            directives_for("nonsense"),
            "warn,pcscale=info,pcscale_lambda=info,lambda_runtime=info"
        );
        assert_eq!(
            directives_for("ERROR"),
            "warn,pcscale=error,pcscale_lambda=error,lambda_runtime=info"
        );
    }
}
