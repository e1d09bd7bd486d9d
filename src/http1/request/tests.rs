use super::*;

const LIMITS: HeadLimits = HeadLimits {
    max_bytes: 1024,
    max_fields: 8,
};

fn parse_all(wire: &str) -> Result<Option<RequestHead>, FramingError> {
    parse_request_head(&mut BytesMut::from(wire), LIMITS)
}

#[test]
fn a_head_becomes_parts_and_leaves_the_body_in_the_buffer() {
    let mut buf = BytesMut::from(
        "POST /v2/api/x?a=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nX-Two: a\r\nx-two: b\r\n\r\n{}",
    );
    let head = parse_request_head(&mut buf, LIMITS).unwrap().unwrap();
    assert_eq!(head.parts.method, Method::POST);
    assert_eq!(head.parts.uri.path(), "/v2/api/x");
    assert_eq!(head.parts.uri.query(), Some("a=1"));
    assert_eq!(head.parts.version, Version::HTTP_11);
    assert_eq!(head.parts.headers.get_all("x-two").iter().count(), 2);
    assert_eq!(head.body, Decoder::Length(2));
    assert!(head.keep_alive && !head.expect_continue);
    assert_eq!(&buf[..], b"{}");
}

#[test]
fn the_listener_frames_a_body_as_request_body_does_on_the_same_fields() {
    use super::super::framing::request_body;
    use http::HeaderMap;
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("Content-Length", "42")],
        &[("content-length", " 7 "), ("CONTENT-LENGTH", "7")],
        &[("content-length", "7"), ("content-length", "8")],
        &[("content-length", "7,7")],
        &[("content-length", "+3")],
        &[("content-length", "99999999999999999999")],
        &[("Transfer-Encoding", "Chunked")],
        &[("transfer-encoding", "gzip")],
        &[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")],
        &[("transfer-encoding", "chunked"), ("content-length", "3")],
        &[("content-length", "3"), ("transfer-encoding", "chunked")],
        &[("x-content-length", "3"), ("transfer-encodings", "chunked")],
    ];
    for fields in cases {
        for version in ["1.1", "1.0"] {
            let mut wire = format!("POST /v2/api/x HTTP/{version}\r\nHost: gw\r\n");
            let mut headers = HeaderMap::new();
            for (name, value) in *fields {
                wire.push_str(&format!("{name}: {value}\r\n"));
                headers.append(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value.trim()).unwrap(),
                );
            }
            wire.push_str("\r\n");
            let version = if version == "1.0" {
                Version::HTTP_10
            } else {
                Version::HTTP_11
            };
            let listener = parse_all(&wire).map(|head| head.map(|head| head.body));
            assert_eq!(
                listener,
                request_body(&headers, version).map(Some),
                "{fields:?} over {version:?}"
            );
        }
    }
}

#[test]
fn a_partial_head_waits_and_leaves_the_buffer_alone() {
    let mut buf = BytesMut::from("GET /v2/api/users HTTP/1.1\r\nHost: g");
    assert!(parse_request_head(&mut buf, LIMITS).unwrap().is_none());
    assert_eq!(buf.len(), 35);
}

#[test]
fn the_connection_header_and_version_decide_keep_alive() {
    let keep = |wire: &str| parse_all(wire).unwrap().unwrap().keep_alive;
    assert!(keep("GET / HTTP/1.1\r\nHost: gw\r\n\r\n"));
    assert!(!keep("GET / HTTP/1.1\r\nHost: gw\r\nConnection: Close\r\n\r\n"));
    assert!(!keep("GET / HTTP/1.1\r\nHost: gw\r\nConnection: te, close\r\n\r\n"));
    assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
    assert!(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    let head = parse_all("POST / HTTP/1.1\r\nHost: gw\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n").unwrap();
    assert!(head.unwrap().expect_continue);
}

#[test]
fn heads_over_the_bounds_and_broken_heads_are_refused() {
    let long = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(1100));
    assert_eq!(parse_all(&long).err(), Some(FramingError::HeadTooLarge { limit: 1024 }));
    let unfinished = format!("GET / HTTP/1.1\r\nX-Pad: {}", "a".repeat(1100));
    assert_eq!(
        parse_all(&unfinished).err(),
        Some(FramingError::HeadTooLarge { limit: 1024 })
    );
    let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(9));
    assert_eq!(parse_all(&many).err(), Some(FramingError::TooManyFields { limit: 8 }));
    assert!(matches!(
        parse_all("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
        Err(FramingError::MalformedHead(_))
    ));
    assert!(matches!(
        parse_all("GET / HTTP/2.0\r\n\r\n"),
        Err(FramingError::MalformedHead(_))
    ));
    assert_eq!(
        parse_all("POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: x\r\n\r\n").err(),
        Some(FramingError::InvalidLength)
    );
}

#[test]
fn an_http11_head_needs_exactly_one_host_and_an_http10_one_at_most_one() {
    assert_eq!(
        parse_all("GET /v2/api/users HTTP/1.1\r\nAccept: */*\r\n\r\n").err(),
        Some(FramingError::MissingHost)
    );
    assert_eq!(
        parse_all("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").err(),
        Some(FramingError::MultipleHost)
    );
    assert_eq!(
        parse_all("GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n").err(),
        Some(FramingError::MultipleHost)
    );
    assert!(parse_all("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
    // An empty Host is one Host (RFC 9112 §3.2 allows it when the target has no authority).
    assert!(parse_all("GET / HTTP/1.1\r\nHost:\r\n\r\n").unwrap().is_some());
}

#[test]
fn a_head_with_more_fields_than_the_stack_holds_is_parsed_whole_up_to_the_bound() {
    let limits = HeadLimits {
        max_bytes: 64 * 1024,
        max_fields: STACK_FIELDS * 3,
    };
    let head = |fields: usize| {
        let lines: String = (0..fields).map(|i| format!("X-F{i}: v{i}\r\n")).collect();
        BytesMut::from(format!("GET /a HTTP/1.1\r\nHost: gw\r\n{lines}\r\nrest").as_str())
    };
    // Host and the others: over the stack's room, within the bound.
    let mut buf = head(STACK_FIELDS * 2);
    let parsed = parse_request_head(&mut buf, limits).unwrap().unwrap();
    assert_eq!(parsed.parts.headers.len(), STACK_FIELDS * 2 + 1);
    let last = format!("x-f{}", STACK_FIELDS * 2 - 1);
    assert_eq!(
        parsed.parts.headers[last.as_str()],
        format!("v{}", STACK_FIELDS * 2 - 1)
    );
    assert_eq!(&buf[..], b"rest");
    // One over the bound: refused with the bound, and the buffer left as it was.
    let mut buf = head(STACK_FIELDS * 3);
    let before = buf.clone();
    assert_eq!(
        parse_request_head(&mut buf, limits).err(),
        Some(FramingError::TooManyFields {
            limit: STACK_FIELDS * 3
        })
    );
    assert_eq!(buf, before);
    // Not all of it here yet: more bytes are asked for, whichever room parsed it.
    let mut buf = head(STACK_FIELDS * 2);
    buf.truncate(buf.len() - 10);
    assert!(parse_request_head(&mut buf, limits).unwrap().is_none());
}
