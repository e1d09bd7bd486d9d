//! What a request is answered with. The head's fields are the gateway's own, in a header map,
//! and, for an answer the upstream gave over HTTP/1.1, the upstream's end-to-end fields as the
//! wire lines they came in (`WireFields`). The HTTP/1.1 listener writes those lines as they
//! are: a proxy that only passes fields on need not parse each name, hash it into a map and
//! walk the map again to write it out. HTTP/2, which needs a map, gets one (`into_response`).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use crate::body::Body;
pub use crate::http1::WireFields;
use crate::ids::REQUEST_ID;

pub struct Answer {
    /// Status, version, the gateway's own fields and the body.
    pub response: Response<Body>,
    /// The upstream's end-to-end fields, as they came over HTTP/1.1.
    pub upstream: Option<WireFields>,
    /// The request id, written with the other fields (`set_request_id`).
    pub request_id: Option<HeaderValue>,
}

impl From<Response<Body>> for Answer {
    fn from(response: Response<Body>) -> Answer {
        Answer {
            response,
            upstream: None,
            request_id: None,
        }
    }
}

impl Answer {
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The length the head declares, whichever fields it is among.
    pub fn declared_length(&self) -> Option<u64> {
        match self.response.headers().get(header::CONTENT_LENGTH) {
            Some(value) => crate::http1::parse_length(value.as_bytes().trim_ascii()),
            None => self.upstream.as_ref().and_then(|fields| fields.length),
        }
    }

    /// The answer carries `id` as its only request id.
    pub fn set_request_id(&mut self, id: HeaderValue) {
        // The upstream's lines never hold one (`WireFields`); a map only has one if an answer
        // from HTTP/2 or the sandbox brought it.
        if !self.response.headers().is_empty() {
            self.response.headers_mut().remove(REQUEST_ID);
        }
        self.request_id = Some(id);
    }

    pub fn map_body(self, f: impl FnOnce(Body) -> Body) -> Answer {
        Answer {
            response: self.response.map(f),
            ..self
        }
    }

    /// The whole head in one header map, for HTTP/2 (and tests).
    pub fn into_response(self) -> Response<Body> {
        let Answer {
            mut response,
            upstream,
            request_id,
        } = self;
        let headers = response.headers_mut();
        if let Some(fields) = upstream {
            for (name, value) in fields.iter() {
                let value = HeaderValue::from_maybe_shared(fields.shared(value));
                // Both were checked as the head was parsed.
                if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), value) {
                    headers.append(name, value);
                }
            }
            if let Some(length) = fields.length {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            }
        }
        if let Some(id) = request_id {
            headers.insert(REQUEST_ID, id);
        }
        response
    }
}

/// A head's fields, looked up by name, whichever form they are kept in.
pub trait Fields {
    /// The first value of `name`.
    fn field(&self, name: &HeaderName) -> Option<&[u8]>;
}

impl Fields for HeaderMap {
    fn field(&self, name: &HeaderName) -> Option<&[u8]> {
        self.get(name).map(HeaderValue::as_bytes)
    }
}

impl Fields for Answer {
    fn field(&self, name: &HeaderName) -> Option<&[u8]> {
        self.upstream
            .as_ref()
            .and_then(|fields| fields.get(name))
            .or_else(|| self.response.headers().field(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::full;
    use crate::http1::put_field;
    use bytes::Bytes;

    fn fields(pairs: &[(&str, &str)], length: Option<u64>) -> WireFields {
        let mut lines = Vec::new();
        for (name, value) in pairs {
            put_field(&mut lines, name.as_bytes(), value.as_bytes());
        }
        WireFields::new(Bytes::from(lines), length, false)
    }

    #[test]
    fn lines_are_read_back_in_order_and_looked_up_without_case() {
        let wire = fields(
            &[("Content-Type", "application/json"), ("x-empty", ""), ("Vary", "a, b")],
            None,
        );
        let all: Vec<_> = wire.iter().collect();
        assert_eq!(
            all,
            [
                (&b"Content-Type"[..], &b"application/json"[..]),
                (b"x-empty", b""),
                (b"Vary", b"a, b")
            ]
        );
        assert_eq!(wire.get(&header::CONTENT_TYPE), Some(&b"application/json"[..]));
        assert_eq!(wire.get(&header::VARY), Some(&b"a, b"[..]));
        assert_eq!(wire.get(&header::DATE), None);
    }

    #[test]
    fn one_map_for_http2_with_the_length_and_the_one_request_id() {
        let mut response = Response::new(full("{}"));
        response
            .headers_mut()
            .insert(REQUEST_ID, HeaderValue::from_static("theirs"));
        let mut answer = Answer::from(response);
        answer.upstream = Some(fields(
            &[
                ("X-RateLimit-Remaining", "4"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
            ],
            Some(2),
        ));
        answer.set_request_id(HeaderValue::from_static("ours"));
        assert_eq!(
            answer.field(&HeaderName::from_static("x-ratelimit-remaining")),
            Some(&b"4"[..])
        );
        assert_eq!(answer.declared_length(), Some(2));

        let response = answer.into_response();
        let headers = response.headers();
        assert_eq!(headers.get_all(REQUEST_ID).iter().collect::<Vec<_>>(), ["ours"]);
        assert_eq!(headers["x-ratelimit-remaining"], "4");
        assert_eq!(headers.get_all(header::SET_COOKIE).iter().count(), 2);
        assert_eq!(headers[header::CONTENT_LENGTH], "2");
    }
}
