//! The JSON log line, written field by field straight into the formatter's buffer: the same
//! line as tracing-subscriber's flattened JSON format (`timestamp`, `level`, the event's
//! fields in order, `target`), without building a map of values per event. Every request
//! writes one of these (the access line), so this is on the hot path at the default level.

use std::fmt::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats each event as one JSON object on one line.
pub(super) struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        // Records from the `log` crate (rustls, for one) carry their real target in fields.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        writer.write_str("{\"timestamp\":\"")?;
        timestamp(&mut writer, SystemTime::now())?;
        write!(writer, "\",\"level\":\"{}\"", meta.level())?;
        let mut fields = Fields {
            out: &mut writer,
            result: Ok(()),
            skip_log_fields: normalized.is_some(),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str(",\"target\":")?;
        string(&mut writer, meta.target())?;
        writer.write_str("}\n")
    }
}

struct Fields<'a, 'w> {
    out: &'a mut Writer<'w>,
    result: fmt::Result,
    skip_log_fields: bool,
}

impl Fields<'_, '_> {
    fn key(&mut self, field: &Field) -> bool {
        if self.result.is_err() || (self.skip_log_fields && field.name().starts_with("log.")) {
            return false;
        }
        self.result = self
            .out
            .write_char(',')
            .and_then(|()| string(self.out, field.name()))
            .and_then(|()| self.out.write_char(':'));
        self.result.is_ok()
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            self.result = string(self.out, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            self.result = self
                .out
                .write_char('"')
                .and_then(|()| write!(Escaped(self.out), "{value:?}"))
                .and_then(|()| self.out.write_char('"'));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            self.result = write!(self.out, "{value}");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            self.result = write!(self.out, "{value}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.result = write!(self.out, "{value}");
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            // JSON has no NaN or infinity.
            self.result = if value.is_finite() {
                write!(self.out, "{value}")
            } else {
                self.out.write_str("null")
            };
        }
    }
}

/// A JSON string literal.
fn string(out: &mut impl Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(value)?;
    out.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string.
struct Escaped<'a, W: Write + ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, c) in s.char_indices() {
            let escape = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                c if c < ' ' => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{:04x}", u32::from(c))?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = i + c.len_utf8();
        }
        self.0.write_str(&s[plain..])
    }
}

/// RFC 3339 in UTC with microseconds, as `2026-11-27T18:22:24.280000Z`. A clock before the
/// epoch writes the epoch, and one past the year 9999 (which RFC 3339 cannot write) its last
/// instant, so no reading of the clock can fail a log line.
fn timestamp(out: &mut impl Write, now: SystemTime) -> fmt::Result {
    let since = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .min(LAST_RFC3339_INSTANT);
    write!(out, "{}", humantime::format_rfc3339_micros(UNIX_EPOCH + since))
}

/// 9999-12-31T23:59:59.999999Z, since the epoch.
const LAST_RFC3339_INSTANT: Duration = Duration::new(253_402_300_799, 999_999_999);

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit_all() {
        let id: std::sync::Arc<str> = "crm-sync".into();
        tracing::info!(target: "access", request_id = "req_abc", caller = &*id, status = 200u16,
            upstream_status = Some(201u16), skipped = None::<u16>, upstream_ms = 0.689131,
            duration_ms = 1.5, ok = true, delta = -3i64, error = "GATEWAY_UNAUTHENTICATED");
        tracing::warn!(path = "a\"b\\c\nd\u{1}é", "reload failed: {}", "quote \" here");
        tracing::info!(weird = f64::NAN, "no numbers");
    }

    fn capture(make: impl FnOnce(Captured) -> Box<dyn tracing::Subscriber + Send + Sync>) -> String {
        let captured = Captured::default();
        let subscriber = make(captured.clone());
        tracing::subscriber::with_default(subscriber, emit_all);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text
    }

    fn parsed(text: &str) -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn lines_match_the_stock_flattened_json_format() {
        let ours_text = capture(|w| {
            Box::new(
                tracing_subscriber::fmt()
                    .with_writer(move || w.clone())
                    .event_format(JsonLine)
                    .finish(),
            )
        });
        let stock = capture(|w| {
            Box::new(
                tracing_subscriber::fmt()
                    .with_writer(move || w.clone())
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .finish(),
            )
        });
        let (ours, stock) = (parsed(&ours_text), parsed(&stock));
        assert_eq!(ours.len(), 3);
        for (a, b) in ours.iter().zip(&stock) {
            let (mut a, mut b) = (a.clone(), b.clone());
            // Written a moment apart.
            a.as_object_mut().unwrap().remove("timestamp");
            b.as_object_mut().unwrap().remove("timestamp");
            // serde_json writes NaN as null; so do we. Everything else must be identical.
            assert_eq!(a, b);
        }
        // The order the parsed maps do not show: timestamp, level, the fields as written, target.
        let first = ours_text.lines().next().unwrap();
        assert!(first.starts_with("{\"timestamp\":\""), "{first}");
        assert!(
            first.contains("\"level\":\"INFO\",\"request_id\":\"req_abc\",\"caller\":\"crm-sync\",\"status\":200,"),
            "{first}"
        );
        assert!(first.ends_with(",\"target\":\"access\"}"), "{first}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let mut out = String::new();
        timestamp(&mut out, UNIX_EPOCH + Duration::new(1_795_803_744, 280_000_123)).unwrap();
        assert_eq!(out, "2026-11-27T18:22:24.280000Z");
        let mut out = String::new();
        timestamp(&mut out, UNIX_EPOCH + Duration::from_secs(951_782_400)).unwrap();
        assert_eq!(out, "2000-02-29T00:00:00.000000Z");
        let mut out = String::new();
        timestamp(&mut out, UNIX_EPOCH).unwrap();
        assert_eq!(out, "1970-01-01T00:00:00.000000Z");
        let mut out = String::new();
        timestamp(&mut out, UNIX_EPOCH + Duration::from_secs(400_000_000_000)).unwrap();
        assert_eq!(out, "9999-12-31T23:59:59.999999Z");
    }
}
