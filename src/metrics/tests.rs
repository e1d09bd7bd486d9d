use super::*;
use std::time::Duration;

use crate::error::Code;
use crate::ratelimit::Budget;
use crate::telemetry::AccessLog;

/// A configured id, as the state the request ran on holds it (kept for the test's life).
fn id(text: &str) -> &'static Arc<str> {
    Box::leak(Box::new(Arc::from(text)))
}

fn log(caller: Option<&str>, route: Option<&str>) -> AccessLog<'static> {
    AccessLog {
        caller: caller.map(id),
        team: caller.map(|_| id("sales")),
        route: route.map(id),
        ..AccessLog::default()
    }
}

#[test]
fn labels_come_from_identity_or_fixed_placeholders() {
    let m = Metrics::new();
    m.record(
        &log(None, None),
        401,
        Some(Code::GatewayUnauthenticated),
        Duration::from_millis(1),
    );
    m.record(
        &log(Some("crm"), None),
        404,
        Some(Code::EndpointNotFound),
        Duration::from_millis(1),
    );
    let mut ok = log(Some("crm"), Some("users.list"));
    ok.upstream_duration = Some(Duration::from_millis(3));
    m.record(&ok, 200, None, Duration::from_millis(4));
    let text = m.render();
    assert!(text.contains(r#"allo_gateway_requests_total{caller="-",team="-",route="-",status="401"} 1"#));
    assert!(text.contains(r#"allo_gateway_requests_total{caller="crm",team="sales",route="unknown",status="404"} 1"#));
    assert!(
        text.contains(r#"allo_gateway_requests_total{caller="crm",team="sales",route="users.list",status="200"} 1"#)
    );
    assert!(text.contains(r#"allo_gateway_upstream_duration_seconds_count{route="users.list"} 1"#));
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn repeated_requests_feed_the_same_series() {
    let m = Metrics::new();
    let refused = log(Some("crm"), Some("users.list"));
    m.record(&refused, 400, Some(Code::InvalidQueryParameter), Duration::ZERO);
    // No request of this route reached the upstream yet: no upstream series.
    assert!(!m.render().contains("allo_gateway_upstream_duration_seconds_count"));
    let mut ok = log(Some("crm"), Some("users.list"));
    ok.upstream_duration = Some(Duration::from_millis(3));
    for _ in 0..3 {
        m.record(&ok, 200, None, Duration::from_millis(4));
    }
    // Another caller's series share the route's histograms.
    m.record(&log(Some("billing"), Some("users.list")), 200, None, Duration::ZERO);
    let text = m.render();
    assert!(
        text.contains(r#"allo_gateway_requests_total{caller="crm",team="sales",route="users.list",status="200"} 3"#)
    );
    assert!(
        text.contains(r#"allo_gateway_requests_total{caller="crm",team="sales",route="users.list",status="400"} 1"#)
    );
    assert!(text
        .contains(r#"allo_gateway_requests_total{caller="billing",team="sales",route="users.list",status="200"} 1"#));
    assert!(text.contains(r#"allo_gateway_request_duration_seconds_count{route="users.list"} 5"#));
    assert!(text.contains(r#"allo_gateway_upstream_duration_seconds_count{route="users.list"} 3"#));
}

#[test]
fn refusals_are_counted_by_kind() {
    let m = Metrics::new();
    let mut limited = log(Some("crm"), Some("users.list"));
    limited.rate_limited = Some(Budget::Team);
    m.record(&limited, 429, Some(Code::RateLimitExceeded), Duration::ZERO);
    m.record(
        &log(Some("crm"), Some("users.list")),
        400,
        Some(Code::InvalidQueryParameter),
        Duration::ZERO,
    );
    m.record(
        &log(Some("crm"), Some("users.list")),
        504,
        Some(Code::UpstreamTimeout),
        Duration::ZERO,
    );
    let mut busy = log(Some("crm"), Some("users.list"));
    busy.rate_limited = Some(Budget::TeamConcurrency);
    m.record(&busy, 429, Some(Code::RateLimitExceeded), Duration::ZERO);
    let text = m.render();
    assert!(text.contains(r#"allo_gateway_rate_limited_total{budget="team",caller="crm",team="sales"} 1"#));
    assert!(text.contains(r#"allo_gateway_rate_limited_total{budget="team_concurrency",caller="crm",team="sales"} 1"#));
    assert!(
        text.contains(r#"allo_gateway_validation_refusals_total{route="users.list",code="INVALID_QUERY_PARAMETER"} 1"#)
    );
    assert!(text.contains(r#"allo_gateway_upstream_errors_total{team="sales",kind="timeout"} 1"#));
}

#[test]
fn in_flight_follows_the_guard() {
    let m = Metrics::new();
    let guard = m.request_started();
    assert!(m.render().contains("allo_gateway_in_flight_requests 1\n"));
    drop(guard);
    assert!(m.render().contains("allo_gateway_in_flight_requests 0\n"));
}

#[test]
fn reloads_and_switches() {
    let m = Metrics::new();
    m.reload(ReloadResult::Error, 0);
    m.reload(ReloadResult::Partial, 2);
    m.key_switch("sales", KeySlot::Fallback);
    let text = m.render();
    assert!(text.contains(r#"allo_gateway_reloads_total{result="error"} 1"#));
    assert!(text.contains(r#"allo_gateway_reloads_total{result="partial"} 1"#));
    assert!(text.contains("allo_gateway_config_last_reload_successful 0\n"));
    assert!(text.contains("allo_gateway_team_files_refused 2\n"));
    assert!(text.contains(r#"allo_gateway_key_switches_total{team="sales",to="api_key_fallback"} 1"#));
}
