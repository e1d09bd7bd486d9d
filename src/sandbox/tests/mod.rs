//! End-to-end tests of `Sandbox::handle` on plain `http::Request`s: two teams on a
//! `ManualSandboxClock`, so rate limits are exercised without sleeping. `dialing.rs` walks the Power
//! Dialer, `notes.rs` conversation notes, `pins.rs` pinning, `platform.rs` auth, limits,
//! routing, `/me`, users and hostile input.

mod dialing;
mod notes;
mod pins;
mod platform;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;

use super::{ManualSandboxClock, Sandbox, User};
use crate::secret::Secret;

pub(super) const SALES_KEY: &str = "ak_live_sales";
pub(super) const SUPPORT_KEY: &str = "ak_live_support";
/// 2026-05-06T10:00:00Z.
pub(super) const BASE: u64 = 1_778_061_600;

pub(super) struct Harness {
    pub sandbox: Sandbox,
    pub clock: ManualSandboxClock,
}

pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Answer {
    pub(super) fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

impl Harness {
    pub(super) fn new() -> Harness {
        let clock = ManualSandboxClock::new();
        let sandbox = Sandbox::with_clock(
            vec![
                ("sales".into(), Secret::new(SALES_KEY)),
                ("support".into(), Secret::new(SUPPORT_KEY)),
            ],
            BASE,
            clock.now_fn(),
        );
        Harness { sandbox, clock }
    }

    pub(super) fn user(&self, team: &str, index: usize) -> User {
        self.sandbox.roster(team).unwrap().users()[index].clone()
    }

    /// One request a second later than the last, so scenario tests never trip rate limits.
    pub(super) fn call(&self, key: &str, method: &str, uri: &str, body: Option<Value>) -> Answer {
        self.clock.advance(Duration::from_secs(1));
        self.raw(Some(key), method, uri, body.map(|b| b.to_string()))
    }

    /// One request at the current instant, with full control of key and body bytes.
    pub(super) fn raw(&self, key: Option<&str>, method: &str, uri: &str, body: Option<String>) -> Answer {
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(uri);
        if let Some(key) = key {
            builder = builder.header("authorization", format!("Api-Key {key}"));
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let req = builder.body(Bytes::from(body.unwrap_or_default())).unwrap();
        self.send(req)
    }

    /// A 204 has no body and no Content-Type (its `json` is `null`); every other answer is JSON.
    pub(super) fn send(&self, req: Request<Bytes>) -> Answer {
        let resp = self.sandbox.handle(req);
        let status = resp.status();
        let json = if status == StatusCode::NO_CONTENT {
            assert!(resp.body().is_empty(), "a 204 has no body");
            assert!(resp.headers().get("content-type").is_none());
            Value::Null
        } else {
            assert_eq!(resp.headers()["content-type"], "application/json");
            serde_json::from_slice(resp.body()).expect("every answer with a body is JSON")
        };
        Answer {
            status,
            headers: resp.headers().clone(),
            json,
        }
    }
}
