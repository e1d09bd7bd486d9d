//! Key rotation without restart: a team may name a second Allo key (`api_key_fallback`).
//! When Allo answers 401 `API_KEY_INVALID` or `API_KEY_REVOKED` to one key, the request is
//! sent once more with the other key, and if Allo does not refuse that one too the team
//! switches to it: later requests go straight to the key that works, until Allo refuses it
//! in turn. An operator rotates a key by adding the new one as the fallback (or the old one,
//! as the new primary), revoking the old one at Allo whenever suits, and tidying the config
//! later; no request fails in between.
//!
//! Only a 401 is looked into, and only its small body is buffered (bounded) to read Allo's
//! code; every other answer streams through untouched. A team without a fallback takes the
//! plain `Upstream::send` path. The switch is logged with key fingerprints, never the keys,
//! and counted in `allo_gateway_key_switches_total`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};

use crate::answer::Answer;
use crate::body::full;
use crate::metrics::{KeySlot, Metrics};
use crate::state::Team;
use crate::upstream::{Upstream, UpstreamError};

/// Allo's 401 codes that say the key itself is bad, as opposed to the request.
const KEY_REFUSED: [&str; 2] = ["API_KEY_INVALID", "API_KEY_REVOKED"];
/// A 401 body larger than this is not one of Allo's envelopes: it streams through unread.
const MAX_401_BODY: usize = 64 * 1024;
/// How long the rest of a 401 body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the request with the team's preferred key, and once more with its other key if Allo
/// refuses the first one (see the module doc).
pub async fn send(
    upstream: &Upstream,
    team: &Team,
    parts: &http::request::Parts,
    body: Bytes,
    request_id: &HeaderValue,
    metrics: &Metrics,
) -> Result<Answer, UpstreamError> {
    let Some(fallback) = &team.fallback else {
        return upstream.send(parts, body, &team.key, request_id).await;
    };
    let first = if team.prefer_fallback.load(Ordering::Relaxed) {
        KeySlot::Fallback
    } else {
        KeySlot::Primary
    };
    let second = match first {
        KeySlot::Primary => KeySlot::Fallback,
        KeySlot::Fallback => KeySlot::Primary,
    };
    let (first_key, second_key) = match first {
        KeySlot::Primary => (&team.key, fallback),
        KeySlot::Fallback => (fallback, &team.key),
    };
    let response = upstream.send(parts, body.clone(), first_key, request_id).await?;
    let (response, refused) = key_refusal(response).await?;
    let Some(code) = refused else { return Ok(response) };

    let retry = upstream.send(parts, body, second_key, request_id).await?;
    let (retry, refused_again) = key_refusal(retry).await?;
    let request_id = request_id.to_str().unwrap_or_default();
    match refused_again {
        // Many requests may see the same refusal at once; the one that flips the preference
        // logs and counts the switch.
        None if team
            .prefer_fallback
            .compare_exchange(
                first == KeySlot::Fallback,
                second == KeySlot::Fallback,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok() =>
        {
            metrics.key_switch(&team.id, second);
            tracing::warn!(
                team = %team.id,
                request_id,
                code,
                from = first.as_str(),
                from_fingerprint = %first_key.fingerprint(),
                to = second.as_str(),
                to_fingerprint = %second_key.fingerprint(),
                "Allo refused the team's key; switched to its other key"
            );
        }
        None => {}
        Some(again) => tracing::warn!(
            team = %team.id,
            request_id,
            first = first.as_str(),
            first_fingerprint = %first_key.fingerprint(),
            first_code = code,
            second = second.as_str(),
            second_fingerprint = %second_key.fingerprint(),
            second_code = again,
            "Allo refused both of the team's keys"
        ),
    }
    Ok(retry)
}

/// Whether `response` is Allo refusing the key (401 with `API_KEY_INVALID` or
/// `API_KEY_REVOKED`), and the response itself, rebuilt from its buffered body if it had to be
/// read. Anything but a 401 is returned as it came, unread.
async fn key_refusal(mut answer: Answer) -> Result<(Answer, Option<&'static str>), UpstreamError> {
    if answer.status() != StatusCode::UNAUTHORIZED || answer.declared_length().is_some_and(|n| n > MAX_401_BODY as u64)
    {
        return Ok((answer, None));
    }
    let body = std::mem::replace(answer.response.body_mut(), full(Bytes::new()));
    // Boxed as `dyn Future + Send`: left generic, this future trips the compiler's Send
    // check of the whole request future (rust-lang/rust#64552 family).
    let collect: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(Limited::new(body, MAX_401_BODY).collect());
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, collect).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) => return Err(UpstreamError::Unavailable(e)),
        Err(_) => return Err(UpstreamError::Timeout(BODY_TIMEOUT)),
    };
    let code = refusal_code(&bytes);
    *answer.response.body_mut() = full(bytes);
    Ok((answer, code))
}

/// The key-refusal code in Allo's answer, if that is what `body` holds.
fn refusal_code(body: &[u8]) -> Option<&'static str> {
    let code = crate::envelope::allo_error_code(body)?;
    KEY_REFUSED.into_iter().find(|known| *known == code)
}

#[cfg(test)]
mod tests {
    use http::Response;

    use super::*;

    #[test]
    fn reads_v2_and_v1_key_codes_only() {
        assert_eq!(
            refusal_code(br#"{"error":{"type":"authentication_error","code":"API_KEY_REVOKED"}}"#),
            Some("API_KEY_REVOKED")
        );
        assert_eq!(
            refusal_code(br#"{"code":"API_KEY_INVALID","details":null}"#),
            Some("API_KEY_INVALID")
        );
        assert_eq!(refusal_code(br#"{"error":{"code":"UNAUTHORIZED"}}"#), None);
        assert_eq!(refusal_code(b"not json"), None);
        assert_eq!(refusal_code(b""), None);
    }

    #[tokio::test]
    async fn other_answers_are_not_read() {
        let mut ok = Response::new(full("{}"));
        *ok.status_mut() = StatusCode::OK;
        let (ok, code) = key_refusal(ok.into()).await.unwrap();
        assert_eq!((ok.status(), code), (StatusCode::OK, None));

        let mut refused = Response::new(full(r#"{"error":{"code":"API_KEY_INVALID"}}"#));
        *refused.status_mut() = StatusCode::UNAUTHORIZED;
        let (refused, code) = key_refusal(refused.into()).await.unwrap();
        assert_eq!(code, Some("API_KEY_INVALID"));
        let body = refused.response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"error":{"code":"API_KEY_INVALID"}}"#);
    }

    #[tokio::test]
    async fn an_oversized_401_body_is_an_upstream_failure() {
        let mut big = Response::new(full(vec![b' '; MAX_401_BODY + 1]));
        *big.status_mut() = StatusCode::UNAUTHORIZED;
        assert!(matches!(
            key_refusal(big.into()).await,
            Err(UpstreamError::Unavailable(_))
        ));
    }
}
