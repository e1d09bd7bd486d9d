//! The bounded body read: refused from the Content-Length before a byte is read when it
//! announces too much, and cut off by a streaming bound when a chunked body grows past the
//! limit; the whole read is under `body_read_timeout`.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;

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
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > limits.max_bytes as u64)
}

/// Reads the whole body within the limits.
pub async fn read_body(headers: &HeaderMap, mut body: Incoming, limits: BodyLimits) -> Result<Bytes, ValidationError> {
    let too_large = ValidationError::BodyTooLarge {
        limit: limits.max_bytes,
    };
    if announced_too_large(headers, limits) {
        return Err(too_large);
    }
    let read = async {
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(ValidationError::BodyRead)?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limits.max_bytes {
                    return Err(ValidationError::BodyTooLarge {
                        limit: limits.max_bytes,
                    });
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(limits.timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(ValidationError::BodyTimeout(limits.timeout)),
    }
}
