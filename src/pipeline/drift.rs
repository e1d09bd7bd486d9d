//! Reading Allo's answer for signs that its API has moved away from the description in force:
//! a validation refusal of a request the gateway found valid (`refused_valid`), or a 405, or a
//! 404 that is not in Allo's error envelope, for a route the table has (`route_gone`). A 404
//! in the envelope is Allo saying a resource does not exist, which is no drift. Only answers
//! that came whole are read; a streamed one is left alone rather than buffered.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;

use crate::answer::Answer;
use crate::body::Body;
use crate::metrics::DriftKind;

/// The drift an answer shows, if any. `validated`: the request passed validation (a request
/// forwarded despite its findings, in `report` mode, may well be refused).
pub(super) fn of(answer: &Answer, validated: bool) -> Option<DriftKind> {
    match answer.status() {
        StatusCode::METHOD_NOT_ALLOWED => Some(DriftKind::RouteGone),
        StatusCode::NOT_FOUND => match envelope(answer) {
            Some(Some(_)) => None,
            Some(None) => Some(DriftKind::RouteGone),
            None => None,
        },
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY if validated => {
            let kind = envelope(answer)??;
            matches!(kind.as_str(), "validation_error" | "invalid_request_error").then_some(DriftKind::RefusedValid)
        }
        _ => None,
    }
}

/// None: the body was not read (streamed). Some(None): not Allo's envelope. Some(Some(type)):
/// the envelope's `error.type`.
fn envelope(answer: &Answer) -> Option<Option<String>> {
    let bytes = whole(answer.response.body())?;
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Some(None),
    };
    let error = value.get("error").filter(|e| e.is_object());
    Some(error.map(|e| e.get("type").and_then(Value::as_str).unwrap_or("").to_string()))
}

/// The bytes of a body that is one buffer, without consuming it.
fn whole(body: &Body) -> Option<Bytes> {
    let Body::Full(full) = body else { return None };
    let mut copy = full.clone();
    let mut cx = Context::from_waker(Waker::noop());
    match http_body::Body::poll_frame(Pin::new(&mut copy), &mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().ok(),
        Poll::Ready(None) => Some(Bytes::new()),
        _ => None,
    }
}
