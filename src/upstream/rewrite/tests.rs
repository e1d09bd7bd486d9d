use super::*;

#[test]
fn a_wire_name_is_hop_by_hop_exactly_when_its_header_name_is() {
    for name in &HOP_BY_HOP {
        let lower = name.as_str();
        assert!(is_hop_by_hop_name(lower.as_bytes()), "{lower}");
        assert!(is_hop_by_hop_name(lower.to_ascii_uppercase().as_bytes()), "{lower}");
    }
    for other in [
        "host",
        "content-length",
        "x-upgrade",
        "tf",
        "trailers",
        "keep-alive2",
        "date",
        "",
    ] {
        let header: Option<HeaderName> = other.parse().ok();
        assert_eq!(
            is_hop_by_hop_name(other.as_bytes()),
            header.as_ref().is_some_and(is_hop_by_hop),
            "{other}"
        );
        assert!(!is_hop_by_hop_name(other.as_bytes()), "{other}");
    }
}

fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = Request::builder().method("POST").uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn base() -> http::uri::Parts {
    "https://api.withallo.com/".parse::<Uri>().unwrap().into_parts()
}

#[test]
fn rewrites_authority_auth_and_hop_by_hop() {
    let p = parts(
        "http://evil.example/v2/api/users?x=%2F&y",
        &[
            ("authorization", "Bearer caller-token"),
            ("host", "evil.example"),
            ("connection", "x-secret-hop, keep-alive"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("x-keep", "yes"),
            ("transfer_encoding", "chunked"),
            ("x_request_id", "req_smuggled0001"),
            ("x_foo", "1"),
            ("cookie", "session=internal"),
            ("X-Forwarded-For", "10.0.0.7"),
            ("x-forwarded-host", "internal.svc"),
            ("forwarded", "for=10.0.0.7"),
            ("x-real-ip", "10.0.0.7"),
            ("x-api-key", "another-service-key"),
            ("api-key", "another-service-key"),
        ],
    );
    let rid = HeaderValue::from_static("req_abcdefabcdef");
    let forward = ForwardHeaders::default();
    let r = rewrite_request(&p, &base(), &Secret::new("ak_live_k"), &rid, 3, &forward).unwrap();
    assert_eq!(r.uri().to_string(), "https://api.withallo.com/v2/api/users?x=%2F&y");
    let auth: Vec<_> = r.headers().get_all("authorization").iter().collect();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0], "Api-Key ak_live_k");
    assert!(auth[0].is_sensitive());
    for gone in [
        "host",
        "connection",
        "x-secret-hop",
        "te",
        "transfer-encoding",
        "transfer_encoding",
        "x_request_id",
        "x_foo",
        "cookie",
        "x-forwarded-for",
        "x-forwarded-host",
        "forwarded",
        "x-real-ip",
        "x-api-key",
        "api-key",
    ] {
        assert!(r.headers().get(gone).is_none(), "{gone}");
    }
    assert_eq!(r.headers()["x-keep"], "yes");
    assert_eq!(r.headers()["content-length"], "3");
    assert_eq!(r.headers()["x-request-id"], "req_abcdefabcdef");
}

#[test]
fn forward_headers_lets_through_what_it_names_and_nothing_else() {
    let p = parts(
        "/v2/api/users",
        &[
            ("X-Forwarded-For", "10.0.0.7"),
            ("x-forwarded-host", "internal.svc"),
            ("cookie", "a=1"),
        ],
    );
    let rid = HeaderValue::from_static("req_abcdefabcdef");
    let forward = ForwardHeaders::allowing(&["x-forwarded-for"]).unwrap();
    let r = rewrite_request(&p, &base(), &Secret::new("k"), &rid, 0, &forward).unwrap();
    assert_eq!(r.headers()["x-forwarded-for"], "10.0.0.7");
    assert!(r.headers().get("x-forwarded-host").is_none());
    assert!(r.headers().get("cookie").is_none());
}

#[test]
fn every_connection_field_names_hops_wherever_it_stands_and_none_without_one() {
    let forward = ForwardHeaders::default();
    let kept = |headers: &[(&str, &str)]| -> Vec<String> {
        let p = parts("/v2/api/users", headers);
        forwarded_headers(&p.headers, &forward)
            .map(|(name, _)| name.as_str().to_owned())
            .collect()
    };
    // Two `Connection` fields, the last after every other field: each names a hop.
    let with = kept(&[
        ("x-one", "1"),
        ("x-two", "2"),
        ("x-three", "3"),
        ("connection", "x-one"),
        ("x-four", "4"),
        ("Connection", "X-Three, keep-alive"),
    ]);
    assert_eq!(with, ["x-two", "x-four"]);
    // Without one, every field that is not the gateway's own goes.
    let without = kept(&[("x-one", "1"), ("x-two", "2"), ("keep-alive", "timeout=5")]);
    assert_eq!(without, ["x-one", "x-two"]);
}
