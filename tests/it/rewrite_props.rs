//! Properties of the request rewrite (`allo_gateway::upstream::rewrite_request`), whatever the
//! caller sends: the upstream authority is the configured one, the path and query pass byte
//! for byte, `Authorization` is the team key exactly once, no hop-by-hop header survives (nor
//! any header a `Connection` field names), no name with an underscore is forwarded, no
//! credential or internal routing field (`Cookie`, `X-Api-Key`, `X-Forwarded-*`...) is
//! forwarded under the default `forward_headers`, and every other end-to-end header passes
//! unchanged.

use allo_gateway::config::ForwardHeaders;
use allo_gateway::secret::Secret;
use allo_gateway::upstream::rewrite_request;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use proptest::prelude::*;

const KEY: &str = "ak_live_PROPKEY";
const REQUEST_ID: &str = "req_abcdefabcdef";

/// RFC 9110 §7.6.1 and the legacy `Proxy-Connection`.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
];

/// Headers the gateway sets itself: present with its own value whatever the caller sent.
const OWNED: [&str; 5] = ["authorization", "host", "content-length", "expect", "x-request-id"];

/// Credentials and internal routing fields, stripped by default (and `x-forwarded-*`).
const STRIPPED: [&str; 5] = ["cookie", "api-key", "x-api-key", "forwarded", "x-real-ip"];

fn stripped(name: &str) -> bool {
    STRIPPED.contains(&name) || (name.starts_with("x-forwarded-") && name.len() > "x-forwarded-".len())
}

/// Header names a caller may send: the ones with a meaning here and some of its own.
fn header_name() -> impl Strategy<Value = String> {
    let special: Vec<String> = HOP_BY_HOP
        .iter()
        .chain(OWNED.iter())
        .chain(STRIPPED.iter())
        .chain(
            [
                "http2-settings",
                "x-secret-hop",
                "x-keep",
                "x-forwarded-host",
                "x-forwarded-for",
            ]
            .iter(),
        )
        // Underscored twins of names the gateway sets or strips, never forwarded.
        .chain(["transfer_encoding", "content_length", "x_request_id", "x_keep"].iter())
        .map(|s| s.to_string())
        .collect();
    prop_oneof![
        3 => proptest::sample::select(special),
        1 => "[a-z][a-z0-9_-]{0,12}",
    ]
}

/// Mixed-case spellings, as a caller may write them in a `Connection` list.
fn spelled(name: String) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

/// A `Connection` value: a list of names and tokens with optional whitespace and empty items.
fn connection_value(opaque: bool) -> impl Strategy<Value = Vec<u8>> {
    let item = prop_oneof![
        4 => header_name().prop_flat_map(spelled),
        1 => Just("close".to_string()),
        1 => Just("keep-alive".to_string()),
        1 => Just(String::new()),
    ];
    let tail = if opaque {
        // obs-text (bytes 0x80..=0xFF) is allowed in field values and hyper accepts it.
        proptest::collection::vec(0x80u8..=0xff, 0..3).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        proptest::collection::vec((item, "[ \t]{0,2}", "[ \t]{0,2}"), 1..5),
        tail,
    )
        .prop_map(|(items, tail)| {
            let mut value = items
                .into_iter()
                .map(|(name, before, after)| format!("{before}{name}{after}"))
                .collect::<Vec<_>>()
                .join(",")
                .into_bytes();
            if !tail.is_empty() {
                value.extend_from_slice(b", ");
                value.extend(tail);
            }
            value
        })
}

/// Any legal field value: visible ASCII, spaces, tabs and obs-text.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![8 => 0x21u8..=0x7e, 1 => Just(b' '), 1 => 0x80u8..=0xff],
        0..24,
    )
}

fn headers(opaque_connection: bool) -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let field = prop_oneof![
        3 => (header_name(), field_value()),
        1 => (Just("connection".to_string()), connection_value(opaque_connection)),
    ];
    proptest::collection::vec(field, 0..12)
}

/// Request targets in every form a client may send: origin-form with odd paths and queries,
/// absolute-form naming another host, and the asterisk.
fn target() -> impl Strategy<Value = String> {
    let path = "(/[a-zA-Z0-9._~!$&'()*+,;=:@%-]{0,10}){1,4}/?";
    let query = proptest::option::of("[a-zA-Z0-9._~!$&'()*+,;=:@%/?-]{0,16}");
    let origin = (path, query.clone()).prop_map(|(p, q)| match q {
        Some(q) => format!("{p}?{q}"),
        None => p,
    });
    let absolute = (
        prop_oneof![Just("http"), Just("https")],
        "[a-z]{1,8}(\\.[a-z]{1,5}){0,2}(:[0-9]{1,5})?",
        origin.clone(),
    )
        .prop_map(|(scheme, host, rest)| format!("{scheme}://{host}{rest}"));
    prop_oneof![
        6 => origin,
        3 => absolute,
        1 => Just("//evil.example/x".to_string()),
        1 => Just("*".to_string()),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        proptest::sample::select(vec![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ]),
        "[A-Z]{1,10}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

fn base() -> http::uri::Parts {
    "https://api.withallo.com/".parse::<Uri>().unwrap().into_parts()
}

/// The caller's request, or None when `http` itself would not let it be built (hyper would
/// have refused it on the wire too).
fn parts(method: Method, target: &str, headers: &[(String, Vec<u8>)]) -> Option<http::request::Parts> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_bytes(value).ok()?,
        );
    }
    let mut request = Request::builder().method(method).uri(target).body(()).ok()?;
    *request.headers_mut() = map;
    Some(request.into_parts().0)
}

/// The names every `Connection` field lists, as a recipient must read them (RFC 9110 §7.6.1:
/// a comma-separated list of tokens, case-insensitive). Bytes are split on commas so that an
/// item that is not a token does not hide the ones that are.
fn named_in_connection(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter_map(|item| HeaderName::from_bytes(item.trim_ascii()).ok())
        .collect()
}

fn check(parts: &http::request::Parts, body_len: usize) -> Result<(), TestCaseError> {
    let key = Secret::new(KEY);
    let rid = HeaderValue::from_static(REQUEST_ID);
    let out = match rewrite_request(parts, &base(), &key, &rid, body_len, &ForwardHeaders::default()) {
        Ok(out) => out,
        // A target that cannot be forwarded is refused (502), never sent elsewhere.
        Err(_) => return Ok(()),
    };
    let uri = out.uri();
    prop_assert_eq!(uri.scheme_str(), Some("https"));
    prop_assert_eq!(uri.authority().map(|a| a.as_str()), Some("api.withallo.com"));
    let sent = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    prop_assert_eq!(uri.path_and_query().map(|pq| pq.as_str()), Some(sent));
    prop_assert_eq!(out.method(), parts.method.clone());

    let headers = out.headers();
    let auth: Vec<_> = headers.get_all(http::header::AUTHORIZATION).iter().collect();
    prop_assert_eq!(auth.len(), 1);
    let expected = format!("Api-Key {KEY}");
    prop_assert_eq!(auth[0].as_bytes(), expected.as_bytes());
    prop_assert!(auth[0].is_sensitive());
    prop_assert!(
        headers.get(http::header::HOST).is_none(),
        "Host comes from the authority"
    );
    prop_assert!(headers.get(http::header::EXPECT).is_none());
    let rids: Vec<_> = headers.get_all("x-request-id").iter().collect();
    prop_assert_eq!(rids, vec![&rid]);
    let lengths: Vec<_> = headers.get_all(http::header::CONTENT_LENGTH).iter().collect();
    let bodiless = matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    );
    if body_len > 0 || !bodiless {
        let expected = HeaderValue::from(body_len);
        prop_assert_eq!(lengths, vec![&expected]);
    } else {
        prop_assert!(lengths.is_empty());
    }

    for name in HOP_BY_HOP {
        prop_assert!(headers.get(name).is_none(), "hop-by-hop {} survived", name);
    }
    let named = named_in_connection(&parts.headers);
    for name in &named {
        if !OWNED.contains(&name.as_str()) {
            prop_assert!(
                headers.get(name).is_none(),
                "{} is named in Connection ({:?}) but was forwarded",
                name,
                parts
                    .headers
                    .get_all(http::header::CONNECTION)
                    .iter()
                    .collect::<Vec<_>>()
            );
        }
    }
    for name in headers.keys() {
        prop_assert!(
            !name.as_str().contains('_'),
            "{} has an underscore but was forwarded",
            name
        );
    }
    for name in headers.keys() {
        prop_assert!(
            !stripped(name.as_str()),
            "{} is stripped by default but was forwarded",
            name
        );
    }
    // Everything else passes unchanged, values in order.
    for name in parts.headers.keys() {
        let dropped = HOP_BY_HOP.contains(&name.as_str())
            || OWNED.contains(&name.as_str())
            || named.contains(name)
            || name.as_str().contains('_')
            || stripped(name.as_str());
        if !dropped {
            let before: Vec<_> = parts.headers.get_all(name).iter().collect();
            let after: Vec<_> = headers.get_all(name).iter().collect();
            prop_assert_eq!(before, after, "{} was changed", name);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_rewrite_holds_for_any_request(
        method in method(),
        target in target(),
        headers in headers(false),
        body_len in prop_oneof![Just(0usize), 1usize..100_000],
    ) {
        if let Some(parts) = parts(method, &target, &headers) {
            check(&parts, body_len)?;
        }
    }

    #[test]
    fn connection_lists_with_opaque_bytes_still_strip_what_they_name(
        method in method(),
        target in target(),
        headers in headers(true),
    ) {
        if let Some(parts) = parts(method, &target, &headers) {
            check(&parts, 0)?;
        }
    }
}

/// The smallest case the properties above found against `strip_hop_by_hop`: a `Connection`
/// value with one obs-text byte was skipped whole (`to_str` fails), so the header it named was
/// forwarded (hyper accepts obs-text in field values; reproduced end to end).
#[test]
fn a_connection_value_with_obs_text_still_strips_the_names_it_lists() {
    let parts = parts(
        Method::GET,
        "/v2/api/users",
        &[
            ("connection".into(), b"x-secret-hop, \xe9".to_vec()),
            ("x-secret-hop".into(), b"1".to_vec()),
        ],
    )
    .unwrap();
    check(&parts, 0).unwrap();
}
