use super::*;
use crate::http1::{Decoded, MAX_CHUNK_LINE};

/// The fields of one connection (RFC 9110 §7.6.1), as the forwarding policy names them.
fn hop_by_hop(name: &[u8]) -> bool {
    [
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ]
    .iter()
    .any(|hop| name.eq_ignore_ascii_case(hop.as_bytes()))
}

fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<ResponseHead>, WireError> {
    parse_response_head(buf, method, hop_by_hop)
}

fn head_of(wire: &str, method: Method) -> Result<Option<ResponseHead>, WireError> {
    let mut buf = BytesMut::from(wire);
    parse_head(&mut buf, &method)
}

fn body_of(decoder: Decoder, wire: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut decoder = decoder;
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    loop {
        match decoder.decode(&mut buf)? {
            Decoded::Data(d) => out.extend_from_slice(&d),
            Decoded::End => return Ok(out),
            Decoded::NeedMore => return Err(WireError::Body(BodyError::Truncated)),
        }
    }
}

#[test]
fn response_head_is_parsed_and_hop_by_hop_fields_dropped() {
    let head = head_of(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: x-secret\r\nX-Secret: 1\r\n\
         Keep-Alive: timeout=5\r\nX-RateLimit-Remaining: 3\r\nContent-Length: 2\r\n\r\n{}",
        Method::GET,
    )
    .unwrap()
    .unwrap();
    assert_eq!(head.status, StatusCode::OK);
    // The end-to-end fields as they came; the length kept apart, for the listener to frame.
    assert_eq!(
        head.fields.as_bytes(),
        b"Content-Type: application/json\r\nX-RateLimit-Remaining: 3\r\n"
    );
    assert_eq!(head.fields.length, Some(2));
    assert!(!head.fields.has_date);
    // The small body came with the head: taken with it.
    assert_eq!(head.body, Decoder::Done);
    assert_eq!(head.whole_body.as_deref(), Some(&b"{}"[..]));
    assert!(head.reusable);
}

#[test]
fn the_request_id_and_a_date_are_noted_not_duplicated() {
    let head = head_of(
        "HTTP/1.1 200 OK\r\nX-Request-Id: theirs\r\ndate: Tue, 01 Dec 2026 10:00:00 GMT\r\nConnection: close\r\n\r\n",
        Method::GET,
    )
    .unwrap()
    .unwrap();
    assert_eq!(head.fields.as_bytes(), b"date: Tue, 01 Dec 2026 10:00:00 GMT\r\n");
    assert!(head.fields.has_date);
    assert!(!head.reusable);
}

#[test]
fn a_body_not_all_in_the_buffer_is_left_to_the_decoder() {
    let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}");
    let head = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
    assert_eq!(head.body, Decoder::Length(5));
    assert!(head.whole_body.is_none());
    assert_eq!(&buf[..], b"{}");
}

#[test]
fn partial_head_asks_for_more_and_leaves_the_buffer() {
    let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Le");
    assert!(parse_head(&mut buf, &Method::GET).unwrap().is_none());
    assert_eq!(buf.len(), 27);
}

#[test]
fn interim_heads_are_skipped() {
    let mut buf = BytesMut::from(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    );
    let head = parse_head(&mut buf, &Method::POST).unwrap().unwrap();
    assert_eq!(head.status, StatusCode::NO_CONTENT);
    assert!(head.body.is_done());
    assert!(buf.is_empty());
}

#[test]
fn framing_follows_rfc_9112() {
    let cases = [
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::GET,
            Decoder::Chunked(Chunk::Size),
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Method::GET,
            Decoder::UntilClose,
            false,
        ),
        ("HTTP/1.1 200 OK\r\n\r\n", Method::GET, Decoder::UntilClose, false),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Method::HEAD,
            Decoder::Length(0),
            true,
        ),
        (
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            Method::GET,
            Decoder::Length(0),
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
            Method::GET,
            Decoder::Length(5),
            false,
        ),
        (
            "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
            Method::GET,
            Decoder::Length(5),
            false,
        ),
        (
            "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
            Method::GET,
            Decoder::Length(5),
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n",
            Method::GET,
            Decoder::Length(7),
            true,
        ),
        // Both: chunked wins, the length is dropped and the connection not reused.
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::GET,
            Decoder::Chunked(Chunk::Size),
            false,
        ),
    ];
    for (wire, method, body, reusable) in cases {
        let head = head_of(wire, method).unwrap().unwrap();
        assert_eq!(head.body, body, "{wire:?}");
        assert_eq!(head.reusable, reusable, "{wire:?}");
        if matches!(body, Decoder::Chunked(_)) {
            assert_eq!(head.fields.length, None);
            assert!(head.fields.as_bytes().is_empty(), "{wire:?}");
        }
    }
}

#[test]
fn bad_heads_are_errors() {
    for wire in [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "garbage\r\n\r\n",
    ] {
        assert!(head_of(wire, Method::GET).is_err(), "{wire:?}");
    }
    let huge = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n", "a".repeat(MAX_RESPONSE_HEAD));
    assert!(matches!(head_of(&huge, Method::GET), Err(WireError::HeadTooLarge)));
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    assert!(head_of(&format!("HTTP/1.1 200 OK\r\n{many}\r\n"), Method::GET).is_err());
}

#[test]
fn chunked_body_decodes_whatever_the_split() {
    let wire = b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
    assert_eq!(
        body_of(Decoder::Chunked(Chunk::Size), wire).unwrap(),
        b"hello 0123456789"
    );
    // Fed one byte at a time, as a slow upstream would.
    let mut decoder = Decoder::Chunked(Chunk::Size);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut ended = false;
    for &b in wire.iter() {
        buf.extend_from_slice(&[b]);
        loop {
            match decoder.decode(&mut buf).unwrap() {
                Decoded::Data(d) => out.extend_from_slice(&d),
                Decoded::NeedMore => break,
                Decoded::End => {
                    ended = true;
                    break;
                }
            }
        }
    }
    assert!(ended && decoder.is_done());
    assert_eq!(out, b"hello 0123456789");
}

#[test]
fn malformed_chunks_are_errors() {
    for wire in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"1234567890abcdef0\r\n",
        b"5x\r\nhello\r\n0\r\n\r\n",
    ] {
        assert!(body_of(Decoder::Chunked(Chunk::Size), wire).is_err(), "{wire:?}");
    }
    let long_line = vec![b'1'; MAX_CHUNK_LINE + 1];
    assert!(body_of(Decoder::Chunked(Chunk::Size), &long_line).is_err());
    // A bare LF or CR in a chunk line or a trailer, as hyper refuses them too.
    for wire in [
        &b"5;ext\nfoo\r\nhello\r\n0\r\n\r\n"[..],
        b"5;ext\rfoo\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX-T: 1\nX-U: 2\r\n\r\n",
    ] {
        assert!(
            matches!(
                body_of(Decoder::Chunked(Chunk::Size), wire),
                Err(WireError::Body(BodyError::Chunked(_)))
            ),
            "{wire:?}"
        );
    }
}

#[test]
fn length_body_stops_at_its_length_and_close_ends_only_until_close_bodies() {
    let mut decoder = Decoder::Length(3);
    let mut buf = BytesMut::from(&b"abcdef"[..]);
    assert_eq!(
        decoder.decode(&mut buf).unwrap(),
        Decoded::Data(Bytes::from_static(b"abc"))
    );
    assert!(decoder.is_done());
    assert_eq!(&buf[..], b"def");

    assert!(matches!(Decoder::Length(3).closed(), Err(BodyError::Truncated)));
    assert!(matches!(
        Decoder::Chunked(Chunk::Size).closed(),
        Err(BodyError::Truncated)
    ));
    assert_eq!(Decoder::UntilClose.closed().unwrap(), Decoded::End);
}

#[test]
fn a_head_with_more_fields_than_the_stack_holds_is_parsed_whole_up_to_the_bound() {
    let lines = |fields: usize| (0..fields).map(|i| format!("X-F{i}: v{i}\r\n")).collect::<String>();
    let head = |fields: usize| format!("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n{}\r\n", lines(fields));
    // With Content-Length: over the stack's room, within the bound.
    const _: () = assert!(STACK_HEADERS < MAX_HEADERS - 1);
    let parsed = head_of(&head(MAX_HEADERS - 1), Method::GET).unwrap().unwrap();
    // Every field but the framing goes on, the last one (the 128th) too, in order.
    assert_eq!(parsed.fields.as_bytes(), lines(MAX_HEADERS - 1).as_bytes());
    assert!(matches!(
        head_of(&head(MAX_HEADERS), Method::GET),
        Err(WireError::Parse(httparse::Error::TooManyHeaders))
    ));
}

#[test]
fn the_fields_kept_are_exactly_the_end_to_end_ones_wherever_the_dropped_ones_are() {
    let wire = "HTTP/1.1 200 OK\r\nConnection: x-hop\r\nA: 1\r\nKeep-Alive: timeout=5\r\nB: 2\r\n\
                X-Hop: secret\r\nContent-Length: 0\r\nC: 3\r\nX-Request-Id: up\r\n\r\n";
    let head = head_of(wire, Method::GET).unwrap().unwrap();
    assert_eq!(head.fields.as_bytes(), b"A: 1\r\nB: 2\r\nC: 3\r\n");
}
