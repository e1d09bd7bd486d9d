//! Conversation notes through `Sandbox::handle`: the create / list / get / update / delete
//! lifecycle, every documented error code, the author rule on the seeded teammate's note, the
//! 4,000 code point limit counted on multi-byte text, and team isolation.

use http::StatusCode;
use serde_json::{json, Value};

use super::{Harness, SALES_KEY, SUPPORT_KEY};
use crate::sandbox::{NOTE_MAX_CHARS, SEEDED_NOTE_ALLO_NUMBER, SEEDED_NOTE_CONTACT, SEEDED_NOTE_ID};

const CONTACT: &str = "+33699887766";
const ALLO: &str = "+33187654321";

fn notes_of(contact: &str) -> String {
    format!("/v2/api/conversations/{contact}/notes")
}

fn note(id: &str) -> String {
    format!("/v2/api/conversations/notes/{id}")
}

fn create(h: &Harness, content: &str) -> Value {
    let a = h.call(
        SALES_KEY,
        "POST",
        &notes_of(CONTACT),
        Some(json!({"content": content, "allo_number": ALLO})),
    );
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json);
    a.json["data"].clone()
}

#[test]
fn lifecycle_create_list_get_update_delete() {
    let h = Harness::new();
    let alice = h.user("sales", 0);

    // The contact number is normalised whatever its spelling; `+` may be percent-encoded.
    let created = h.call(
        SALES_KEY,
        "POST",
        &notes_of("%2B33%206%2099%2088%2077%2066"),
        Some(json!({"content": "Wants a callback on Monday", "allo_number": "+33 1 87 65 43 21"})),
    );
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let data = &created.json["data"];
    let id = data["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("note_") && id.len() == 17, "{id}");
    assert_eq!(data["content"], "Wants a callback on Monday");
    assert_eq!(data["contact_number"], CONTACT);
    assert_eq!(data["allo_number"], ALLO);
    assert_eq!(data["created_by"], alice.id.as_str());
    assert_eq!(data["created_at"], "2026-05-06T10:00:01Z");
    assert_eq!(data["updated_at"], "2026-05-06T10:00:01Z");

    let second = create(&h, "Sent the quote");
    let list = h.call(
        SALES_KEY,
        "GET",
        &format!("{}?allo_number=%2B33187654321", notes_of(CONTACT)),
        None,
    );
    assert_eq!(list.status, StatusCode::OK, "{}", list.json);
    let ids: Vec<&str> = list.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second["id"].as_str().unwrap(), id.as_str()], "newest first");
    assert_eq!(
        list.json["pagination"],
        json!({"page": 1, "size": 20, "total_count": 2, "total_pages": 1, "has_more": false})
    );
    let paged = h.call(
        SALES_KEY,
        "GET",
        &format!("{}?allo_number={ALLO}&page=2&size=1", notes_of("0699887766")),
        None,
    );
    assert_eq!(paged.json["data"][0]["id"], id.as_str());
    assert_eq!(paged.json["pagination"]["total_pages"], 2);
    let other_line = h.call(
        SALES_KEY,
        "GET",
        &format!("{}?allo_number=%2B33100000000", notes_of(CONTACT)),
        None,
    );
    assert_eq!(other_line.json["data"], json!([]));

    let got = h.call(SALES_KEY, "GET", &note(&id), None);
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json["data"]["content"], "Wants a callback on Monday");

    let updated = h.call(
        SALES_KEY,
        "PATCH",
        &note(&id),
        Some(json!({"content": "Callback done"})),
    );
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json);
    assert_eq!(updated.json["data"]["content"], "Callback done");
    assert_eq!(updated.json["data"]["created_at"], "2026-05-06T10:00:01Z");
    assert_ne!(updated.json["data"]["updated_at"], "2026-05-06T10:00:01Z");

    let deleted = h.call(SALES_KEY, "DELETE", &note(&id), None);
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.headers.get("x-request-id").is_some());
    let gone = h.call(SALES_KEY, "GET", &note(&id), None);
    assert_eq!((gone.status, gone.code()), (StatusCode::NOT_FOUND, "NOTE_NOT_FOUND"));
    let again = h.call(SALES_KEY, "DELETE", &note(&id), None);
    assert_eq!(again.code(), "NOTE_NOT_FOUND");
}

#[test]
fn sender_id_alone_names_the_conversation() {
    let h = Harness::new();
    let a = h.call(
        SALES_KEY,
        "POST",
        &notes_of(CONTACT),
        Some(json!({"content": "via the SMS sender", "sender_id": "ALLO"})),
    );
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json);
    assert_eq!(a.json["data"]["sender_id"], "ALLO");
    assert_eq!(a.json["data"]["allo_number"], Value::Null);
}

#[test]
fn content_is_counted_in_code_points() {
    let h = Harness::new();
    // "é" is two bytes and "📞" four in UTF-8: the limit is on characters, not bytes.
    let at_limit = "é".repeat(NOTE_MAX_CHARS - 1) + "📞";
    assert_eq!(at_limit.chars().count(), 4_000);
    assert!(at_limit.len() > 8_000);
    let ok = create(&h, &at_limit);
    assert_eq!(ok["content"].as_str().unwrap().chars().count(), 4_000);

    let over = "é".repeat(NOTE_MAX_CHARS) + "📞";
    let body = json!({"content": over, "allo_number": ALLO});
    let refused = h.call(SALES_KEY, "POST", &notes_of(CONTACT), Some(body));
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.code(), "NOTE_CONTENT_TOO_LONG");
    assert_eq!(refused.json["error"]["param"], "content");

    let id = ok["id"].as_str().unwrap();
    let patch = h.call(SALES_KEY, "PATCH", &note(id), Some(json!({"content": over})));
    assert_eq!(patch.code(), "NOTE_CONTENT_TOO_LONG");
    let patch = h.call(SALES_KEY, "PATCH", &note(id), Some(json!({"content": at_limit})));
    assert_eq!(patch.status, StatusCode::OK);
}

#[test]
fn documented_validation_errors() {
    let h = Harness::new();
    let url = notes_of(CONTACT);
    let cases = [
        (json!({"content": "", "allo_number": ALLO}), "EMPTY_NOTE_CONTENT"),
        (
            json!({"content": " \n\t\u{3000}", "allo_number": ALLO}),
            "EMPTY_NOTE_CONTENT",
        ),
        (json!({"content": "hello"}), "MISSING_ALLO_NUMBER_OR_SENDER_ID"),
        (
            json!({"content": "hello", "allo_number": " ", "sender_id": null}),
            "MISSING_ALLO_NUMBER_OR_SENDER_ID",
        ),
        (json!({"allo_number": ALLO}), "INVALID_REQUEST_BODY"),
        (json!({"content": 7, "allo_number": ALLO}), "INVALID_REQUEST_BODY"),
        (json!({"content": "hello", "allo_number": 33}), "INVALID_REQUEST_BODY"),
        (
            json!({"content": "hello", "allo_number": "not a number"}),
            "INVALID_PHONE_NUMBER",
        ),
    ];
    for (body, code) in cases {
        let a = h.call(SALES_KEY, "POST", &url, Some(body.clone()));
        assert_eq!((a.status, a.code()), (StatusCode::BAD_REQUEST, code), "{body}");
    }
    let no_body = h.call(SALES_KEY, "POST", &url, None);
    assert_eq!(no_body.code(), "INVALID_REQUEST_BODY");
    let bad_contact = h.call(
        SALES_KEY,
        "POST",
        &notes_of("nobody"),
        Some(json!({"content": "x", "allo_number": ALLO})),
    );
    assert_eq!(bad_contact.code(), "INVALID_PHONE_NUMBER");
    assert_eq!(bad_contact.json["error"]["param"], "contact_number");

    let unlisted = h.call(SALES_KEY, "GET", &url, None);
    assert_eq!(
        (unlisted.status, unlisted.code()),
        (StatusCode::BAD_REQUEST, "MISSING_ALLO_NUMBER")
    );
    let big_page = h.call(SALES_KEY, "GET", &format!("{url}?allo_number={ALLO}&size=101"), None);
    assert_eq!(big_page.code(), "INVALID_PAGE_SIZE");

    let id = create(&h, "kept")["id"].as_str().unwrap().to_owned();
    let blank = h.call(SALES_KEY, "PATCH", &note(&id), Some(json!({"content": "   "})));
    assert_eq!(blank.code(), "EMPTY_NOTE_CONTENT");
    let missing = h.call(SALES_KEY, "PATCH", &note("note_missing"), Some(json!({"content": "x"})));
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "NOTE_NOT_FOUND")
    );
    let unchanged = h.call(SALES_KEY, "GET", &note(&id), None);
    assert_eq!(
        unchanged.json["data"]["content"], "kept",
        "refused updates change nothing"
    );
}

#[test]
fn only_the_author_may_change_a_note() {
    let h = Harness::new();
    let bob = h.user("sales", 1);
    let seeded = h.call(SALES_KEY, "GET", &note(SEEDED_NOTE_ID), None);
    assert_eq!(seeded.status, StatusCode::OK, "teammates' notes are readable");
    assert_eq!(seeded.json["data"]["created_by"], bob.id.as_str());
    assert_eq!(seeded.json["data"]["contact_number"], SEEDED_NOTE_CONTACT);
    assert_eq!(seeded.json["data"]["allo_number"], SEEDED_NOTE_ALLO_NUMBER);
    let listed = h.call(
        SALES_KEY,
        "GET",
        &format!(
            "{}?allo_number={SEEDED_NOTE_ALLO_NUMBER}",
            notes_of(SEEDED_NOTE_CONTACT)
        ),
        None,
    );
    assert_eq!(listed.json["data"][0]["id"], SEEDED_NOTE_ID);

    let patch = h.call(
        SALES_KEY,
        "PATCH",
        &note(SEEDED_NOTE_ID),
        Some(json!({"content": "mine now"})),
    );
    assert_eq!(patch.status, StatusCode::FORBIDDEN);
    assert_eq!(patch.code(), "NOT_NOTE_AUTHOR");
    assert_eq!(patch.json["error"]["type"], "permission_error");
    let delete = h.call(SALES_KEY, "DELETE", &note(SEEDED_NOTE_ID), None);
    assert_eq!(
        (delete.status, delete.code()),
        (StatusCode::FORBIDDEN, "NOT_NOTE_AUTHOR")
    );
    let still = h.call(SALES_KEY, "GET", &note(SEEDED_NOTE_ID), None);
    assert_eq!(still.json["data"]["content"], seeded.json["data"]["content"]);
}

#[test]
fn teams_do_not_see_each_others_notes() {
    let h = Harness::new();
    let id = create(&h, "sales only")["id"].as_str().unwrap().to_owned();
    let other = h.call(SUPPORT_KEY, "GET", &note(&id), None);
    assert_eq!(other.code(), "NOTE_NOT_FOUND");
    let other = h.call(SUPPORT_KEY, "DELETE", &note(&id), None);
    assert_eq!(other.code(), "NOTE_NOT_FOUND");
    let list = h.call(
        SUPPORT_KEY,
        "GET",
        &format!("{}?allo_number={ALLO}", notes_of(CONTACT)),
        None,
    );
    assert_eq!(list.json["data"], json!([]));
    // Each team has its own seeded note, under the same id, by its own teammate.
    let seeded = h.call(SUPPORT_KEY, "GET", &note(SEEDED_NOTE_ID), None);
    assert_eq!(seeded.json["data"]["created_by"], h.user("support", 1).id.as_str());
}
