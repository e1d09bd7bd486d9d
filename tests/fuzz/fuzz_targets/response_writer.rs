//! The listener's response writer (`server/h1/write.rs` with `http1::encode_response_head`)
//! against httparse: an answer built from arbitrary bytes (status, the gateway's fields, the
//! upstream's wire lines, the request id, a body whole or in frames of unknown length) is
//! written for a GET or HEAD from an HTTP/1.1 or 1.0 caller, and the bytes read back by
//! httparse must be that answer: the status; the same fields (as a multiset, values without the
//! whitespace around them, which the wire does not keep) apart from those the framing owns
//! (`content-length`, `transfer-encoding`, `connection`, `keep-alive`) and the `date` the
//! writer adds; and the body, framed as RFC 9112 §6.3 reads it.
#![no_main]

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use allo_gateway::answer::{Answer, WireFields};
use allo_gateway::body::{full, Body, BoxError};
use allo_gateway::server::h1_fuzz_logic::write_answer;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 10] = [
    "content-type",
    "x-ratelimit-remaining",
    "set-cookie",
    "date",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "x-request-id",
    "etag",
];

/// Framing fields, set by the writer from the framing alone.
const FRAMING: [&str; 4] = ["content-length", "transfer-encoding", "connection", "keep-alive"];

struct Frames(VecDeque<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.get_mut().0.pop_front().map(|d| Ok(http_body::Frame::data(d))))
    }
}

fn field(u: &mut Unstructured<'_>) -> Result<Option<(HeaderName, HeaderValue)>> {
    let name = match u.int_in_range(0..=NAMES.len())? {
        i if i < NAMES.len() => HeaderName::from_static(NAMES[i]),
        _ => match HeaderName::from_bytes(u.arbitrary::<&[u8]>()?) {
            Ok(name) => name,
            Err(_) => return Ok(None),
        },
    };
    Ok(HeaderValue::from_bytes(u.arbitrary::<&[u8]>()?).ok().map(|v| (name, v)))
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let status = StatusCode::from_u16(u.int_in_range(100..=599)?).expect("in range");
    let method = if u.arbitrary()? { Method::HEAD } else { Method::GET };
    let version = if u.arbitrary()? {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let keep_alive: bool = u.arbitrary()?;
    let pieces: Vec<Bytes> = (0..u.int_in_range(0..=4)?)
        .map(|_| u.arbitrary::<Vec<u8>>().map(Bytes::from))
        .collect::<Result<_>>()?;
    let body: Vec<u8> = pieces.concat();
    let streamed: bool = u.arbitrary()?;

    let mut response = Response::new(if streamed {
        Body::streamed(Frames(pieces.into()))
    } else {
        full(body.clone())
    });
    *response.status_mut() = status;
    let mut expected: Vec<(String, Vec<u8>)> = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let Some((name, value)) = field(u)? else { continue };
        if name == "content-length" {
            // The length the answer declares: its body's, so that the body can be compared.
            let value = HeaderValue::from(body.len());
            response.headers_mut().append(name, value);
            continue;
        }
        if !FRAMING.contains(&name.as_str()) {
            expected.push((name.as_str().to_owned(), value.as_bytes().trim_ascii().to_vec()));
        }
        response.headers_mut().append(name, value);
    }
    let mut answer = Answer::from(response);
    if u.arbitrary()? {
        // The upstream's lines, as the response parser keeps them: no framing fields.
        let mut lines = Vec::new();
        let mut has_date = false;
        for _ in 0..u.int_in_range(0..=4)? {
            let Some((name, value)) = field(u)? else { continue };
            if FRAMING.contains(&name.as_str()) || name == "x-request-id" {
                continue;
            }
            has_date |= name == "date";
            lines.extend_from_slice(name.as_str().as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(value.as_bytes());
            lines.extend_from_slice(b"\r\n");
            expected.push((name.as_str().to_owned(), value.as_bytes().trim_ascii().to_vec()));
        }
        let length = (!streamed || u.arbitrary()?).then_some(body.len() as u64);
        answer.upstream = Some(WireFields::new(Bytes::from(lines), length, has_date));
    }
    if u.arbitrary()? {
        // The answer's only request id from then on.
        let id = HeaderValue::from_static("req_0123456789ab");
        expected.retain(|(n, _)| n != "x-request-id");
        expected.push(("x-request-id".to_owned(), id.as_bytes().to_vec()));
        answer.set_request_id(id);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let Ok((wire, reusable)) = runtime.block_on(write_answer(answer, &method, version, keep_alive)) else {
        return Ok(());
    };

    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut fields);
    let len = match parsed.parse(&wire) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!(
            "the head written does not parse: {other:?}\n{}",
            String::from_utf8_lossy(&wire)
        ),
    };
    assert_eq!(parsed.code, Some(status.as_u16()));
    let mut got: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|f| (f.name.to_ascii_lowercase(), f.value.to_vec()))
        .filter(|(n, _)| !FRAMING.contains(&n.as_str()))
        .collect();
    if !expected.iter().any(|(n, _)| n == "date") {
        let dates = got.iter().filter(|(n, _)| n == "date").count();
        assert_eq!(dates, 1, "one date added");
        got.retain(|(n, _)| n != "date");
    }
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "the fields written are not the answer's");

    let value = |name: &str| {
        parsed
            .headers
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
            .collect::<Vec<_>>()
    };
    let says_close = value("connection").iter().any(|v| v.eq_ignore_ascii_case(b"close"));
    assert!(!(reusable && says_close), "a reusable connection said close");
    let rest = &wire[len..];
    let no_body = method == Method::HEAD || status.is_informational() || status == 204 || status == 304;
    let chunked = value("transfer-encoding");
    let lengths = value("content-length");
    assert!(
        lengths.len() <= 1 && chunked.len() <= 1,
        "one framing field each at most"
    );
    assert!(lengths.is_empty() || chunked.is_empty(), "both a length and chunked");
    let sent = if no_body {
        assert!(chunked.is_empty());
        rest.to_vec()
    } else if let Some(te) = chunked.first() {
        assert_eq!(*te, b"chunked");
        dechunk(rest)
    } else if let Some(n) = lengths.first() {
        let n: usize = std::str::from_utf8(n).expect("digits").parse().expect("a length");
        assert_eq!(n, body.len(), "the length is not the body's");
        rest.to_vec()
    } else {
        assert!(!reusable, "a body until close on a reusable connection");
        rest.to_vec()
    };
    if no_body {
        assert!(sent.is_empty(), "a body after a head that has none");
    } else {
        assert_eq!(sent, body, "the body written is not the answer's");
    }
    Ok(())
}

/// A chunked body, which must be whole: its data.
fn dechunk(mut wire: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let (at, size) = match httparse::parse_chunk_size(wire) {
            Ok(httparse::Status::Complete(found)) => found,
            other => panic!("a broken chunk line: {other:?}"),
        };
        let size = usize::try_from(size).expect("a small chunk");
        wire = &wire[at..];
        if size == 0 {
            assert_eq!(wire, b"\r\n", "the chunked body does not end with its last chunk");
            return body;
        }
        body.extend_from_slice(&wire[..size]);
        assert_eq!(&wire[size..size + 2], b"\r\n");
        wire = &wire[size + 2..];
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
