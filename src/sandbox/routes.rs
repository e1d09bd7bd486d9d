//! Which Allo operation a request names, by matching its method and path against the
//! templates of `catalogue.rs`. Three outcomes matter to the sandbox: an operation it emulates,
//! a real Allo operation it does not (501 `NOT_EMULATED`), and a path Allo does not have (404
//! `ENDPOINT_NOT_FOUND`; 405 when only the method is wrong).
//!
//! When several templates match (`/webhooks/event_types` vs `/webhooks/{webhook_id}`,
//! `/conversations/notes/{id}` vs `/conversations/{contact_number}/notes`), the one whose
//! first differing segment is a literal wins, as in every path router; so the outcome never
//! depends on the order of the lists.
//!
//! Matching and dispatch are apart on purpose: `emulated` maps a (method, template) pair to
//! its handler whatever table found the template, so a shared endpoint table can replace the
//! matching here without touching the handlers.

pub(crate) use super::catalogue::Emulated;
use super::catalogue::{EMULATED, OTHERS};

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'p> {
    /// An emulated endpoint and its one path parameter, if the template has one.
    Emulated(Emulated, Option<&'p str>),
    NotEmulated(&'static str),
    MethodNotAllowed(String),
    NotFound,
}

/// The emulated endpoint for `method` and a path template exactly as Allo's document spells
/// it (`"GET"`, `"/v2/api/conversations/notes/{id}"`), if the sandbox answers it itself.
pub(crate) fn emulated(method: &str, template: &str) -> Option<Emulated> {
    EMULATED
        .iter()
        .find(|op| op.method == method && op.template == template)
        .map(|op| op.endpoint)
}

/// How specific a match is: bit `63 - i` is set when segment `i` is a parameter, so a lower
/// value has its first parameter later. Paths deeper than 64 segments match no template.
type Specificity = u64;

/// Matches `path` against `template`; on success returns the match's specificity and the
/// first parameter's value. Parameters must be non-empty.
fn matches<'p>(template: &str, path: &'p str) -> Option<(Specificity, Option<&'p str>)> {
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut shape: Specificity = 0;
    let mut first = None;
    for i in 0..64 {
        match (t.next(), p.next()) {
            (None, None) => return Some((shape, first)),
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                if ps.is_empty() {
                    return None;
                }
                shape |= 1 << (63 - i);
                first = first.or(Some(ps));
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return None,
        }
    }
    None
}

/// Every known operation (method, template), emulated or not.
fn known() -> impl Iterator<Item = (&'static str, &'static str)> {
    let emulated = EMULATED.iter().map(|op| (op.method, op.template));
    emulated.chain(OTHERS.iter().copied())
}

/// The route for `method` and `path` (path only, no query): the most specific template for
/// the method, then whether the sandbox emulates it.
pub(crate) fn route<'p>(method: &str, path: &'p str) -> Route<'p> {
    let mut best: Option<(Specificity, &'static str, Option<&'p str>)> = None;
    let mut allowed: Vec<&'static str> = Vec::new();
    for (m, template) in known() {
        let Some((shape, first)) = matches(template, path) else {
            continue;
        };
        if !allowed.contains(&m) {
            allowed.push(m);
        }
        if m == method && best.is_none_or(|(s, ..)| shape < s) {
            best = Some((shape, template, first));
        }
    }
    match best {
        Some((_, template, param)) => match emulated(method, template) {
            Some(endpoint) => Route::Emulated(endpoint, param),
            None => Route::NotEmulated(template),
        },
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
    use Emulated::*;

    #[test]
    fn literal_segments_beat_parameters() {
        assert_eq!(
            route("GET", "/v2/api/dialing-queues/current"),
            Route::Emulated(QueueGet, None)
        );
        assert_eq!(
            route("GET", "/v2/api/webhooks/event_types"),
            Route::NotEmulated("/v2/api/webhooks/event_types")
        );
        assert_eq!(
            route("GET", "/v2/api/partner/accounts/price"),
            Route::NotEmulated("/v2/api/partner/accounts/price")
        );
        // Both note templates match; the literal `notes` in third place wins.
        assert_eq!(
            route("GET", "/v2/api/conversations/notes/notes"),
            Route::Emulated(NoteGet, Some("notes"))
        );
        assert_eq!(
            route("GET", "/v2/api/conversations/+33612345678/notes"),
            Route::Emulated(NotesList, Some("+33612345678"))
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
        assert_eq!(
            route("DELETE", "/v2/api/conversations/%2B33612345678/pin"),
            Route::Emulated(Unpin, Some("%2B33612345678"))
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
        let deep = "/x".repeat(70);
        assert_eq!(route("GET", &deep), Route::NotFound);
    }

    #[test]
    fn removed_and_unverified_operations_are_gone() {
        assert_eq!(route("POST", "/v2/api/crm/deals"), Route::NotFound);
        assert_eq!(
            route("PATCH", "/v2/api/crm/deals/d1"),
            Route::MethodNotAllowed("GET".into())
        );
        assert_eq!(
            route("GET", "/v2/api/crm/deals/d1"),
            Route::NotEmulated("/v2/api/crm/deals/{id}")
        );
        assert_eq!(route("GET", "/v2/api/dialing-queues"), Route::NotFound);
        assert_eq!(
            route("DELETE", "/v2/api/dialing-queues/current"),
            Route::MethodNotAllowed("GET, PATCH, POST".into())
        );
    }

    #[test]
    fn every_operation_is_listed_once_and_emulated_ones_map_back() {
        let all: Vec<_> = known().collect();
        for (i, op) in all.iter().enumerate() {
            assert!(!all[..i].contains(op), "{op:?} listed twice");
        }
        assert_eq!(all.len(), 90, "the operations of openapi-late-2026.json");
        for op in EMULATED {
            assert_eq!(emulated(op.method, op.template), Some(op.endpoint));
        }
        assert_eq!(emulated("GET", "/v2/api/threads"), None);
        assert_eq!(emulated("POST", "/v2/api/me"), None);
    }
}
