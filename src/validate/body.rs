//! The bounded body read: refused from the Content-Length before a byte is read when it
//! announces too much, and cut off by a streaming bound when a chunked body grows past the
//! limit; the whole read is under `body_read_timeout`.

use std::time::Duration;

use crate::body::RequestBody;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;

use super::ValidationError;

#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// The announced Content-Length, if it is over the limit (checked before reading).
pub fn announced_too_large(headers: &HeaderMap, limits: BodyLimits) -> bool {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| crate::http1::parse_length(v.as_bytes().trim_ascii()))
        .is_some_and(|len| len > limits.max_bytes as u64)
}

/// Reads the whole body within the limits.
pub async fn read_body(
    headers: &HeaderMap,
    mut body: RequestBody,
    limits: BodyLimits,
) -> Result<Bytes, ValidationError> {
    let too_large = ValidationError::BodyTooLarge {
        limit: limits.max_bytes,
    };
    if announced_too_large(headers, limits) {
        return Err(too_large);
    }
    // A bodiless request (most reads) needs no reading and no timer.
    if http_body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    let came_whole = matches!(body, RequestBody::Whole(_));
    let read = async {
        // The usual small body arrives as one frame: kept as it is, without a copy; a second
        // frame starts a buffer.
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(ValidationError::BodyRead)?;
            let Ok(data) = frame.into_data() else { continue };
            let held = first.as_ref().map_or(0, Bytes::len) + buf.len();
            if held + data.len() > limits.max_bytes {
                crate::memory::note_body(held + data.len());
                return Err(ValidationError::BodyTooLarge {
                    limit: limits.max_bytes,
                });
            }
            match first.take() {
                None if buf.is_empty() => first = Some(data),
                None => buf.extend_from_slice(&data),
                Some(earlier) => {
                    buf.extend_from_slice(&earlier);
                    buf.extend_from_slice(&data);
                }
            }
        }
        let whole = first.unwrap_or_else(|| buf.freeze());
        crate::memory::note_body(whole.len());
        Ok(whole)
    };
    // A body that came whole with its head is read at once: no timer (nor clock read) for it.
    if came_whole {
        return read.await;
    }
    match tokio::time::timeout(limits.timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(ValidationError::BodyTimeout(limits.timeout)),
    }
}
