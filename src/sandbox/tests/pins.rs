//! Pinning through `Sandbox::handle`: 204 with no body, ten pins per user then 409, idempotent
//! pins, unpin freeing a slot, the documented 400s, and per-team limits.

use http::StatusCode;
use serde_json::json;

use super::{Harness, SALES_KEY, SUPPORT_KEY};
use crate::sandbox::MAX_PINS;

const ALLO: &str = "+33187654321";

fn pin_url(i: usize) -> String {
    format!("/v2/api/conversations/+336000000{i:02}/pin")
}

fn pin(h: &Harness, key: &str, i: usize) -> super::Answer {
    h.call(key, "PUT", &pin_url(i), Some(json!({"allo_number": ALLO})))
}

#[test]
fn ten_pins_then_conflict_and_unpin_frees_a_slot() {
    let h = Harness::new();
    for i in 0..MAX_PINS {
        let a = pin(&h, SALES_KEY, i);
        assert_eq!(a.status, StatusCode::NO_CONTENT, "pin {i}: {}", a.json);
    }
    // Pinning a pinned conversation again, in another spelling, is a no-op even at the limit.
    let again = h.call(
        SALES_KEY,
        "PUT",
        "/v2/api/conversations/06%2000%2000%2000%2003/pin",
        Some(json!({"allo_number": "+33 1 87 65 43 21"})),
    );
    assert_eq!(again.status, StatusCode::NO_CONTENT);

    let eleventh = pin(&h, SALES_KEY, MAX_PINS);
    assert_eq!(eleventh.status, StatusCode::CONFLICT);
    assert_eq!(eleventh.code(), "PIN_LIMIT_REACHED");
    assert_eq!(eleventh.json["error"]["type"], "conflict_error");
    assert_eq!(eleventh.json["error"]["retryable"], false);

    // The same contact on another Allo number is another conversation: also refused.
    let other_line = h.call(
        SALES_KEY,
        "PUT",
        &pin_url(0),
        Some(json!({"allo_number": "+33100000000"})),
    );
    assert_eq!(other_line.code(), "PIN_LIMIT_REACHED");

    // The other team's key owner has a budget of their own.
    assert_eq!(pin(&h, SUPPORT_KEY, MAX_PINS).status, StatusCode::NO_CONTENT);

    // Unpin (the `+` of the query sent unencoded reads as a space and is understood).
    let unpin = h.call(SALES_KEY, "DELETE", &format!("{}?allo_number={ALLO}", pin_url(3)), None);
    assert_eq!(unpin.status, StatusCode::NO_CONTENT);
    assert!(unpin.headers.get("x-ratelimit-limit").is_some());
    let not_pinned = h.call(
        SALES_KEY,
        "DELETE",
        &format!("{}?allo_number=%2B33187654321", pin_url(3)),
        None,
    );
    assert_eq!(not_pinned.status, StatusCode::NO_CONTENT, "unpinning twice is a no-op");
    assert_eq!(pin(&h, SALES_KEY, MAX_PINS).status, StatusCode::NO_CONTENT);
    assert_eq!(pin(&h, SALES_KEY, MAX_PINS + 1).code(), "PIN_LIMIT_REACHED");
}

#[test]
fn missing_allo_number_is_refused() {
    let h = Harness::new();
    for body in [
        None,
        Some(json!({})),
        Some(json!({"allo_number": ""})),
        Some(json!({"allo_number": "  "})),
        Some(json!({"allo_number": null})),
        Some(json!({"allo_number": 33187654321u64})),
    ] {
        let a = h.call(SALES_KEY, "PUT", &pin_url(0), body.clone());
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "INVALID_REQUEST_BODY"),
            "{body:?}"
        );
        assert_eq!(a.json["error"]["param"], "allo_number");
    }
    for query in ["", "?allo_number=", "?other=1"] {
        let a = h.call(SALES_KEY, "DELETE", &format!("{}{query}", pin_url(0)), None);
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "MISSING_PARAMETER"),
            "{query}"
        );
    }
    let bad_contact = h.call(
        SALES_KEY,
        "PUT",
        "/v2/api/conversations/abc/pin",
        Some(json!({"allo_number": ALLO})),
    );
    assert_eq!(bad_contact.code(), "INVALID_PHONE_NUMBER");
    // Nothing was pinned by the refused calls: ten fresh pins still fit.
    for i in 0..MAX_PINS {
        assert_eq!(pin(&h, SALES_KEY, i).status, StatusCode::NO_CONTENT);
    }
}
