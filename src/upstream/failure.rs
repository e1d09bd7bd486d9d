//! What kind of failure an upstream error is, for the warn line and the
//! `allo_gateway_upstream_failures_total{kind}` counter: a fixed set of kinds read off the
//! error's source chain (rustls, io, hyper, h2 and the client's own wire errors). The error
//! texts it walks name protocols and peers, never a request's header or the team key. Also
//! which failed HTTP/2 requests the upstream cannot have processed, so may be sent again.

use std::error::Error as StdError;
use std::io;

use super::UpstreamError;
use crate::http1::WireError;

/// Why the upstream could not answer. A bounded set, so it can be a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The TLS handshake failed: a certificate refused (and why), an alert from the peer.
    Tls,
    /// No connection: refused, unreachable, no address for the name.
    Connect,
    /// The connection was reset or closed before an answer, or a stream was reset.
    Reset,
    /// No connection or no answer in time.
    Timeout,
    /// The upstream's HTTP/2 connection went away (GOAWAY).
    GoAway,
    /// The upstream broke HTTP: a malformed head, a framing or HTTP/2 protocol error.
    Protocol,
    Other,
}

impl FailureKind {
    pub const ALL: [FailureKind; 7] = [
        FailureKind::Tls,
        FailureKind::Connect,
        FailureKind::Reset,
        FailureKind::Timeout,
        FailureKind::GoAway,
        FailureKind::Protocol,
        FailureKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Tls => "tls",
            FailureKind::Connect => "connect",
            FailureKind::Reset => "reset",
            FailureKind::Timeout => "timeout",
            FailureKind::GoAway => "goaway",
            FailureKind::Protocol => "protocol",
            FailureKind::Other => "other",
        }
    }
}

/// A connection to the upstream could not be opened (resolution, TCP or TLS). Marks the
/// error so that an io error from here reads as `connect` unless it says more.
#[derive(Debug, thiserror::Error)]
#[error("no connection to the upstream")]
pub(super) struct ConnectFailed(#[source] pub io::Error);

/// A connection that several requests waited for (rather than each opening its own) could
/// not be opened: each of them fails with its cause, which is this error's source.
#[derive(Debug)]
pub(super) struct WaitedConnect(pub std::sync::Arc<dyn StdError + Send + Sync>);

impl std::fmt::Display for WaitedConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the upstream connection could not be opened")
    }
}

impl StdError for WaitedConnect {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
    }
}

/// The upstream closed the connection before any byte of an answer.
#[derive(Debug, thiserror::Error)]
#[error("the upstream closed the connection without answering")]
pub(super) struct ClosedEarly;

impl UpstreamError {
    /// The kind of this failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            UpstreamError::Timeout(_) => FailureKind::Timeout,
            UpstreamError::Unavailable(source) => kind_of(source.as_ref()),
        }
    }
}

/// The first error in the chain that tells what happened.
fn kind_of(error: &(dyn StdError + 'static)) -> FailureKind {
    let mut connecting = false;
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<rustls::Error>() {
            return FailureKind::Tls;
        }
        if e.is::<WireError>() {
            return FailureKind::Protocol;
        }
        if e.is::<ClosedEarly>() {
            return FailureKind::Reset;
        }
        if let Some(ConnectFailed(io)) = e.downcast_ref::<ConnectFailed>() {
            connecting = true;
            next = Some(io);
            continue;
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            // An io error's `source` skips the error it wraps (tokio-rustls wraps rustls's).
            if let Some(inner) = io.get_ref() {
                if inner.is::<rustls::Error>() {
                    return FailureKind::Tls;
                }
            }
            return io_kind(io.kind(), connecting);
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            if let Some(io) = h2.get_io() {
                return io_kind(io.kind(), connecting);
            }
            if h2.is_go_away() {
                return FailureKind::GoAway;
            }
            if h2.is_reset() {
                return FailureKind::Reset;
            }
            return FailureKind::Protocol;
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return FailureKind::Timeout;
            }
            if hyper.is_parse() || hyper.is_parse_status() {
                return FailureKind::Protocol;
            }
            // The connection closed or went away before the request was sent.
            if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
                return FailureKind::Reset;
            }
        }
        next = e.source();
    }
    if connecting {
        FailureKind::Connect
    } else {
        FailureKind::Other
    }
}

fn io_kind(kind: io::ErrorKind, connecting: bool) -> FailureKind {
    use io::ErrorKind as K;
    match kind {
        K::TimedOut => FailureKind::Timeout,
        K::ConnectionRefused | K::AddrNotAvailable | K::NotFound => FailureKind::Connect,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => FailureKind::Reset,
        // A TLS failure that is not rustls's own error (an alert, a bad record) is `InvalidData`.
        K::InvalidData if connecting => FailureKind::Tls,
        _ if connecting => FailureKind::Connect,
        _ => FailureKind::Other,
    }
}

/// Why the upstream cannot have processed a request (RFC 9113 §8.7).
pub(super) enum Unprocessed {
    /// Its stream was refused: the connection may serve others (RFC 9113 §8.7 allows the
    /// same one), so it stays.
    Refused,
    /// It never left the gateway (the connection closed or went away first), or it lay
    /// above the last stream id of the upstream's GOAWAY.
    Gone,
}

/// Whether a request `h2` would not open a stream for never left the gateway: the connection
/// had failed or gone away (so the request may go on another). A request `h2` refuses as
/// malformed did not leave either, but sending it again would not help.
pub(super) fn unsent(error: &h2::Error) -> bool {
    error.is_io() || error.is_go_away() || error.reason().is_some()
}

/// Whether a request whose stream opened cannot have been processed, by the upstream's word.
pub(super) fn unprocessed(error: &h2::Error) -> Option<Unprocessed> {
    if !error.is_remote() {
        return None;
    }
    // A GOAWAY from the upstream fails only the streams above its last stream id, and the
    // requests not yet sent (h2 keeps it as the connection's error).
    if error.is_go_away() {
        return Some(Unprocessed::Gone);
    }
    (error.is_reset() && error.reason() == Some(h2::Reason::REFUSED_STREAM)).then_some(Unprocessed::Refused)
}

/// Whether the connection closed or was reset under the request (before any answer: this is
/// read only until the response head).
pub(super) fn connection_lost(error: &h2::Error) -> bool {
    use std::io::ErrorKind as K;
    error.get_io().is_some_and(|io| {
        matches!(
            io.kind(),
            K::BrokenPipe | K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::BoxError;

    fn kind(error: impl Into<BoxError>) -> FailureKind {
        UpstreamError::Unavailable(error.into()).kind()
    }

    #[test]
    fn kinds_are_read_through_the_chain() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(kind(ConnectFailed(refused)), FailureKind::Connect);
        let certificate = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, certificate);
        assert_eq!(kind(ConnectFailed(wrapped)), FailureKind::Tls);
        let late = io::Error::from(io::ErrorKind::TimedOut);
        assert_eq!(kind(ConnectFailed(late)), FailureKind::Timeout);
        assert_eq!(
            kind(io::Error::from(io::ErrorKind::ConnectionReset)),
            FailureKind::Reset
        );
        assert_eq!(kind(ClosedEarly), FailureKind::Reset);
        let shared = std::sync::Arc::new(ConnectFailed(io::Error::new(io::ErrorKind::InvalidData, "bad record")));
        assert_eq!(kind(WaitedConnect(shared)), FailureKind::Tls);
        assert_eq!(kind(WireError::HeadTooLarge), FailureKind::Protocol);
        assert_eq!(kind(h2::Error::from(h2::Reason::PROTOCOL_ERROR)), FailureKind::Protocol);
        assert_eq!(kind("something else"), FailureKind::Other);
        assert_eq!(
            UpstreamError::Timeout(std::time::Duration::from_secs(1)).kind(),
            FailureKind::Timeout
        );
    }

    #[test]
    fn kind_names_are_distinct() {
        let names: std::collections::HashSet<_> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), FailureKind::ALL.len());
    }
}
