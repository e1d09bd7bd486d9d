//! The two upstream request encoders on the same caller requests: the HTTP/1.1 head
//! (`http1::encode_request`, as the client calls it) and the request the HTTP/2 path and the
//! sandbox get (`upstream::rewrite_request`). The method, the target and the header multiset
//! must be the same, apart from what the protocols themselves put elsewhere: HTTP/1.1 names the
//! upstream in a `host` field where HTTP/2 has it in the URI (`:authority`), and the path and
//! query are the request line's target in one and the URI's in the other. (Connection-specific
//! fields, `connection`, `keep-alive`, `transfer-encoding`..., are in neither: both go through
//! the same forwarding filter, which this checks.)
#![no_main]

use allo_gateway::config::ForwardHeaders;
use allo_gateway::secret::Secret;
use allo_gateway::upstream::fuzz_logic::both_encodings;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 18] = [
    "content-type",
    "authorization",
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
    "expect",
    "x-request-id",
    "cookie",
    "x-forwarded-for",
    "x_underscored",
    "proxy-connection",
    "x-api-key",
    "accept",
    "x-hop",
];

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
];

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let method = METHODS[u.choose_index(METHODS.len())?].clone();
    let target: &str = u.arbitrary()?;
    let mut request = Request::builder().method(method);
    request = request.uri(if target.is_empty() { "/" } else { target });
    for _ in 0..u.int_in_range(0..=8)? {
        let name = match u.int_in_range(0..=NAMES.len())? {
            i if i < NAMES.len() => HeaderName::from_static(NAMES[i]),
            _ => match HeaderName::from_bytes(u.arbitrary::<&[u8]>()?) {
                Ok(name) => name,
                Err(_) => continue,
            },
        };
        let value: &[u8] = if name == "connection" && u.arbitrary()? {
            b"x-hop, keep-alive"
        } else {
            u.arbitrary()?
        };
        let Ok(value) = HeaderValue::from_bytes(value) else {
            continue;
        };
        request = request.header(name, value);
    }
    let Ok(request) = request.body(()) else {
        return Ok(());
    };
    let (parts, ()) = request.into_parts();
    let body_len = usize::from(u.arbitrary::<u8>()?) % 3 * 7;
    let host = HeaderValue::from_static("api.withallo.com");
    let rid = HeaderValue::from_static("req_0123456789ab");
    let key = Secret::new("ak_fuzz_key");
    let forward = ForwardHeaders::default();
    let Some((h1, h2)) = both_encodings(&parts, &host, &key, &rid, body_len, &forward) else {
        return Ok(());
    };

    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(&h1) {
        Ok(httparse::Status::Complete(len)) => assert_eq!(len, h1.len(), "bytes after the head"),
        other => panic!("the HTTP/1.1 head does not parse: {other:?}"),
    }
    assert_eq!(parsed.method, Some(h2.method().as_str()));
    let h2_target = h2.uri().path_and_query().map_or("/", |pq| pq.as_str());
    assert_eq!(parsed.path, Some(h2_target), "the targets differ");
    assert_eq!(h2.uri().authority().map(|a| a.as_str()), Some("api.withallo.com"));
    let mut ours: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|f| (f.name.to_ascii_lowercase(), f.value.to_vec()))
        .collect();
    let hosts: Vec<_> = ours.iter().filter(|(n, _)| n == "host").collect();
    assert_eq!(hosts.len(), 1, "one host");
    assert_eq!(hosts[0].1, b"api.withallo.com");
    ours.retain(|(n, _)| n != "host");
    // A value's surrounding whitespace is not part of it on the HTTP/1.1 wire.
    let mut theirs: Vec<(String, Vec<u8>)> = h2
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().trim_ascii().to_vec()))
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "the two protocols would send other headers");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
