use super::*;

/// Decodes all of `wire`: the body, or the first error.
fn decode_all(wire: &[u8]) -> Result<Vec<u8>, BodyError> {
    let mut decoder = Decoder::Chunked(Chunk::Size);
    let mut buf = BytesMut::from(wire);
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut buf)? {
            Decoded::Data(data) => body.extend_from_slice(&data),
            Decoded::End => return Ok(body),
            Decoded::NeedMore => return Err(BodyError::Truncated),
        }
    }
}

#[test]
fn what_the_encoder_writes_the_decoder_reads() {
    let mut wire = Vec::new();
    for piece in [&b"hello"[..], &[b'x'; 300][..]] {
        put_chunk_size(&mut wire, piece.len());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(LAST_CHUNK);
    let mut expected = b"hello".to_vec();
    expected.extend_from_slice(&[b'x'; 300]);
    assert_eq!(decode_all(&wire), Ok(expected));
}

#[test]
fn chunk_lines_with_extensions_and_trailers_decode() {
    let wire = b"5;name=value;other\r\nhello\r\n1 \t;x\r\n!\r\n0\r\nX-T: 1\r\n\r\n";
    assert_eq!(decode_all(wire), Ok(b"hello!".to_vec()));
}

#[test]
fn a_bare_lf_or_cr_anywhere_in_a_chunk_line_is_refused() {
    for wire in [
        &b"5;ext\nfoo\r\nhello\r\n0\r\n\r\n"[..],
        b"5\nhello\r\n0\r\n\r\n",
        b"5;ext\rfoo\r\nhello\r\n0\r\n\r\n",
        b"5\r\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0;a\nb\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX-T: 1\nX-U: 2\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX-T: 1\rX-U: 2\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\n",
    ] {
        assert!(
            matches!(decode_all(wire), Err(BodyError::Chunked(_))),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn only_whitespace_and_extensions_follow_a_chunk_size() {
    assert_eq!(decode_all(b"2 \t \r\n{}\r\n0\r\n\r\n"), Ok(b"{}".to_vec()));
    assert_eq!(decode_all(b"2 ;a=b\r\n{}\r\n0 \r\n\r\n"), Ok(b"{}".to_vec()));
    for wire in [
        &b"2 x\r\n{}\r\n0\r\n\r\n"[..],
        b"2 2\r\n{}\r\n0\r\n\r\n",
        b"2x\r\n{}\r\n0\r\n\r\n",
    ] {
        assert!(
            matches!(decode_all(wire), Err(BodyError::Chunked(_))),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn trailers_must_be_field_lines_and_few() {
    assert_eq!(
        decode_all(b"2\r\n{}\r\n0\r\nX-T: 1\r\nx-u:\t\xff v\r\n\r\n"),
        Ok(b"{}".to_vec())
    );
    for trailer in [
        &b"X-T\xef: 1"[..],
        b"X-T : 1",
        b"no colon",
        b": 1",
        b" X-T: 1",
        b"X-T: \x7f",
    ] {
        let mut wire = b"2\r\n{}\r\n0\r\n".to_vec();
        wire.extend_from_slice(trailer);
        wire.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            decode_all(&wire),
            Err(BodyError::Chunked("malformed trailer field")),
            "{:?}",
            String::from_utf8_lossy(trailer)
        );
    }
    let many = |n: usize| {
        let mut wire = b"2\r\n{}\r\n0\r\n".to_vec();
        wire.extend_from_slice(&b"a:\r\n".repeat(n));
        wire.extend_from_slice(b"\r\n");
        decode_all(&wire)
    };
    assert_eq!(many(100), Ok(b"{}".to_vec()));
    assert_eq!(many(101), Err(BodyError::Chunked("trailer section too long")));
}

#[test]
fn a_bare_lf_is_refused_before_its_line_is_complete() {
    let mut decoder = Decoder::Chunked(Chunk::Size);
    let mut buf = BytesMut::from(&b"5;ext\nmore to come"[..]);
    assert!(decoder.decode(&mut buf).is_err());
    // A CR at the end of what has arrived may yet be followed by its LF.
    let mut decoder = Decoder::Chunked(Chunk::Size);
    let mut buf = BytesMut::from(&b"5;ext\r"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::NeedMore));
    buf.extend_from_slice(b"\nhello");
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Decoded::Data(Bytes::from_static(b"hello")))
    );
}

/// `n` one-byte chunks of `{}` padded with spaces, each size line carrying `ext` bytes of
/// chunk extension (`;` included).
fn with_extensions(n: usize, ext: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    let body = format!("{}{{}}", " ".repeat(n - 2));
    for byte in body.bytes() {
        wire.extend_from_slice(format!("1;{}\r\n", "e".repeat(ext - 1)).as_bytes());
        wire.push(byte);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(LAST_CHUNK);
    wire
}

#[test]
fn chunk_extensions_are_bounded_over_the_whole_body() {
    // Each line is well under MAX_CHUNK_LINE; together they pass the body's bound.
    let under = with_extensions(5, 3000);
    assert_eq!(decode_all(&under).map(|b| b.len()), Ok(5));
    let over = with_extensions(6, 3000);
    assert_eq!(decode_all(&over), Err(BodyError::Chunked("chunk extensions too long")));
}
