//! The body types: a response body shared by every answer (upstream bodies stream through
//! unchanged, the gateway's own answers are a single buffer), and a request body as the
//! listeners hand it over.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

mod h2;
mod pipe;

pub use h2::H2Body;
pub use pipe::{pipe, PipeReceiver, PipeSender};

/// Any error a streamed body can raise.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: one buffer (the gateway's own answers, and the usual small upstream
/// answer that came whole with its head), or a stream. The buffer needs no allocation of its
/// own, which a boxed body would.
pub enum Body {
    Full(Full<Bytes>),
    Streamed(BoxBody<Bytes, BoxError>),
}

/// A body that is one buffer.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body::Full(Full::new(bytes.into()))
}

/// A `Full` body's frames with this module's error type (it never fails).
fn poll_full(full: &mut Full<Bytes>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    http_body::Body::poll_frame(Pin::new(full), cx).map_err(|never| match never {})
}

impl Body {
    pub fn streamed<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes, Error = BoxError> + Send + Sync + 'static,
    {
        Body::Streamed(BodyExt::boxed(body))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Full(full) => poll_full(full, cx),
            Body::Streamed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(full) => full.is_end_stream(),
            Body::Streamed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(full) => full.size_hint(),
            Body::Streamed(body) => body.size_hint(),
        }
    }
}

/// A request body. The HTTP/1.1 listener hands over a body that arrived with its head whole,
/// and pipes one that is still arriving; HTTP/2 bodies are read from their stream.
pub enum RequestBody {
    /// All of it, already read.
    Whole(Full<Bytes>),
    /// Read from the connection as it is asked for.
    Piped(PipeReceiver),
    Http2(H2Body),
}

impl RequestBody {
    pub fn empty() -> RequestBody {
        RequestBody::Whole(Full::default())
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Whole(full) => poll_full(full, cx),
            RequestBody::Piped(pipe) => pipe.poll_piece(cx).map(|piece| piece.map(|p| p.map(Frame::data))),
            RequestBody::Http2(stream) => Pin::new(stream).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Whole(full) => full.is_end_stream(),
            RequestBody::Piped(pipe) => pipe.is_end_stream(),
            RequestBody::Http2(stream) => http_body::Body::is_end_stream(stream),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Whole(full) => full.size_hint(),
            RequestBody::Piped(_) => SizeHint::default(),
            RequestBody::Http2(stream) => http_body::Body::size_hint(stream),
        }
    }
}
