//! A minimal HTTP/1.1 client for tests: one request per connection, the whole answer read.
//! `send` takes everything at once; `Request` builds it up (`gw.get(path).bearer(token)...`).
//! Over HTTP/2 with prior knowledge: `h2c` (hyper, whole bodies) and `h2_raw` (the `h2` crate,
//! frame-level detail).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::process::GatewayProcess;

#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_string())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// (status, the gateway's error code): what a refusal is checked by.
    pub(crate) fn refusal(&self) -> (u16, Option<String>) {
        (self.status, self.gateway_error())
    }

    /// The gateway's error code, if the gateway answered itself.
    pub(crate) fn gateway_error(&self) -> Option<String> {
        self.header("x-allo-gateway-error")
    }

    /// The list of `errors[].field` in the envelope.
    pub(crate) fn error_fields(&self) -> Vec<String> {
        self.json()["error"]["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Sends one request to `addr`; `headers` are sent as given (add `content-type` yourself).
pub(crate) async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header("host", "gateway.local");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// A request being put together: `gw.get(path).bearer(token).header(k, v).json(body).send()`.
#[must_use]
pub(crate) struct Request {
    addr: SocketAddr,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Request {
    pub(crate) fn new(addr: SocketAddr, method: &str, target: &str) -> Request {
        Request {
            addr,
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub(crate) fn headers(self, headers: &[(&str, &str)]) -> Request {
        headers.iter().fold(self, |r, (k, v)| r.header(k, v))
    }

    /// `Authorization: Bearer <token>`.
    pub(crate) fn bearer(self, token: &str) -> Request {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A JSON body with its content type; an empty `body` sends neither.
    pub(crate) fn json(self, body: impl AsRef<[u8]>) -> Request {
        let body = body.as_ref();
        if body.is_empty() {
            return self;
        }
        self.header("content-type", "application/json")
            .body(Bytes::copy_from_slice(body))
    }

    /// The body as given, with no content type added.
    pub(crate) fn body(mut self, body: impl Into<Bytes>) -> Request {
        self.body = body.into();
        self
    }

    pub(crate) async fn send(self) -> Answer {
        let headers: Vec<(&str, &str)> = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        send(self.addr, &self.method, &self.target, &headers, self.body).await
    }
}

impl GatewayProcess {
    /// A request to the gateway's listener.
    pub(crate) fn request(&self, method: &str, target: &str) -> Request {
        Request::new(self.addr, method, target)
    }

    pub(crate) fn get(&self, target: &str) -> Request {
        self.request("GET", target)
    }

    pub(crate) fn post(&self, target: &str) -> Request {
        self.request("POST", target)
    }

    /// A request to the admin listener.
    pub(crate) fn admin_request(&self, method: &str, path: &str) -> Request {
        Request::new(self.admin.expect("admin listener"), method, path)
    }

    /// The admin listener's `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        let answer = self.admin_request("GET", "/metrics").send().await;
        assert_eq!(answer.status, 200);
        answer.text()
    }
}

/// An HTTP/2 connection to `addr` with prior knowledge (h2c), for requests of whole bodies.
pub(crate) async fn h2c(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

/// An HTTP/2 connection to `addr` with prior knowledge, on the `h2` crate: for what hyper's
/// client hides, such as informational (1xx) answers, a stream's end and flow control.
pub(crate) async fn h2_raw(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.ready().await.unwrap()
}
