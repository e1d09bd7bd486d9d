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
        Match::MethodNotAllowed { allowed } => assert_eq!(allowed, vec![Method::GET]),
        other => panic!("{other:?}"),
    }
    match t.find(&Method::PUT, "/v2/api/dialing-queues/current") {
        Match::MethodNotAllowed { allowed } => {
            assert_eq!(allowed, vec![Method::GET, Method::PATCH, Method::POST])
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(t.find(&Method::GET, "/v2/api/nope"), Match::NotFound));
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
