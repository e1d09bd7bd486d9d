use super::*;

fn table() -> RouteTable {
    RouteTable::builtin(UnknownFields::Reject).unwrap()
}

fn id(m: Match<'_>) -> String {
    match m {
        Match::Found(r) => r.id.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn every_endpoint_loads_and_matches_its_own_template() {
    let t = table();
    assert!(t.len() >= 50);
    for route in t.routes() {
        let path = route.template.replace('{', "x").replace('}', "");
        match t.find(&route.method, &path) {
            Match::Found(found) => assert_eq!(found.template, route.template, "{}", route.id),
            other => panic!("{} did not match: {other:?}", route.id),
        }
    }
}

#[test]
fn literals_win_over_parameters() {
    let t = table();
    assert_eq!(
        id(t.find(&Method::GET, "/v2/api/webhooks/event_types")),
        "webhooks.eventTypes"
    );
    assert_eq!(id(t.find(&Method::GET, "/v2/api/webhooks/wh_1")), "webhooks.get");
    // A literal path whose literal template is for another method: the parameter's turn.
    assert_eq!(
        id(t.find(&Method::DELETE, "/v2/api/webhooks/event_types")),
        "webhooks.delete"
    );
    assert_eq!(
        id(t.find(&Method::POST, "/v2/api/conversations/items/search")),
        "conversations.searchItems"
    );
    assert_eq!(
        id(t.find(&Method::POST, "/v2/api/dialing-queues/current")),
        "dialingQueues.resetCurrent"
    );
}

#[test]
fn wrong_method_and_unknown_paths() {
    let t = table();
    match t.find(&Method::PUT, "/v2/api/users") {
        Match::MethodNotAllowed { allowed } => assert_eq!(allowed, vec![Method::GET, Method::HEAD]),
        other => panic!("{other:?}"),
    }
    match t.find(&Method::PUT, "/v2/api/dialing-queues/current") {
        Match::MethodNotAllowed { allowed } => {
            assert_eq!(allowed, vec![Method::GET, Method::HEAD, Method::PATCH, Method::POST])
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(t.find(&Method::GET, "/v2/api/nope"), Match::NotFound));
    assert!(matches!(t.find(&Method::HEAD, "/v2/api/nope"), Match::NotFound));
    assert!(matches!(t.find(&Method::GET, "/v2/api/users/"), Match::NotFound));
    assert!(matches!(t.find(&Method::GET, "//v2/api/users"), Match::NotFound));
    assert!(matches!(t.find(&Method::GET, "v2/api/users"), Match::NotFound));
}

#[test]
fn route_patterns() {
    assert!(RoutePattern::parse("dialingQueues.*").matches("dialingQueues.resetCurrent"));
    assert!(!RoutePattern::parse("dialingQueues.*").matches("users.list"));
    assert!(RoutePattern::parse("users.list").matches("users.list"));
    assert!(!RoutePattern::parse("users.list").matches("users.get"));
}

#[test]
fn builtin_rules_hold_even_when_a_document_drops_them() {
    use serde_json::json;
    let doc = json!({
        "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
        "paths": {"/v2/api/dialing-queues/current": {"post": {
            "x-scope": "DIALING_QUEUE_READ_WRITE",
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "user_id": {"type": "string"}}
            }}}}
        }}}
    });
    let d = Description::parse(&doc.to_string(), false, Source::BuiltIn).unwrap();
    let t = RouteTable::build(&d, &Rules::default(), UnknownFields::Reject).unwrap();
    let Match::Found(reset) = t.find(&Method::POST, "/v2/api/dialing-queues/current") else {
        panic!("no reset route")
    };
    assert_eq!(&*reset.id, "dialingQueues.resetCurrent");
    // The document says nothing of length or format: the built-in rule does.
    assert!(reset.schemas.body_extra.is_some());
    let long = json!({"name": "x".repeat(256)});
    assert!(!reset.schemas.body_extra.as_ref().unwrap().is_valid(&long));
    let bad_email = json!({"email": "nope"});
    assert!(!reset.schemas.body_extra.as_ref().unwrap().is_valid(&bad_email));

    // The built-in document states both: no second check is compiled.
    let builtin = table();
    let Match::Found(reset) = builtin.find(&Method::POST, "/v2/api/dialing-queues/current") else {
        panic!("no reset route")
    };
    assert!(reset.schemas.body_extra.is_none());
}

#[test]
fn an_operators_rules_are_checked_against_the_description() {
    let d = Description::builtin().unwrap();
    let rules = Rules::parse(
        r#"
[operations."GET /v2/api/users"]
blocked = true
[operations."POST /v2/api/nowhere"]
scope = "X"
"#,
        Origin::File("rules.toml".into()),
    )
    .unwrap();
    let err = RouteTable::build(&d, &rules, UnknownFields::Reject).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(
        err.problems[0].contains(r#"operations."POST /v2/api/nowhere""#),
        "{err}"
    );

    let bad = Rules::parse(
        "[operations.\"GET /v2/api/users\"]\nblockd = true\nclass = \"fast\"\n",
        Origin::BuiltIn,
    )
    .unwrap_err();
    let text: Vec<String> = bad.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|p| p.contains("blockd") && p.contains("unknown key")),
        "{text:?}"
    );
    assert!(text.iter().any(|p| p.contains(".class")), "{text:?}");
}

#[test]
fn objects_are_closed_and_composed_ones_still_accept_their_parts() {
    use serde_json::json;
    let doc = json!({
        "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
        "paths": {
            "/plain": {"post": {"requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "properties": {"a": {"type": "string"}}
            }}}}}},
            "/composed": {"post": {"requestBody": {"content": {"application/json": {"schema": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}},
                    {"type": "object", "properties": {"b": {"type": "object", "properties": {"c": {"type": "integer"}}}}}
                ]
            }}}}}},
            "/free": {"post": {"requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "properties": {"meta": {"type": "object"}}
            }}}}}}
        }
    });
    let d = Description::parse(&doc.to_string(), false, Source::BuiltIn).unwrap();
    let t = RouteTable::build(&d, &Rules::default(), UnknownFields::Reject).unwrap();
    let body = |path: &str| match t.find(&Method::POST, path) {
        Match::Found(r) => r.clone(),
        other => panic!("{other:?}"),
    };
    let valid = |path: &str, v: serde_json::Value| body(path).schemas.body[0].is_valid(&v);
    assert!(valid("/plain", json!({"a": "x"})));
    assert!(!valid("/plain", json!({"a": "x", "z": 1})));
    assert!(valid("/composed", json!({"a": "x", "b": {"c": 1}})));
    assert!(!valid("/composed", json!({"a": "x", "z": 1})));
    assert!(!valid("/composed", json!({"b": {"c": 1, "z": 1}})));
    // A bare `type: object` is a free-form map.
    assert!(valid("/free", json!({"meta": {"anything": [1, 2]}})));
    assert!(!valid("/free", json!({"meta": {}, "z": 1})));

    let open = RouteTable::build(&d, &Rules::default(), UnknownFields::Allow).unwrap();
    let Match::Found(plain) = open.find(&Method::POST, "/plain") else {
        panic!()
    };
    assert!(plain.schemas.body[0].is_valid(&json!({"a": "x", "z": 1})));
}

#[test]
fn a_parameter_is_never_a_path_step() {
    let t = table();
    for path in [
        "/v2/api/users/..",
        "/v2/api/users/.",
        "/v2/api/users/%2e%2e",
        "/v2/api/users/%2E%2E",
        "/v2/api/users/.%2e",
        "/v2/api/users/..%2Fconversations",
        "/v2/api/users/..%2fconversations",
        "/v2/api/users/usr_1%2F..",
        "/v2/api/users/a%5Cb",
        "/v2/api/users/a\\b",
        "/v2/api/users/usr_1%00",
        "/v2/api/users/..;x",
        "/v2/api/conversations/../notes",
        "/v2/api/conversations/%2e%2e/notes",
    ] {
        assert!(matches!(t.find(&Method::GET, path), Match::NotFound), "{path}");
    }
    // Not a 405 either: the path fits no template.
    assert!(matches!(t.find(&Method::PUT, "/v2/api/users/.."), Match::NotFound));
}

#[test]
fn ordinary_parameters_still_match() {
    let t = table();
    assert_eq!(id(t.find(&Method::GET, "/v2/api/users/usr_1")), "users.get");
    assert_eq!(id(t.find(&Method::GET, "/v2/api/users/john.doe")), "users.get");
    for number in ["+33612345678", "%2B33612345678", "%2b33612345678"] {
        let path = format!("/v2/api/conversations/{number}/notes");
        match t.find(&Method::GET, &path) {
            Match::Found(route) => assert_eq!(route.template, "/v2/api/conversations/{contact_number}/notes"),
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn head_is_the_get_route_where_the_table_has_no_head_of_its_own() {
    let t = table();
    for path in ["/v2/api/users", "/v2/api/webhooks/event_types", "/v2/api/webhooks/wh_1"] {
        let (Match::Found(head), Match::Found(get)) = (t.find(&Method::HEAD, path), t.find(&Method::GET, path)) else {
            panic!("{path}: HEAD or GET not found");
        };
        assert!(Arc::ptr_eq(head, get), "{path}");
        assert_eq!(head.class, RateClass::Read);
    }
    // A path with no GET has no HEAD either, and says which methods it has.
    match t.find(&Method::HEAD, "/v2/api/analytics/overview") {
        Match::MethodNotAllowed { allowed } => assert!(!allowed.contains(&Method::HEAD), "{allowed:?}"),
        other => panic!("{other:?}"),
    }
}
