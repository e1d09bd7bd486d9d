//! The Power Dialer through `Sandbox::handle`: a full lifecycle, teammate targeting, team
//! isolation, capacity and the documented 400/404 errors.

use http::StatusCode;
use serde_json::json;

use super::{Harness, SALES_KEY, SUPPORT_KEY};

const CURRENT: &str = "/v2/api/dialing-queues/current";
const NUMBERS: &str = "/v2/api/dialing-queues/current/numbers";

#[test]
fn lifecycle_reset_upsert_append_get_clear_reassign() {
    let h = Harness::new();
    let alice = h.user("sales", 0);
    let bob = h.user("sales", 1);

    let reset = h.call(SALES_KEY, "POST", CURRENT, Some(json!({"name": "Monday cold calls"})));
    assert_eq!(reset.status, StatusCode::OK);
    let queue = &reset.json["data"];
    let queue_id = queue["id"].as_str().unwrap().to_owned();
    assert!(queue_id.starts_with("pdl_"));
    assert_eq!(queue["name"], "Monday cold calls");
    assert_eq!(queue["creator_id"], alice.id.as_str());
    assert_eq!(queue["assignee_id"], alice.id.as_str());
    assert_eq!(queue["voicemail_handling"], "NO_SKIP");
    assert_eq!(queue["do_not_disturb"], "DISABLED");
    assert_eq!(queue["numbers"], json!([]));
    assert_eq!(queue["created_at"], "2026-05-06T10:00:01Z");

    let upsert = h.call(SALES_KEY, "PATCH", CURRENT, Some(json!({"voicemail_handling": "SKIP"})));
    assert_eq!(upsert.status, StatusCode::OK);
    assert_eq!(upsert.json["data"]["id"], queue_id.as_str());
    assert_eq!(
        upsert.json["data"]["name"], "Monday cold calls",
        "untouched fields stay"
    );
    assert_eq!(upsert.json["data"]["voicemail_handling"], "SKIP");
    assert_eq!(upsert.json["data"]["updated_at"], "2026-05-06T10:00:02Z");

    let append = h.call(
        SALES_KEY,
        "POST",
        NUMBERS,
        Some(json!({"numbers": [
            {"number": "+33 6 12 34 56 78", "name": "Jean"},
            {"number": "06 12 34 56 79"},
            {"number": "call me maybe"},
            {"number": "+1 (212) 555-0010", "emails": ["a@b.example"]},
            {"number": "+33612345678"},
        ]})),
    );
    assert_eq!(append.status, StatusCode::OK, "{}", append.json);
    let added: Vec<_> = append.json["data"]["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["number_to"].as_str().unwrap().to_owned(),
                n["position"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        added,
        vec![
            ("+33612345678".to_owned(), 0),
            ("+33612345679".to_owned(), 1),
            ("+12125550010".to_owned(), 2),
            ("+33612345678".to_owned(), 3),
        ]
    );
    assert_eq!(
        append.json["data"]["skipped"],
        json!([{"number": "call me maybe", "reason": "INVALID_PHONE_NUMBER"}])
    );
    assert_eq!(append.json["data"]["added"][0]["call_start_date"], json!(null));

    let get = h.call(SALES_KEY, "GET", CURRENT, None);
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(get.json["data"].as_array().unwrap().len(), 4);
    assert_eq!(
        get.json["pagination"],
        json!({"page": 1, "size": 20, "total_count": 4, "total_pages": 1, "has_more": false})
    );
    assert_eq!(get.json["queue"]["id"], queue_id.as_str());
    assert!(get.json["queue"].get("numbers").is_none(), "queue is DialingQueueMeta");

    let page = h.call(SALES_KEY, "GET", &format!("{CURRENT}?page=1&size=3"), None);
    assert_eq!(page.json["data"].as_array().unwrap().len(), 3);
    assert_eq!(page.json["pagination"]["has_more"], true);
    assert_eq!(page.json["pagination"]["total_pages"], 2);

    let by_number = h.call(
        SALES_KEY,
        "DELETE",
        &format!("{NUMBERS}?number=%2B33%206%2012%2034%2056%2078"),
        None,
    );
    assert_eq!(by_number.json, json!({"data": {"removed": 2}}));
    let by_position = h.call(SALES_KEY, "DELETE", &format!("{NUMBERS}?position=1"), None);
    assert_eq!(by_position.json, json!({"data": {"removed": 1}}));
    let again = h.call(SALES_KEY, "DELETE", &format!("{NUMBERS}?position=1"), None);
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.code(), "QUEUE_NUMBER_POSITION_NOT_FOUND");
    assert_eq!(again.json["error"]["param"], "position");
    let unassigned = h.call(SALES_KEY, "DELETE", &format!("{NUMBERS}?unassigned=true"), None);
    assert_eq!(unassigned.json, json!({"data": {"removed": 1}}));
    let empty = h.call(SALES_KEY, "GET", CURRENT, None);
    assert_eq!(empty.json["data"], json!([]));
    assert_eq!(empty.json["queue"]["id"], queue_id.as_str());

    let reassign = h.call(
        SALES_KEY,
        "PATCH",
        &format!("/v2/api/dialing-queues/{queue_id}/assignee"),
        Some(json!({"email": bob.email})),
    );
    assert_eq!(reassign.status, StatusCode::OK, "{}", reassign.json);
    assert_eq!(reassign.json["data"]["assignee_id"], bob.id.as_str());
    assert_eq!(reassign.json["data"]["creator_id"], alice.id.as_str());

    let mine = h.call(SALES_KEY, "GET", CURRENT, None);
    assert!(mine.json.get("queue").is_none(), "alice has no queue any more");
    assert_eq!(mine.json["pagination"]["total_count"], 0);
    let bobs = h.call(SALES_KEY, "GET", &format!("{CURRENT}?user_id={}", bob.id), None);
    assert_eq!(bobs.json["queue"]["id"], queue_id.as_str());
}

#[test]
fn teammate_targeting_by_pid_id_and_email() {
    let h = Harness::new();
    let alice = h.user("sales", 0);
    let bob = h.user("sales", 1);
    let chloe = h.user("sales", 2);

    let reset = h.call(SALES_KEY, "POST", CURRENT, Some(json!({"user_pid": bob.id})));
    assert_eq!(reset.json["data"]["assignee_id"], bob.id.as_str());
    assert_eq!(reset.json["data"]["creator_id"], alice.id.as_str());
    assert_eq!(reset.json["data"]["name"], json!(null));

    // user_id wins over email; appending to chloe creates her queue implicitly.
    let append = h.call(
        SALES_KEY,
        "POST",
        NUMBERS,
        Some(json!({"user_id": chloe.id, "email": bob.email, "numbers": [{"number": "+14155551234"}]})),
    );
    assert_eq!(append.status, StatusCode::OK);
    let chloes = h.call(
        SALES_KEY,
        "GET",
        &format!("{CURRENT}?email={}", chloe.email.replace('@', "%40")),
        None,
    );
    assert_eq!(chloes.json["queue"]["assignee_id"], chloe.id.as_str());
    assert_eq!(chloes.json["pagination"]["total_count"], 1);
    let bobs = h.call(SALES_KEY, "GET", &format!("{CURRENT}?user_pid={}", bob.id), None);
    assert_eq!(bobs.json["pagination"]["total_count"], 0);
    assert!(bobs.json.get("queue").is_some());

    let clash = h.call(
        SALES_KEY,
        "POST",
        CURRENT,
        Some(json!({"user_id": bob.id, "user_pid": chloe.id})),
    );
    assert_eq!(clash.status, StatusCode::BAD_REQUEST);
    assert_eq!(clash.code(), "INVALID_REQUEST_BODY");
}

#[test]
fn unknown_teammate_is_404_everywhere() {
    let h = Harness::new();
    let cases = [
        ("GET", format!("{CURRENT}?user_id=usr-NOPE"), None),
        (
            "DELETE",
            format!("{NUMBERS}?unassigned=true&email=eve%40sales.example"),
            None,
        ),
        ("POST", CURRENT.to_owned(), Some(json!({"email": "eve@sales.example"}))),
        ("PATCH", CURRENT.to_owned(), Some(json!({"user_id": "usr-NOPE"}))),
        (
            "POST",
            NUMBERS.to_owned(),
            Some(json!({"user_pid": "usr-NOPE", "numbers": [{"number": "+14155551234"}]})),
        ),
    ];
    for (method, uri, body) in cases {
        let a = h.call(SALES_KEY, method, &uri, body);
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(a.code(), "ASSIGNEE_NOT_FOUND");
        assert_eq!(a.json["error"]["type"], "not_found_error");
    }
    let queue = h.call(SALES_KEY, "POST", CURRENT, None);
    let id = queue.json["data"]["id"].as_str().unwrap();
    let a = h.call(
        SALES_KEY,
        "PATCH",
        &format!("/v2/api/dialing-queues/{id}/assignee"),
        Some(json!({"user_id": "usr-NOPE"})),
    );
    assert_eq!(a.code(), "ASSIGNEE_NOT_FOUND");
}

#[test]
fn two_teams_never_mix() {
    let h = Harness::new();
    let sales_bob = h.user("sales", 1);
    let support_owner = h.user("support", 0);
    assert_eq!(support_owner.email, "alice@support.example");
    assert_ne!(support_owner.id, h.user("sales", 0).id);

    let reset = h.call(SALES_KEY, "POST", CURRENT, Some(json!({"name": "sales only"})));
    let sales_queue = reset.json["data"]["id"].as_str().unwrap().to_owned();
    h.call(
        SALES_KEY,
        "POST",
        NUMBERS,
        Some(json!({"numbers": [{"number": "+14155551234"}]})),
    );

    let theirs = h.call(SUPPORT_KEY, "GET", CURRENT, None);
    assert_eq!(theirs.json["data"], json!([]));
    assert!(theirs.json.get("queue").is_none());

    let cross = h.call(SUPPORT_KEY, "GET", &format!("{CURRENT}?user_id={}", sales_bob.id), None);
    assert_eq!(cross.code(), "ASSIGNEE_NOT_FOUND");
    let steal = h.call(
        SUPPORT_KEY,
        "PATCH",
        &format!("/v2/api/dialing-queues/{sales_queue}/assignee"),
        Some(json!({"user_id": support_owner.id})),
    );
    assert_eq!(steal.code(), "DIALING_QUEUE_NOT_FOUND");
    let wipe = h.call(SUPPORT_KEY, "DELETE", &format!("{NUMBERS}?unassigned=true"), None);
    assert_eq!(wipe.code(), "DIALING_QUEUE_NOT_FOUND");

    let users = h.call(SUPPORT_KEY, "GET", "/v2/api/users", None);
    assert!(!users.json.to_string().contains("sales.example"));
    let still = h.call(SALES_KEY, "GET", CURRENT, None);
    assert_eq!(still.json["pagination"]["total_count"], 1);
}

#[test]
fn capacity_is_one_thousand() {
    let h = Harness::new();
    let numbers: Vec<_> = (0..1000)
        .map(|i| json!({"number": format!("+1415555{i:04}")}))
        .collect();
    let full = h.call(SALES_KEY, "POST", NUMBERS, Some(json!({"numbers": numbers})));
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.json["data"]["added"].as_array().unwrap().len(), 1000);
    let over = h.call(
        SALES_KEY,
        "POST",
        NUMBERS,
        Some(json!({"numbers": [{"number": "+14155551234"}]})),
    );
    assert_eq!(over.status, StatusCode::BAD_REQUEST);
    assert_eq!(over.code(), "DIALING_QUEUE_LIMIT_REACHED");
    let get = h.call(SALES_KEY, "GET", &format!("{CURRENT}?size=100&page=10"), None);
    assert_eq!(get.json["pagination"]["total_count"], 1000);
    assert_eq!(get.json["pagination"]["has_more"], false);
    assert_eq!(get.json["data"][99]["position"], 999);
    // Skipped numbers do not count against the capacity.
    let skipped = h.call(
        SALES_KEY,
        "POST",
        NUMBERS,
        Some(json!({"numbers": [{"number": "nope"}]})),
    );
    assert_eq!(skipped.status, StatusCode::OK);
}

#[test]
fn documented_validation_errors() {
    let h = Harness::new();
    let cases = [
        (
            "DELETE",
            NUMBERS.to_owned(),
            None,
            400,
            "DIALING_QUEUE_DELETE_FILTER_REQUIRED",
        ),
        (
            "DELETE",
            format!("{NUMBERS}?unassigned=false"),
            None,
            400,
            "DIALING_QUEUE_DELETE_FILTER_REQUIRED",
        ),
        (
            "DELETE",
            format!("{NUMBERS}?unassigned=true&position=0"),
            None,
            400,
            "DIALING_QUEUE_DELETE_FILTER_CONFLICT",
        ),
        (
            "DELETE",
            format!("{NUMBERS}?number=abc"),
            None,
            400,
            "INVALID_PHONE_NUMBER",
        ),
        (
            "DELETE",
            format!("{NUMBERS}?position=-1"),
            None,
            400,
            "INVALID_QUERY_PARAMETER",
        ),
        (
            "DELETE",
            format!("{NUMBERS}?number=%2B14155551234"),
            None,
            404,
            "DIALING_QUEUE_NOT_FOUND",
        ),
        ("GET", format!("{CURRENT}?size=101"), None, 400, "INVALID_PAGE_SIZE"),
        ("GET", format!("{CURRENT}?size=0"), None, 400, "INVALID_PAGE_SIZE"),
        ("GET", format!("{CURRENT}?page=0"), None, 400, "INVALID_QUERY_PARAMETER"),
        (
            "PATCH",
            "/v2/api/dialing-queues/pdl_missing/assignee".to_owned(),
            None,
            400,
            "DIALING_QUEUE_ASSIGNEE_REQUIRED",
        ),
        (
            "PATCH",
            "/v2/api/dialing-queues/pdl_missing/assignee".to_owned(),
            Some(json!({"email": "bob@sales.example"})),
            404,
            "DIALING_QUEUE_NOT_FOUND",
        ),
        (
            "PATCH",
            CURRENT.to_owned(),
            Some(json!({"name": ""})),
            400,
            "INVALID_REQUEST_BODY",
        ),
        (
            "POST",
            CURRENT.to_owned(),
            Some(json!({"name": "é".repeat(256)})),
            400,
            "INVALID_REQUEST_BODY",
        ),
        (
            "POST",
            NUMBERS.to_owned(),
            Some(json!({"numbers": []})),
            400,
            "INVALID_REQUEST_BODY",
        ),
        ("POST", NUMBERS.to_owned(), Some(json!({})), 400, "INVALID_REQUEST_BODY"),
    ];
    for (method, uri, body, status, code) in cases {
        let a = h.call(SALES_KEY, method, &uri, body);
        assert_eq!(a.status.as_u16(), status, "{method} {uri}: {}", a.json);
        assert_eq!(a.code(), code, "{method} {uri}");
    }
    let ok = h.call(SALES_KEY, "POST", CURRENT, Some(json!({"name": "é".repeat(255)})));
    assert_eq!(ok.status, StatusCode::OK);

    // Every problem is listed, each with a JSON pointer.
    let bad = h.call(
        SALES_KEY,
        "PATCH",
        CURRENT,
        Some(json!({"voicemail_handling": "SOMETIMES", "do_not_disturb": 1, "name": null})),
    );
    let fields: Vec<_> = bad.json["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, vec!["/voicemail_handling", "/do_not_disturb"]);
    let items = h.call(
        SALES_KEY,
        "POST",
        NUMBERS,
        Some(json!({"numbers": [7, {"number": 5}, {"number": "+1", "emails": "x"}]})),
    );
    let fields: Vec<_> = items.json["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, vec!["/numbers/0", "/numbers/1/number", "/numbers/2/emails"]);
}

#[test]
fn bodies_must_be_json_objects() {
    let h = Harness::new();
    for body in ["{", "[1]", "null", "{\"a\":1} trailing"] {
        h.clock.advance(std::time::Duration::from_secs(1));
        let a = h.raw(Some(SALES_KEY), "POST", CURRENT, Some(body.to_owned()));
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(a.code(), "INVALID_REQUEST_BODY");
    }
    let req = http::Request::builder()
        .method("POST")
        .uri(CURRENT)
        .header("authorization", format!("Api-Key {SALES_KEY}"))
        .header("content-type", "text/plain")
        .body(bytes::Bytes::from_static(b"{}"))
        .unwrap();
    let a = h.send(req);
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(a.code(), "UNSUPPORTED_MEDIA_TYPE");
    // An empty PATCH has nothing to apply: the body is required there.
    let a = h.call(SALES_KEY, "PATCH", CURRENT, None);
    assert_eq!(a.code(), "INVALID_REQUEST_BODY");
}
