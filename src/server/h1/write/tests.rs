use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use super::*;
use crate::answer::WireFields;
use crate::body::full;

async fn written(response: impl Into<Answer>, method: Method, version: Version) -> (String, bool) {
    let mut wire = Vec::new();
    let answering = Answering {
        method: &method,
        version,
        keep_alive: true,
    };
    let keep = write_response(&mut wire, &mut Vec::new(), response.into(), answering)
        .await
        .unwrap();
    (String::from_utf8(wire).unwrap(), keep)
}

/// A body of several frames and no known length.
struct Pieces(std::collections::VecDeque<&'static str>);

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let next = self.get_mut().0.pop_front();
        Poll::Ready(next.map(|p| Ok(http_body::Frame::data(Bytes::from_static(p.as_bytes())))))
    }
}

fn streamed(pieces: &[&'static str]) -> Body {
    Body::streamed(Pieces(pieces.iter().copied().collect()))
}

#[tokio::test]
async fn a_whole_body_goes_out_with_its_length_and_a_date() {
    let mut response = Response::new(full("{}"));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response.headers_mut().insert("connection", "te".parse().unwrap());
    let (wire, keep) = written(response, Method::GET, Version::HTTP_11).await;
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\ndate: "));
    assert!(wire.ends_with(" GMT\r\n\r\n{}"), "{wire}");
    assert!(keep);
}

#[tokio::test]
async fn an_unknown_length_is_chunked_for_http11_and_until_close_for_http10() {
    let (wire, keep) = written(Response::new(streamed(&["ab", "cde"])), Method::GET, Version::HTTP_11).await;
    assert!(wire.contains("transfer-encoding: chunked\r\n"));
    assert!(wire.ends_with("\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"), "{wire}");
    assert!(keep);

    let (wire, keep) = written(Response::new(streamed(&["ab", "cde"])), Method::GET, Version::HTTP_10).await;
    assert!(wire.contains("connection: close\r\n"));
    assert!(wire.ends_with("\r\n\r\nabcde"), "{wire}");
    assert!(!keep);
}

#[tokio::test]
async fn head_and_no_content_answers_carry_no_body() {
    let (wire, _) = written(Response::new(full("{}")), Method::HEAD, Version::HTTP_11).await;
    assert!(wire.ends_with("\r\n\r\n"), "{wire}");
    let mut response = Response::new(full(""));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let (wire, keep) = written(response, Method::GET, Version::HTTP_11).await;
    assert!(wire.starts_with("HTTP/1.1 204 No Content\r\n"));
    assert!(!wire.contains("content-length"));
    assert!(keep);
}

#[tokio::test]
async fn a_body_short_of_its_length_ends_the_connection() {
    let mut response = Response::new(streamed(&["ab"]));
    response.headers_mut().insert("content-length", "5".parse().unwrap());
    let (wire, keep) = written(response, Method::GET, Version::HTTP_11).await;
    assert!(wire.ends_with("content-length: 5\r\n") || wire.contains("content-length: 5\r\n"));
    assert!(!keep);
}

#[tokio::test]
async fn a_connection_close_answer_closes() {
    let mut response = Response::new(full("x"));
    response.headers_mut().insert("connection", "close".parse().unwrap());
    let (wire, keep) = written(response, Method::GET, Version::HTTP_11).await;
    assert_eq!(wire.matches("connection: close").count(), 1);
    assert!(!keep);
}

/// An upstream's answer: its lines as they came, the gateway's request id, one date.
fn upstream_answer(lines: &str, length: Option<u64>, has_date: bool, body: Body) -> Answer {
    let mut answer = Answer::from(Response::new(body));
    answer.upstream = Some(WireFields::new(Bytes::from(lines.to_owned()), length, has_date));
    answer.set_request_id(HeaderValue::from_static("req_1"));
    answer
}

#[tokio::test]
async fn an_upstream_answer_goes_out_with_its_lines_as_they_came() {
    let lines = "Content-Type: application/json\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT\r\nx-ratelimit-remaining: 4\r\n";
    let answer = upstream_answer(lines, Some(2), true, full("{}"));
    let (wire, keep) = written(answer, Method::GET, Version::HTTP_11).await;
    assert_eq!(
        wire,
        format!("HTTP/1.1 200 OK\r\n{lines}x-request-id: req_1\r\ncontent-length: 2\r\n\r\n{{}}")
    );
    assert!(keep);
}

#[tokio::test]
async fn an_upstream_head_answer_keeps_its_declared_length_and_a_streamed_body_is_framed_by_it() {
    let answer = upstream_answer("Content-Type: text/plain\r\n", Some(7), false, full(""));
    let (wire, _) = written(answer, Method::HEAD, Version::HTTP_11).await;
    assert!(
        wire.contains("Content-Type: text/plain\r\nx-request-id: req_1\r\ncontent-length: 7\r\ndate: "),
        "{wire}"
    );
    assert!(wire.ends_with(" GMT\r\n\r\n"), "{wire}");

    let answer = upstream_answer("", Some(5), false, streamed(&["ab", "cde"]));
    let (wire, keep) = written(answer, Method::GET, Version::HTTP_11).await;
    assert!(
        wire.contains("content-length: 5\r\n") && !wire.contains("chunked"),
        "{wire}"
    );
    assert!(wire.ends_with("\r\n\r\nabcde"), "{wire}");
    assert!(keep);
}
