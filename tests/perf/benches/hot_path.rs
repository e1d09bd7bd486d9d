//! Micro-benchmarks of the gateway's per-request work, piece by piece:
//!
//! - `validate/*`: the body check of `POST /v2/api/dialing-queues/current` (strict parse plus
//!   the compiled JSON Schema), for a valid body and for one refused with a field error;
//! - `routes/find/*`: route matching for literal paths, a parameter path, a literal that must
//!   win over a parameter, an unknown path and a wrong method;
//! - `auth/*`: caller lookup among 100 configured callers (SHA-256 of the token + map lookup),
//!   for a known and an unknown token, and the scope/route check;
//! - `forward/rewrite_request`: building the upstream request head (header map clone, hop-by-hop
//!   strip, key injection);
//! - `metrics/record`: the per-request metrics update (label structs, family lookups).
//!
//! `cargo bench --bench hot_path` measures; `cargo test --all-targets` (criterion's test mode)
//! runs each benchmark once as a smoke test.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request};

use allo_gateway::auth::{token_hash_hex, Callers};
use allo_gateway::config::{CallerConfig, UnknownFields, ValidationMode};
use allo_gateway::metrics::Metrics;
use allo_gateway::routes::{Match, Route, RouteTable};
use allo_gateway::secret::Secret;
use allo_gateway::telemetry::AccessLog;
use allo_gateway::upstream::rewrite_request;
use allo_gateway::validate::{check_body, parse_strict};

/// The body `run.sh` posts (~100 bytes).
const RESET_BODY: &str = r#"{"name":"Monday cold calls for the west region","email":"ana@example.com"}"#;

fn table() -> RouteTable {
    RouteTable::builtin(UnknownFields::Reject).expect("the built-in route table loads")
}

fn route<'a>(table: &'a RouteTable, id: &str) -> &'a Route {
    table
        .routes()
        .find(|r| &*r.id == id)
        .unwrap_or_else(|| panic!("route {id} is in the table"))
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

fn validation(c: &mut Criterion) {
    let table = table();
    let reset = route(&table, "dialingQueues.resetCurrent");
    let headers = json_headers();
    let valid = Bytes::from_static(RESET_BODY.as_bytes());
    let invalid = Bytes::from(format!(r#"{{"name":"{}","email":"not an email"}}"#, "a".repeat(256)));
    assert!(check_body(reset, &headers, &valid).result.is_ok());
    assert!(check_body(reset, &headers, &invalid).result.is_err());

    let mut g = c.benchmark_group("validate");
    g.bench_function("check_body/reset_valid", |b| {
        b.iter(|| check_body(black_box(reset), black_box(&headers), black_box(&valid)))
    });
    g.bench_function("check_body/reset_invalid", |b| {
        b.iter(|| check_body(black_box(reset), black_box(&headers), black_box(&invalid)))
    });
    g.bench_function("parse_strict/reset_valid", |b| {
        b.iter(|| parse_strict(black_box(RESET_BODY.as_bytes())))
    });
    g.bench_function("serde_json_value/reset_valid", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(RESET_BODY.as_bytes())))
    });
    g.finish();
}

fn route_matching(c: &mut Criterion) {
    let table = table();
    let cases: [(&str, Method, &str); 6] = [
        ("users_list", Method::GET, "/v2/api/users"),
        ("reset_current", Method::POST, "/v2/api/dialing-queues/current"),
        ("param_users_get", Method::GET, "/v2/api/users/usr-7Qk2mW9xLpA3"),
        ("literal_over_param", Method::GET, "/v2/api/webhooks/event_types"),
        ("unknown_path", Method::GET, "/v2/api/no-such-thing/at-all"),
        ("wrong_method", Method::PUT, "/v2/api/users"),
    ];
    for (name, method, path) in &cases {
        let found = matches!(table.find(method, path), Match::Found(_));
        assert_eq!(found, !matches!(*name, "unknown_path" | "wrong_method"), "{name}");
    }
    let mut g = c.benchmark_group("routes/find");
    for (name, method, path) in &cases {
        g.bench_function(*name, |b| {
            b.iter(|| matches!(table.find(black_box(method), black_box(path)), Match::Found(_)))
        });
    }
    g.finish();
}

fn caller_configs(n: usize) -> Vec<CallerConfig> {
    (0..n)
        .map(|i| {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(token_hash_hex(&format!("perf-token-{i:03}")), &mut digest).expect("hex of a SHA-256");
            CallerConfig {
                origin: format!("callers[{i}]"),
                id: format!("caller-{i:03}"),
                team: if i % 2 == 0 { "sales" } else { "support" }.to_string(),
                token_sha256: Some(digest),
                cert_san: None,
                scopes: (i % 3 == 0).then(|| vec!["DIALING_QUEUE_READ_WRITE".to_string(), "USERS_READ".to_string()]),
                rate: None,
                routes: (i % 3 == 0).then(|| vec!["dialingQueues.*".to_string(), "users.list".to_string()]),
                validation: None,
            }
        })
        .collect()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = json_headers();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("a valid header value"),
    );
    headers.insert("accept", HeaderValue::from_static("*/*"));
    headers.insert("user-agent", HeaderValue::from_static("crm-sync/1.4"));
    headers
}

fn authentication(c: &mut Criterion) {
    let configs = caller_configs(100);
    let callers = Callers::new(&configs, ValidationMode::Enforce);
    let known = bearer("perf-token-057");
    let unknown = bearer("perf-token-999");
    let restricted = bearer("perf-token-057"); // 57 % 3 == 0: scopes and routes set
    assert_eq!(
        callers.authenticate(&known).map(|c| c.id.clone()).as_deref(),
        Ok("caller-057")
    );
    assert!(callers.authenticate(&unknown).is_err());
    let table = table();
    let reset = route(&table, "dialingQueues.resetCurrent");
    let caller = callers.authenticate(&restricted).expect("known token");
    assert!(caller.authorize(reset).is_ok());

    let mut g = c.benchmark_group("auth");
    g.bench_function("callers_new/100", |b| {
        b.iter(|| Callers::new(black_box(&configs), ValidationMode::Enforce))
    });
    g.bench_function("authenticate/known_of_100", |b| {
        b.iter(|| callers.authenticate(black_box(&known)).is_ok())
    });
    g.bench_function("authenticate/unknown_of_100", |b| {
        b.iter(|| callers.authenticate(black_box(&unknown)).is_err())
    });
    g.bench_function("authorize/restricted_caller", |b| {
        b.iter(|| caller.authorize(black_box(reset)).is_ok())
    });
    g.finish();
}

fn forwarding(c: &mut Criterion) {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v2/api/dialing-queues/current")
        .header("host", "127.0.0.1:8080")
        .header(AUTHORIZATION, "Bearer perf-token-057")
        .header(CONTENT_TYPE, "application/json")
        .header("content-length", RESET_BODY.len())
        .header("accept", "*/*")
        .header("user-agent", "crm-sync/1.4")
        .body(())
        .expect("a valid request");
    let (parts, ()) = request.into_parts();
    let base = "http://127.0.0.1:9000/"
        .parse::<http::Uri>()
        .expect("a valid URI")
        .into_parts();
    let key = Secret::new("ak_perf_0123456789abcdef0123456789abcdef");
    let request_id = HeaderValue::from_static("req_3kTq9xZp2LmA");
    let forward = allo_gateway::config::ForwardHeaders::default();
    assert!(rewrite_request(&parts, &base, &key, &request_id, RESET_BODY.len(), &forward).is_ok());

    let mut g = c.benchmark_group("forward");
    g.bench_function("rewrite_request/post", |b| {
        b.iter(|| rewrite_request(black_box(&parts), &base, &key, &request_id, RESET_BODY.len(), &forward))
    });
    g.finish();
}

fn metrics(c: &mut Criterion) {
    let metrics = Metrics::new();
    let (caller, team, route): (std::sync::Arc<str>, std::sync::Arc<str>, std::sync::Arc<str>) =
        ("crm-sync".into(), "sales".into(), "dialingQueues.resetCurrent".into());
    let log = AccessLog {
        request_id: "req_3kTq9xZp2LmA",
        caller: Some(&caller),
        team: Some(&team),
        route: Some(&route),
        upstream_status: Some(200),
        upstream_duration: Some(Duration::from_micros(180)),
        ..AccessLog::default()
    };
    let mut g = c.benchmark_group("metrics");
    g.bench_function("record/ok", |b| {
        b.iter(|| metrics.record(black_box(&log), 200, None, Duration::from_micros(250)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = validation, route_matching, authentication, forwarding, metrics
}
criterion_main!(benches);
