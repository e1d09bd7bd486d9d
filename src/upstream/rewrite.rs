//! What the upstream receives (INTERFACE §4), as pure functions so they can be tested and
//! property-tested without sockets: same method, path and query byte for byte; the authority
//! from config only; `Authorization: Api-Key <team key>` exactly once, marked sensitive; no
//! hop-by-hop header, nor any whose name has an underscore, nor the caller's credentials and
//! internal routing fields (`Cookie`, `X-Api-Key`, `X-Forwarded-*`..., unless
//! `[upstream] forward_headers` allows them: `config::ForwardHeaders`); framing set here;
//! `X-Request-Id` carried end to end. `forwarded_headers` is the one filter both upstream
//! protocols (`http1::encode_request`, and this map for HTTP/2 and the sandbox) go through.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Uri};

use crate::config::ForwardHeaders;
use crate::secret::Secret;

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
];

use crate::ids::REQUEST_ID;

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("the request target cannot be forwarded")]
    Target(#[from] http::Error),
    #[error("the team key cannot be put in a header")]
    Key,
}

/// Builds the upstream request head. `base` holds the configured scheme and authority (empty
/// for the in-process sandbox); the caller's target contributes only its path and query.
///
/// One pass over the caller's headers copies what may be forwarded (a header value clone is
/// a reference count, not a copy) instead of cloning the whole map and removing a dozen
/// names from it one by one.
pub fn rewrite_request(
    parts: &http::request::Parts,
    base: &http::uri::Parts,
    key: &Secret,
    request_id: &HeaderValue,
    body_len: usize,
    forward: &ForwardHeaders,
) -> Result<Request<()>, RewriteError> {
    let mut target = http::uri::Parts::default();
    if let (Some(scheme), Some(authority)) = (&base.scheme, &base.authority) {
        target.scheme = Some(scheme.clone());
        target.authority = Some(authority.clone());
    }
    // The parsed path and query, shared rather than re-parsed: byte for byte what came in.
    target.path_and_query = Some(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    let uri = Uri::from_parts(target).map_err(http::Error::from)?;

    let mut headers = HeaderMap::with_capacity(parts.headers.len() + 3);
    for (name, value) in forwarded_headers(&parts.headers, forward) {
        headers.append(name.clone(), value.clone());
    }
    let key = key.expose();
    let mut value = Vec::with_capacity(API_KEY_PREFIX.len() + key.len());
    value.extend_from_slice(API_KEY_PREFIX);
    value.extend_from_slice(key.as_bytes());
    let mut auth = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)).map_err(|_| RewriteError::Key)?;
    auth.set_sensitive(true);
    headers.insert(header::AUTHORIZATION, auth);
    // Never indexed by HPACK: a value new with every request gains nothing from the table, and
    // each one added would push out entries that repeat (the authority, the caller's fields).
    let mut request_id = request_id.clone();
    request_id.set_sensitive(true);
    headers.insert(REQUEST_ID, request_id);
    if sends_content_length(&parts.method, body_len) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    }

    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

const API_KEY_PREFIX: &[u8] = b"Api-Key ";

pub(super) fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.iter().any(|h| h == name)
}

/// `is_hop_by_hop` for a name as it came on the wire, in any case. Read for every field of
/// every upstream answer: only the names of the same length are compared.
pub(super) fn is_hop_by_hop_name(name: &[u8]) -> bool {
    let same = |h: &[u8]| name.eq_ignore_ascii_case(h);
    match name.len() {
        2 => same(b"te"),
        7 => same(b"upgrade") || same(b"trailer"),
        10 => same(b"connection") || same(b"keep-alive"),
        16 => same(b"proxy-connection"),
        17 => same(b"transfer-encoding"),
        19 => same(b"proxy-authorization"),
        _ => false,
    }
}

/// The caller's headers that go upstream: all but the hop-by-hop ones, and all but the
/// caller's credential, Host, framing, Expect and request id, which are the gateway's to set.
/// Names with an underscore are dropped too (see `is_underscored`), and credentials and
/// internal routing fields unless `forward` allows them.
pub(super) fn forwarded_headers<'a>(
    headers: &'a HeaderMap,
    forward: &'a ForwardHeaders,
) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> {
    let named = connection_named(headers);
    headers.iter().filter(move |(name, _)| {
        let gateways = is_hop_by_hop(name)
            || named.contains(name)
            || *name == header::AUTHORIZATION
            || *name == header::HOST
            || *name == header::CONTENT_LENGTH
            || *name == header::EXPECT
            || *name == REQUEST_ID;
        !gateways && !forward.strips(name) && !dropped_underscored(name)
    })
}

/// `is_underscored`, logging the drop (rare, so out of the forwarding loop's way).
fn dropped_underscored(name: &HeaderName) -> bool {
    if !is_underscored(name) {
        return false;
    }
    log_underscored(name);
    true
}

#[cold]
fn log_underscored(name: &HeaderName) {
    tracing::debug!(
        header = name.as_str(),
        "header with an underscore in its name not forwarded"
    );
}

/// A name with `_` is never forwarded, as nginx does by default (`underscores_in_headers
/// off`): CGI and WSGI stacks fold `_` and `-` into one, so `Transfer_Encoding` or
/// `X_Request_Id` would reach an application as the field the gateway removed or set itself.
/// Dropped rather than refused: no name the gateway or Allo reads is spelled with one, and
/// some clients and proxies add such fields unasked.
pub(super) fn is_underscored(name: &HeaderName) -> bool {
    memchr::memchr(b'_', name.as_str().as_bytes()).is_some()
}

/// Whether the upstream request states its length: always with a body, and for methods whose
/// empty body is still a body (POST, PUT, PATCH...), as `Content-Length: 0`.
pub(super) fn sends_content_length(method: &http::Method, body_len: usize) -> bool {
    body_len > 0
        || !matches!(
            *method,
            http::Method::GET | http::Method::HEAD | http::Method::DELETE | http::Method::OPTIONS
        )
}

/// The header names listed in `Connection` (none, without allocating, in the usual case).
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    // Most heads have no `Connection`: a look at each of their few names (a standard name is
    // compared as a number) costs less than the map's hashed lookup, which every request made.
    if !headers.keys().any(|name| *name == header::CONNECTION) {
        return Vec::new();
    }
    connection_named_in(headers.get_all(header::CONNECTION).iter().map(HeaderValue::as_bytes))
}

/// The header names listed in these `Connection` values.
pub(super) fn connection_named_in<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<HeaderName> {
    values
        // Split the bytes: one item that is not a token (obs-text, say) must not hide the rest.
        .flat_map(|v| v.split(|&b| b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .collect()
}

/// Removes `Connection` and every header it names, and the fixed hop-by-hop set.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most responses carry none: one look at each name instead of eight removals.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    for name in connection_named(headers) {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests;
