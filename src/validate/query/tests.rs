use super::*;
use crate::config::UnknownFields;
use crate::envelope::FieldError;
use crate::routes::{Match, Route, RouteTable};

fn route(table: &RouteTable, method: http::Method, path: &str) -> std::sync::Arc<Route> {
    match table.find(&method, path) {
        Match::Found(route) => route.clone(),
        _ => panic!("no route for {path}"),
    }
}

fn run(route: &Route, query: Option<&str>) -> (Option<String>, Vec<FieldError>) {
    let (rewritten, errors) = check(&route.schemas, &route.rename, query);
    (rewritten, errors.listing().listed.clone())
}

#[test]
fn an_empty_query_is_checked_against_the_required_parameters() {
    let table = RouteTable::builtin(UnknownFields::Reject).unwrap();
    let conversations = route(&table, http::Method::GET, "/v2/api/conversations");
    assert!(!conversations.schemas.empty_query_valid);
    let (_, errors) = run(&conversations, None);
    assert!(
        errors.iter().any(|e| e.field == "/allo_number" && e.code == "required"),
        "{errors:?}"
    );
    assert!(run(&conversations, Some("allo_number=%2B33612345678")).1.is_empty());
    assert!(run(&conversations, Some("allo_number=%2B33612345678&pinned=true"))
        .1
        .is_empty());

    let users = route(&table, http::Method::GET, "/v2/api/users");
    assert!(users.schemas.empty_query_valid);
    assert!(run(&users, None).1.is_empty());
    assert!(run(&users, Some("")).1.is_empty());
}

#[test]
fn a_renamed_key_is_forwarded_in_its_new_spelling_only() {
    let table = RouteTable::builtin(UnknownFields::Reject).unwrap();
    let queue = route(&table, http::Method::GET, "/v2/api/dialing-queues/current");
    let (rewritten, errors) = run(&queue, Some("page=2&user_pid=usr%2D1&size=5"));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rewritten.as_deref(), Some("page=2&user_id=usr%2D1&size=5"));

    // Both spellings, one value: one parameter.
    let (rewritten, errors) = run(&queue, Some("user_pid=u1&user_id=u1"));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rewritten.as_deref(), Some("user_id=u1"));

    // Both spellings, two values: refused.
    let (_, errors) = run(&queue, Some("user_id=u1&user_pid=u2"));
    assert!(errors.iter().any(|e| e.code == "renameConflict"), "{errors:?}");

    // Nothing to rename: nothing rewritten.
    let (rewritten, errors) = run(&queue, Some("user_id=u1&email=a%40b.co"));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rewritten, None);

    // The built-in rule keeps `format: email` on the query.
    let (_, errors) = run(&queue, Some("email=not-an-email"));
    assert!(
        errors.iter().any(|e| e.field == "/email" && e.code == "format"),
        "{errors:?}"
    );
}

#[test]
fn past_fifty_findings_are_counted_not_listed() {
    let table = RouteTable::builtin(UnknownFields::Reject).unwrap();
    let users = route(&table, http::Method::GET, "/v2/api/users");
    let query: Vec<String> = (0..9000).map(|i| format!("x{i}")).collect();
    let (_, errors) = check(&users.schemas, &users.rename, Some(&query.join("&")));
    assert_eq!(errors.listing().listed.len(), 50);
    assert_eq!(errors.listing().unlisted, 8950);
    assert!(!errors.listing().at_least);

    // A key repeated is one finding, listed or not.
    let query = format!("{}&{}", query.join("&"), query.join("&"));
    let (_, errors) = check(&users.schemas, &users.rename, Some(&query));
    assert_eq!(errors.total(), 9000);
}
