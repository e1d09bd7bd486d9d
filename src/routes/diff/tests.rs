use super::*;
use serde_json::{json, Value};
use std::path::Path;

use crate::routes::Source;

/// The 2026-08 table (`endpoints.json`) as an OpenAPI document.
fn old() -> Description {
    Description::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/openapi-2026-08.json")).unwrap()
}

fn drift() -> Vec<String> {
    diff(&old(), &Description::builtin().unwrap())
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn lines_for<'a>(lines: &'a [String], prefix: &str) -> Vec<&'a String> {
    lines.iter().filter(|l| l.starts_with(prefix)).collect()
}

fn has(lines: &[String], line: &str) -> bool {
    lines.iter().any(|l| l == line)
}

#[test]
fn the_2026_08_document_loads_with_its_57_operations() {
    let d = old();
    assert_eq!(d.operations.len(), 57);
    let action = d
        .operations
        .iter()
        .find(|o| o.path == "/v2/api/conversations/{contact_number}/action")
        .unwrap();
    assert_eq!(action.scope.as_deref(), Some("CONVERSATIONS_READ"));
    assert_eq!(action.operation_id.as_deref(), Some("conversations.executeAction"));
    assert_eq!(action.error_codes, vec!["INVALID_ACTION"]);
}

#[test]
fn drift_rows_1_to_5_scope_notes_threads_pin_pinned() {
    let lines = drift();
    // 1
    assert!(has(
        &lines,
        "~ PUT /v2/api/conversations/{contact_number}/action: scope CONVERSATIONS_READ -> CONVERSATIONS_WRITE"
    ));
    // 2: nine notes operations, NOTES_READ / NOTES_WRITE.
    let notes: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("+ ") && l.contains("/notes"))
        .collect();
    assert_eq!(notes.len(), 9, "{notes:#?}");
    assert!(notes
        .iter()
        .all(|l| l.contains("scope NOTES_READ") || l.contains("scope NOTES_WRITE")));
    // 3
    let threads = lines_for(&lines, "+ ");
    let threads: Vec<_> = threads.iter().filter(|l| l.contains(" /v2/api/threads")).collect();
    assert_eq!(threads.len(), 7, "{threads:#?}");
    // 4
    assert!(has(
        &lines,
        "+ PUT /v2/api/conversations/{contact_number}/pin (pinConversation, scope CONVERSATIONS_WRITE, errors INVALID_REQUEST_BODY, ALLO_NUMBER_FORBIDDEN, PIN_LIMIT_REACHED)"
    ));
    assert!(lines.iter().any(|l| l.starts_with(
        "+ DELETE /v2/api/conversations/{contact_number}/pin (unpinConversation, scope CONVERSATIONS_WRITE"
    )));
    // 5
    assert!(has(
        &lines,
        "~ GET /v2/api/conversations: query parameter pinned added (loosened)"
    ));
}

#[test]
fn drift_rows_7_to_10_user_pid_deals_partner_error_codes() {
    let lines = drift();
    // 7: the `user_pid` spelling is gone from every dialing-queue operation that took it.
    for line in [
        "~ GET /v2/api/dialing-queues/current: query parameter user_pid removed (tightened)",
        "~ PATCH /v2/api/dialing-queues/current: body property user_pid removed (tightened)",
        "~ POST /v2/api/dialing-queues/current: body property user_pid removed (tightened)",
        "~ DELETE /v2/api/dialing-queues/current/numbers: query parameter user_pid removed (tightened)",
        "~ POST /v2/api/dialing-queues/current/numbers: body property user_pid removed (tightened)",
        "~ PATCH /v2/api/dialing-queues/{queue_id}/assignee: body property user_pid removed (tightened)",
    ] {
        assert!(has(&lines, line), "{line}\n{lines:#?}");
    }
    // 8
    let removed = lines_for(&lines, "- ");
    assert_eq!(
        removed,
        vec![
            "- POST /v2/api/crm/deals",
            "- DELETE /v2/api/crm/deals/{id}",
            "- PATCH /v2/api/crm/deals/{id}"
        ]
    );
    // 9: eighteen partner operations (the three of 2026-08 stay); topups needs the header.
    let partner: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("+ ") && l.contains("/v2/api/partner/"))
        .collect();
    assert_eq!(partner.len(), 18, "{partner:#?}");
    assert!(has(
        &lines,
        "+ POST /v2/api/partner/esims/{id}/topups (buyPartnerEsimTopup, scope PARTNER, requires header Idempotency-Key)"
    ));
    // 10: the new codes appear with the operations that document them.
    let text = lines.join("\n");
    for code in [
        "NOTE_CONTENT_TOO_LONG",
        "THREAD_ALREADY_EXISTS",
        "PIN_LIMIT_REACHED",
        "ESIM_NOT_READY",
    ] {
        assert!(text.contains(code), "{code}");
    }
    // Sorted by path, then method.
    let keys: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let mut words = l.split(' ').skip(1);
            let method = words.next().unwrap_or("").to_string();
            let path = words.next().unwrap_or("").trim_end_matches(':').to_string();
            (path, method)
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

/// Row 6: the built-in document lists the newer topics beside the enum, in an extension
/// (`x-topics-seen-on-newer-pages`, some names truncated): its enum is the 2026-08 one, so the
/// diff reports the extension and what it lists. A document whose enum names them gets an
/// enum change.
#[test]
fn drift_row_6_webhook_topics() {
    let lines = drift();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("/v2/api/webhooks") && l.contains("enum")),
        "{lines:#?}"
    );
    for op in ["POST /v2/api/webhooks", "PUT /v2/api/webhooks/{webhook_id}"] {
        let note = lines
            .iter()
            .find(|l| {
                l.starts_with(&format!(
                    "~ {op}: body /topics/items note x-topics-seen-on-newer-pages added"
                ))
            })
            .unwrap_or_else(|| panic!("{op}: {lines:#?}"));
        assert!(
            note.contains("thread.created") && note.contains("partner.esim.ready"),
            "{note}"
        );
    }

    let mut doc: Value = serde_json::from_str(crate::routes::openapi::BUILTIN_SPEC).unwrap();
    let topic = &mut doc["components"]["schemas"]["WebhookTopic"];
    let mut added = Vec::new();
    for group in ["thread", "conversation_note", "partner"] {
        for name in topic["x-topics-seen-on-newer-pages"][group].as_array().unwrap() {
            let name = name.as_str().unwrap();
            if name.starts_with(group) && !name.contains(' ') {
                added.push(name.to_string());
            }
        }
    }
    for name in &added {
        topic["enum"].as_array_mut().unwrap().push(json!(name));
    }
    let newer = Description::parse(&doc.to_string(), false, Source::BuiltIn).unwrap();
    let lines: Vec<String> = diff(&old(), &newer).iter().map(ToString::to_string).collect();
    let gains = format!("body /topics/items enum gains {} (loosened)", added.join(", "));
    assert!(added.iter().any(|t| t.starts_with("thread.")) && added.iter().any(|t| t.starts_with("partner.")));
    assert!(has(&lines, &format!("~ POST /v2/api/webhooks: {gains}")), "{lines:#?}");
    assert!(
        has(&lines, &format!("~ PUT /v2/api/webhooks/{{webhook_id}}: {gains}")),
        "{lines:#?}"
    );
}

#[test]
fn a_document_against_itself_is_empty() {
    let builtin = Description::builtin().unwrap();
    assert_eq!(diff(&builtin, &builtin), vec![]);
    assert_eq!(diff(&old(), &old()), vec![]);
}

fn one(body: Value) -> Description {
    let doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/x/{id}": {"post": {
            "parameters": [{"name": "n", "in": "query", "schema": {"type": "integer", "maximum": 10}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": body}}}
        }}}
    });
    Description::parse(&doc.to_string(), false, Source::BuiltIn).unwrap()
}

fn effects(old: Value, new: Value) -> Vec<(String, Option<Effect>)> {
    diff(&one(old), &one(new))
        .into_iter()
        .map(|c| match c.kind {
            Kind::Changed { what, effect } => (what, effect),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn tightened_and_loosened_are_told_apart() {
    use Effect::{Loosened, Tightened};
    let s = |max: u64| json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": max}}});
    assert_eq!(
        effects(s(255), s(100)),
        vec![("body /name maxLength 255 -> 100".into(), Some(Tightened))]
    );
    assert_eq!(
        effects(s(100), s(255)),
        vec![("body /name maxLength 100 -> 255".into(), Some(Loosened))]
    );

    let r = |required: Value| json!({"type": "object", "properties": {"a": {}}, "required": required});
    assert_eq!(
        effects(r(json!([])), r(json!(["a"]))),
        vec![("body property a now required".into(), Some(Tightened))]
    );
    assert_eq!(
        effects(r(json!(["a"])), r(json!([]))),
        vec![("body property a no longer required".into(), Some(Loosened))]
    );

    let e = |values: Value| json!({"type": "object", "properties": {"t": {"enum": values}}});
    assert_eq!(
        effects(e(json!(["a"])), e(json!(["a", "b"]))),
        vec![("body /t enum gains b".into(), Some(Loosened))]
    );
    assert_eq!(
        effects(e(json!(["a", "b"])), e(json!(["a"]))),
        vec![("body /t enum loses b".into(), Some(Tightened))]
    );

    // A property dropped from a closed object (said so, or by the default policy) is refused
    // from then on; dropped from an object open to anything, it is merely unchecked.
    let closed = |props: Value| json!({"type": "object", "properties": props, "additionalProperties": false});
    let implicit = |props: Value| json!({"type": "object", "properties": props});
    let open = |props: Value| json!({"type": "object", "properties": props, "additionalProperties": true});
    let both = json!({"a": {"type": "string"}, "b": {"type": "string"}});
    let only_a = json!({"a": {"type": "string"}});
    let removed = |effect| vec![("body property b removed".to_string(), Some(effect))];
    assert_eq!(
        effects(closed(both.clone()), closed(only_a.clone())),
        removed(Tightened)
    );
    assert_eq!(
        effects(closed(both.clone()), implicit(only_a.clone())),
        removed(Tightened)
    );
    assert_eq!(effects(open(both.clone()), open(only_a.clone())), removed(Loosened));
    // Spelled out or by default, closed is closed: no change. Open to anything is one.
    assert_eq!(effects(closed(both.clone()), implicit(both.clone())), vec![]);
    assert_eq!(
        effects(closed(both.clone()), open(both)),
        vec![("body opened".into(), Some(Loosened))]
    );
}

#[test]
fn all_of_is_read_as_one_schema_and_query_and_headers_compare() {
    let flat = json!({"type": "object", "properties": {"a": {"type": "string", "maxLength": 5}}, "required": ["a"]});
    let composed = json!({"allOf": [
        {"type": "object", "properties": {"a": {"type": "string"}}},
        {"properties": {"a": {"maxLength": 5}}, "required": ["a"]}
    ]});
    assert_eq!(effects(flat, composed), vec![]);

    let base = one(json!({}));
    let mut changed = base.clone();
    let op = &mut changed.operations[0];
    op.query[0].schema = json!({"type": "integer", "maximum": 5});
    op.headers.push(crate::routes::openapi::Parameter {
        name: "Idempotency-Key".into(),
        required: true,
        schema: json!(true),
        explode: false,
    });
    op.scope = Some("X_WRITE".into());
    op.error_codes = vec!["NEW_CODE".into()];
    let lines: Vec<String> = diff(&base, &changed).iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        vec![
            "~ POST /x/{id}: scope (none) -> X_WRITE",
            "~ POST /x/{id}: query parameter n maximum 10 -> 5 (tightened)",
            "~ POST /x/{id}: header Idempotency-Key required (tightened)",
            "~ POST /x/{id}: error codes added: NEW_CODE",
        ]
    );
}
