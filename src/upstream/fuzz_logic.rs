//! Entry points for the fuzz targets in `tests/fuzz` (compiled only under `cfg(fuzzing)`): the
//! request head both upstream protocols would send for one caller request.

use http::{HeaderValue, Request};

use super::rewrite::{forwarded_headers, rewrite_request, sends_content_length};
use crate::config::ForwardHeaders;
use crate::secret::Secret;

/// The HTTP/1.1 head the client writes for `parts` (`http1::encode_request`, as `client.rs`
/// calls it) and the request the HTTP/2 path builds (`rewrite_request`), for an upstream at
/// `https://<host>`; `None` if the HTTP/2 path refuses the request.
pub fn both_encodings(
    parts: &http::request::Parts,
    host: &HeaderValue,
    key: &Secret,
    request_id: &HeaderValue,
    body_len: usize,
    forward: &ForwardHeaders,
) -> Option<(Vec<u8>, Request<()>)> {
    let mut h1 = Vec::new();
    crate::http1::encode_request(
        &mut h1,
        parts,
        host,
        forwarded_headers(&parts.headers, forward),
        key,
        request_id,
        sends_content_length(&parts.method, body_len).then_some(body_len as u64),
    );
    let mut base = http::uri::Parts::default();
    base.scheme = Some(http::uri::Scheme::HTTPS);
    base.authority = host.to_str().ok().and_then(|h| h.parse().ok());
    let h2 = rewrite_request(parts, &base, key, request_id, body_len, forward).ok()?;
    Some((h1, h2))
}
