//! The sandbox behind a listener (`allo-gateway sandbox`, served by the gateway's own
//! `server::serve` with the config's `[server]` bounds): a request whose body is still
//! arriving is read within the body bounds, then answered by `Sandbox::handle`; a body it
//! cannot take is answered as Allo would. The listener itself is wired in `commands`, since
//! the server's errors reach the upstream client, which holds the sandbox.

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::respond::{finish, ApiError};
use super::{request_id, Sandbox};
use crate::body::RequestBody;
use crate::validate::{self, BodyLimits, ValidationError};

impl Sandbox {
    /// Reads the body within `limits` (Content-Length checked first), then answers.
    pub async fn answer(&self, req: Request<RequestBody>, limits: BodyLimits) -> Response<Bytes> {
        let (parts, body) = req.into_parts();
        match validate::read_body(&parts.headers, body, limits).await {
            Ok(bytes) => self.handle(Request::from_parts(parts, bytes)),
            Err(refused) => finish(Err(refusal(&refused)), &request_id(&parts.headers), None),
        }
    }
}

/// A body the sandbox could not take, in Allo's words.
fn refusal(error: &ValidationError) -> ApiError {
    match error {
        ValidationError::BodyTooLarge { limit } => ApiError::payload_too_large(*limit),
        ValidationError::BodyTimeout(_) => {
            let mut err = ApiError::validation("REQUEST_TIMEOUT", "the request body was not received in time");
            err.status = StatusCode::REQUEST_TIMEOUT;
            err
        }
        _ => ApiError::validation("INVALID_REQUEST_BODY", "the request body could not be read"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::Full;

    use super::*;
    use crate::body::pipe;
    use crate::secret::Secret;

    const LIMITS: BodyLimits = BodyLimits {
        max_bytes: 4096,
        timeout: Duration::from_secs(5),
    };

    fn sandbox() -> Sandbox {
        Sandbox::new(vec![("sales".into(), Secret::new("k1"))])
    }

    fn request(method: &str, path: &str, headers: &[(&str, &str)], body: RequestBody) -> Request<RequestBody> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", "Api-Key k1");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(body).unwrap()
    }

    fn code(response: &Response<Bytes>) -> String {
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        body["error"]["code"].as_str().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn answers_within_the_body_bounds() {
        let sandbox = sandbox();
        let me = sandbox
            .answer(
                request("GET", "/v2/api/me", &[("x-request-id", "abc")], RequestBody::empty()),
                LIMITS,
            )
            .await;
        assert_eq!(me.status(), StatusCode::OK);
        assert_eq!(me.headers()["x-request-id"], "abc");

        // Refused from the announced length, before a byte is read.
        let announced = request(
            "POST",
            "/v2/api/dialing-queues/current",
            &[("content-type", "application/json"), ("content-length", "4097")],
            RequestBody::empty(),
        );
        let refused = sandbox.answer(announced, LIMITS).await;
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(code(&refused), "PAYLOAD_TOO_LARGE");

        // And when a body of no announced length grows past the limit.
        let grown = RequestBody::Whole(Full::new(Bytes::from(vec![b'x'; 4097])));
        let grown = request(
            "POST",
            "/v2/api/dialing-queues/current",
            &[("content-type", "application/json")],
            grown,
        );
        let refused = sandbox.answer(grown, LIMITS).await;
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_is_a_408() {
        let (sender, receiver) = pipe();
        let stalled = request(
            "POST",
            "/v2/api/dialing-queues/current",
            &[("content-type", "application/json")],
            RequestBody::Piped(receiver),
        );
        let refused = sandbox().answer(stalled, LIMITS).await;
        drop(sender);
        assert_eq!(refused.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(code(&refused), "REQUEST_TIMEOUT");
    }
}
