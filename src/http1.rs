//! The HTTP/1.1 codec that the listener (`server/h1.rs`) and the upstream client
//! (`upstream/client.rs`) share: functions of bytes, no socket and no timer, so that a fuzzer
//! and a property test can call them as the socket loops do.
//!
//! - `request.rs`: a caller's request head, parsed into an `http::request::Parts` that shares
//!   the read buffer, with the head's bounds and what it says about the connection.
//! - `response.rs`: an upstream response head, parsed into the wire lines that go on to the
//!   caller, and the framing it announces.
//! - `framing.rs`: how a message body is delimited (RFC 9112 §6.3), the one `Content-Length`
//!   parser, and the refusals of ambiguous framing.
//! - `body.rs`: body decoders (by length, chunked, until close) and the chunked encoder.
//! - `encode.rs`: the upstream request head and the response head written to callers.
//! - `fields.rs`: field lines: writing them, splitting list values, the `Connection` tokens.
//! - `wire_fields.rs`: an upstream answer's end-to-end fields as the lines they came in.
//! - `spare.rs`: a finished request's header map, kept per thread for the next head.
//!
//! Entry points for the fuzz targets in `tests/fuzz` are compiled only under `cfg(fuzzing)`.

mod body;
mod encode;
mod fields;
mod framing;
mod request;
mod response;
mod spare;
mod wire_fields;

#[cfg(fuzzing)]
pub mod fuzz_logic;

pub use body::{put_chunk_size, BodyError, Chunk, Decoded, Decoder, LAST_CHUNK, MAX_CHUNK_LINE};
pub use encode::{encode_request, encode_response_head, response_framing, OutgoingHead, ResponseFraming};
pub use fields::{list_items, put_decimal, put_field, says_close, wire_name, ConnectionTokens};
pub use framing::{check, parse_length, request_body, FramingError};
pub use request::{parse_request_head, HeadLimits, RequestHead};
pub use response::{parse_response_head, ResponseHead, WireError, MAX_RESPONSE_HEAD};
pub use spare::recycle_headers;
pub use wire_fields::WireFields;
