//! Which Allo endpoint a request names. The table holds every endpoint in `endpoints.json`
//! (and its `unverified_endpoints`), so the sandbox can tell three cases apart: an endpoint it
//! emulates, a real Allo endpoint it does not (501 `NOT_EMULATED`), and a path Allo does not
//! have (404 `ENDPOINT_NOT_FOUND`; 405 when only the method is wrong). When a literal segment
//! and a `{param}` both match (`/dialing-queues/current` vs `/dialing-queues/{queue_id}`), the
//! template with fewer parameters wins, as in every path router.

/// The endpoints the sandbox answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emulated {
    Me,
    UsersList,
    UsersGet,
    QueueGet,
    QueueUpsert,
    QueueReset,
    QueueAppend,
    QueueClear,
    QueueReassign,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'p> {
    /// An emulated endpoint and its one path parameter, if the template has one.
    Emulated(Emulated, Option<&'p str>),
    NotEmulated(&'static str),
    MethodNotAllowed(String),
    NotFound,
}

use Emulated::*;

const TABLE: &[(&str, &str, Option<Emulated>)] = &[
    ("GET", "/v2/api/dialing-queues/current", Some(QueueGet)),
    ("PATCH", "/v2/api/dialing-queues/current", Some(QueueUpsert)),
    ("POST", "/v2/api/dialing-queues/current", Some(QueueReset)),
    ("POST", "/v2/api/dialing-queues/current/numbers", Some(QueueAppend)),
    ("DELETE", "/v2/api/dialing-queues/current/numbers", Some(QueueClear)),
    (
        "PATCH",
        "/v2/api/dialing-queues/{queue_id}/assignee",
        Some(QueueReassign),
    ),
    ("GET", "/v2/api/me", Some(Me)),
    ("GET", "/v2/api/users", Some(UsersList)),
    ("GET", "/v2/api/users/{id}", Some(UsersGet)),
    ("GET", "/v2/api/tags", None),
    ("POST", "/v2/api/conversations/items/{id}/tags", None),
    ("DELETE", "/v2/api/conversations/items/{id}/tags/{tag}", None),
    ("GET", "/v2/api/numbers", None),
    ("GET", "/v2/api/conversations", None),
    ("POST", "/v2/api/conversations/items/search", None),
    ("GET", "/v2/api/conversations/items/{id}", None),
    ("POST", "/v2/api/conversations/items/batch", None),
    ("PUT", "/v2/api/conversations/{contact_number}/action", None),
    ("PATCH", "/v2/api/conversations/items/{id}/summary", None),
    ("GET", "/v2/api/webhooks", None),
    ("POST", "/v2/api/webhooks", None),
    ("GET", "/v2/api/webhooks/{webhook_id}", None),
    ("PUT", "/v2/api/webhooks/{webhook_id}", None),
    ("DELETE", "/v2/api/webhooks/{webhook_id}", None),
    ("GET", "/v2/api/webhooks/event_types", None),
    ("GET", "/v2/api/summary_templates", None),
    ("POST", "/v2/api/summary_templates", None),
    ("GET", "/v2/api/summary_templates/{id}", None),
    ("PUT", "/v2/api/summary_templates/{id}", None),
    ("DELETE", "/v2/api/summary_templates/{id}", None),
    ("PUT", "/v2/api/numbers/{number}/default_summary_template", None),
    ("POST", "/v2/api/analytics/overview", None),
    ("POST", "/v2/api/analytics/outbound", None),
    ("POST", "/v2/api/crm/people", None),
    ("GET", "/v2/api/crm/people/{id}", None),
    ("PUT", "/v2/api/crm/people/{id}", None),
    ("POST", "/v2/api/crm/people/search", None),
    ("POST", "/v2/api/crm/companies", None),
    ("GET", "/v2/api/crm/companies/{id}", None),
    ("PUT", "/v2/api/crm/companies/{id}", None),
    ("POST", "/v2/api/crm/companies/search", None),
    ("POST", "/v2/api/crm/deals", None),
    ("GET", "/v2/api/crm/deals/{id}", None),
    ("PATCH", "/v2/api/crm/deals/{id}", None),
    ("DELETE", "/v2/api/crm/deals/{id}", None),
    ("POST", "/v2/api/crm/deals/search", None),
    ("POST", "/v2/api/partner/accounts", None),
    ("GET", "/v2/api/partner/accounts/{id}", None),
    ("DELETE", "/v2/api/partner/accounts/{id}", None),
    ("GET", "/v1/api/calls", None),
    ("GET", "/v1/api/contacts", None),
    ("POST", "/v1/api/contacts", None),
    ("PUT", "/v1/api/contacts/{contact_id}", None),
    ("GET", "/v1/api/contact/{contact_id}", None),
    ("GET", "/v1/api/contact/{contact_id}/conversation", None),
    ("GET", "/v1/api/numbers", None),
    ("POST", "/v1/api/sms", None),
    // `unverified_endpoints`: seen only in third-party code; answered like the rest.
    ("GET", "/v2/api/dialing-queues", None),
    ("POST", "/v2/api/dialing-queues", None),
    ("GET", "/v2/api/dialing-queues/{queue_id}", None),
    ("PATCH", "/v2/api/dialing-queues/{queue_id}", None),
    ("DELETE", "/v2/api/dialing-queues/{queue_id}", None),
    ("POST", "/v2/api/dialing-queues/{queue_id}/numbers", None),
    ("DELETE", "/v2/api/dialing-queues/{queue_id}/numbers", None),
    ("DELETE", "/v2/api/dialing-queues/current", None),
    ("GET", "/v2/api/dialing-queues/sessions/{session_id}", None),
];

/// Matches `path` against `template`; on success returns the number of `{param}` segments and
/// the first parameter's value. Parameters must be non-empty.
fn matches<'p>(template: &str, path: &'p str) -> Option<(usize, Option<&'p str>)> {
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut params = 0;
    let mut first = None;
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some((params, first)),
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                if ps.is_empty() {
                    return None;
                }
                params += 1;
                first = first.or(Some(ps));
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return None,
        }
    }
}

/// The route for `method` and `path` (path only, no query).
pub(crate) fn route<'p>(method: &str, path: &'p str) -> Route<'p> {
    let mut best: Option<(usize, &'static str, Option<Emulated>, Option<&'p str>)> = None;
    let mut allowed: Vec<&'static str> = Vec::new();
    for &(m, template, emulated) in TABLE {
        let Some((params, first)) = matches(template, path) else {
            continue;
        };
        if !allowed.contains(&m) {
            allowed.push(m);
        }
        if m == method && best.is_none_or(|(p, ..)| params < p) {
            best = Some((params, template, emulated, first));
        }
    }
    match best {
        Some((_, _, Some(emulated), param)) => Route::Emulated(emulated, param),
        Some((_, template, None, _)) => Route::NotEmulated(template),
        None if allowed.is_empty() => Route::NotFound,
        None => {
            allowed.sort_unstable();
            Route::MethodNotAllowed(allowed.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_beat_parameters() {
        assert_eq!(
            route("GET", "/v2/api/dialing-queues/current"),
            Route::Emulated(QueueGet, None)
        );
        assert_eq!(
            route("DELETE", "/v2/api/dialing-queues/current"),
            Route::NotEmulated("/v2/api/dialing-queues/current")
        );
        assert_eq!(
            route("GET", "/v2/api/dialing-queues/pdl_x"),
            Route::NotEmulated("/v2/api/dialing-queues/{queue_id}")
        );
    }

    #[test]
    fn parameters_are_captured() {
        assert_eq!(
            route("GET", "/v2/api/users/usr-1"),
            Route::Emulated(UsersGet, Some("usr-1"))
        );
        assert_eq!(
            route("PATCH", "/v2/api/dialing-queues/pdl_9/assignee"),
            Route::Emulated(QueueReassign, Some("pdl_9"))
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(route("GET", "/v2/api/nope"), Route::NotFound);
        assert_eq!(route("GET", "/v2/api/users/"), Route::NotFound);
        assert_eq!(route("GET", ""), Route::NotFound);
        assert_eq!(route("PUT", "/v2/api/me"), Route::MethodNotAllowed("GET".into()));
        assert_eq!(route("POST", "/v2/api/tags"), Route::MethodNotAllowed("GET".into()));
        assert_eq!(route("GET", "/v2/api/tags"), Route::NotEmulated("/v2/api/tags"));
    }
}
