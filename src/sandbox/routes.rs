//! Which Allo operation a request names, decided by the gateway's own endpoint table (the
//! API description in force, `crate::routes`), so the sandbox and the gateway never disagree
//! about what Allo has. Three outcomes matter to the sandbox: an operation it emulates (listed
//! in `catalogue.rs`), a real Allo operation it does not (501 `NOT_EMULATED`), and a path Allo
//! does not have (404 `ENDPOINT_NOT_FOUND`; 405 when only the method is wrong). The table's
//! rules (`blocked`, scopes) are the gateway's business, not Allo's, and are not applied here.

use http::Method;

pub(crate) use super::catalogue::Emulated;
use super::catalogue::EMULATED;
use crate::routes::{Match, RouteTable};

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'p> {
    /// An emulated operation and its first path parameter, if the template has one.
    Emulated(Emulated, Option<&'p str>),
    NotEmulated(String),
    MethodNotAllowed(String),
    NotFound,
}

/// The handler for an operation, by method and path template.
pub(crate) fn emulated(method: &str, template: &str) -> Option<Emulated> {
    EMULATED
        .iter()
        .find(|op| op.method == method && op.template == template)
        .map(|op| op.endpoint)
}

/// The route for `method` and `path` (path only, no query) in `table`.
pub(crate) fn route<'p>(table: &RouteTable, method: &Method, path: &'p str) -> Route<'p> {
    match table.find(method, path) {
        Match::Found(op) => match emulated(op.method.as_str(), &op.template) {
            Some(endpoint) => Route::Emulated(endpoint, first_param(&op.template, path)),
            None => Route::NotEmulated(op.template.clone()),
        },
        Match::MethodNotAllowed { allowed } => {
            let allowed: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            Route::MethodNotAllowed(allowed.join(", "))
        }
        Match::NotFound => Route::NotFound,
    }
}

/// The path's segment where the template has its first `{param}`.
fn first_param<'p>(template: &str, path: &'p str) -> Option<&'p str> {
    let at = template.split('/').position(|s| s.starts_with('{'))?;
    path.split('/').nth(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UnknownFields;

    fn table() -> RouteTable {
        RouteTable::builtin(UnknownFields::Reject).unwrap()
    }

    fn m(method: &str) -> Method {
        Method::from_bytes(method.as_bytes()).unwrap()
    }

    fn s(text: &str) -> String {
        text.to_string()
    }
    use Emulated::*;

    #[test]
    fn literal_segments_beat_parameters() {
        assert_eq!(
            route(&table(), &m("GET"), "/v2/api/dialing-queues/current"),
            Route::Emulated(QueueGet, None)
        );
        assert_eq!(
            route(&table(), &m("GET"), "/v2/api/webhooks/event_types"),
            Route::NotEmulated(s("/v2/api/webhooks/event_types"))
        );
        assert_eq!(
            route(&table(), &m("GET"), "/v2/api/partner/accounts/price"),
            Route::NotEmulated(s("/v2/api/partner/accounts/price"))
        );
        // Both note templates match; the literal `notes` in third place wins.
        assert_eq!(
            route(&table(), &m("GET"), "/v2/api/conversations/notes/notes"),
            Route::Emulated(NoteGet, Some("notes"))
        );
        assert_eq!(
            route(&table(), &m("GET"), "/v2/api/conversations/+33612345678/notes"),
            Route::Emulated(NotesList, Some("+33612345678"))
        );
    }

    #[test]
    fn parameters_are_captured() {
        assert_eq!(
            route(&table(), &m("GET"), "/v2/api/users/usr-1"),
            Route::Emulated(UsersGet, Some("usr-1"))
        );
        assert_eq!(
            route(&table(), &m("PATCH"), "/v2/api/dialing-queues/pdl_9/assignee"),
            Route::Emulated(QueueReassign, Some("pdl_9"))
        );
        assert_eq!(
            route(&table(), &m("DELETE"), "/v2/api/conversations/%2B33612345678/pin"),
            Route::Emulated(Unpin, Some("%2B33612345678"))
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(route(&table(), &m("GET"), "/v2/api/nope"), Route::NotFound);
        assert_eq!(route(&table(), &m("GET"), "/v2/api/users/"), Route::NotFound);
        assert_eq!(route(&table(), &m("GET"), ""), Route::NotFound);
        assert_eq!(
            route(&table(), &m("PUT"), "/v2/api/me"),
            Route::MethodNotAllowed("GET, HEAD".into())
        );
        assert_eq!(
            route(&table(), &m("POST"), "/v2/api/tags"),
            Route::MethodNotAllowed("GET, HEAD".into())
        );
        assert_eq!(
            route(&table(), &m("GET"), "/v2/api/tags"),
            Route::NotEmulated(s("/v2/api/tags"))
        );
        let deep = "/x".repeat(70);
        assert_eq!(route(&table(), &m("GET"), &deep), Route::NotFound);
    }

    #[test]
    fn removed_and_unverified_operations_are_gone() {
        assert_eq!(route(&table(), &m("POST"), "/v2/api/crm/deals"), Route::NotFound);
        assert_eq!(
            route(&table(), &m("PATCH"), "/v2/api/crm/deals/d1"),
            Route::MethodNotAllowed("GET, HEAD".into())
        );
        assert_eq!(
            route(&table(), &m("GET"), "/v2/api/crm/deals/d1"),
            Route::NotEmulated(s("/v2/api/crm/deals/{id}"))
        );
        assert_eq!(route(&table(), &m("GET"), "/v2/api/dialing-queues"), Route::NotFound);
        assert_eq!(
            route(&table(), &m("DELETE"), "/v2/api/dialing-queues/current"),
            Route::MethodNotAllowed("GET, HEAD, PATCH, POST".into())
        );
    }

    #[test]
    fn every_emulated_operation_is_in_the_description_and_maps_back() {
        let table = table();
        for op in EMULATED {
            let path = op.template.replace('{', "x").replace('}', "");
            match route(&table, &m(op.method), &path) {
                Route::Emulated(endpoint, _) => assert_eq!(endpoint, op.endpoint, "{}", op.template),
                other => panic!("{} {}: {other:?}", op.method, op.template),
            }
        }
        assert_eq!(emulated("GET", "/v2/api/threads"), None);
        assert_eq!(emulated("POST", "/v2/api/me"), None);
    }
}
