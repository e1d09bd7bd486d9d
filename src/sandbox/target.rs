//! Teammate targeting on the Power Dialer endpoints: which user's queue a request acts on.
//! `user_id` and `user_pid` are two documented spellings of one field (EN/OpenAPI vs the French
//! reference page) and win over `email`; with neither, the key owner is the target. They come
//! from the JSON body on writes and from the query string on GET and DELETE. An unknown user
//! gives 404 `ASSIGNEE_NOT_FOUND`, with a message that never says whether the user exists
//! elsewhere (Allo keeps unknown and not-a-teammate identical to prevent enumeration).

use super::input::{Fields, Query};
use super::respond::ApiError;
use super::roster::{Roster, User};

/// The targeting fields of one request, before they are looked up.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Target {
    pub id: Option<String>,
    pub email: Option<String>,
}

impl Target {
    /// From the JSON body; type problems and a `user_id`/`user_pid` clash go to `fields.errors`.
    pub(super) fn from_body(fields: &mut Fields<'_>) -> Target {
        let user_id = fields.opt_str("user_id");
        let user_pid = fields.opt_str("user_pid");
        let email = fields.opt_str("email");
        if let (Some(a), Some(b)) = (user_id, user_pid) {
            if a != b {
                fields.error(
                    "user_pid",
                    "conflict",
                    "must equal user_id when both are given (they name the same teammate)",
                );
            }
        }
        Target {
            id: user_id.or(user_pid).map(str::to_owned),
            email: email.map(str::to_owned),
        }
    }

    /// From the query string (GET and DELETE carry no body).
    pub(super) fn from_query(query: &Query) -> Result<Target, ApiError> {
        let user_id = query.get("user_id");
        let user_pid = query.get("user_pid");
        if let (Some(a), Some(b)) = (user_id, user_pid) {
            if a != b {
                return Err(ApiError::validation(
                    "INVALID_QUERY_PARAMETER",
                    "user_pid: must equal user_id when both are given (they name the same teammate)",
                )
                .with_param("user_pid"));
            }
        }
        Ok(Target {
            id: user_id.or(user_pid).map(str::to_owned),
            email: query.get("email").map(str::to_owned),
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.id.is_none() && self.email.is_none()
    }

    /// The targeted teammate; the key owner when nothing was given.
    pub(super) fn resolve<'r>(&self, roster: &'r Roster) -> Result<&'r User, ApiError> {
        let found = match (&self.id, &self.email) {
            (Some(id), _) => roster.by_id(id),
            (None, Some(email)) => roster.by_email(email),
            (None, None) => return Ok(roster.owner()),
        };
        found.ok_or_else(|| {
            let param = if self.id.is_some() { "user_id" } else { "email" };
            ApiError::not_found(
                "ASSIGNEE_NOT_FOUND",
                format!("no member of your team matches the given {param}"),
            )
            .with_param(param)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn id_wins_over_email_and_pid_is_an_alias() {
        let roster = Roster::seed("sales");
        let bob = &roster.users()[1];
        let chloe = &roster.users()[2];
        let body = json!({"user_pid": bob.id, "email": chloe.email});
        let mut fields = Fields::new(body.as_object().unwrap());
        let target = Target::from_body(&mut fields);
        assert!(fields.errors.is_empty());
        assert_eq!(target.resolve(&roster).unwrap().id, bob.id);

        let none = Target::default();
        assert_eq!(none.resolve(&roster).unwrap().id, roster.owner().id);
    }

    #[test]
    fn clash_and_unknown() {
        let roster = Roster::seed("sales");
        let body = json!({"user_id": "usr-A", "user_pid": "usr-B"});
        let mut fields = Fields::new(body.as_object().unwrap());
        Target::from_body(&mut fields);
        assert_eq!(fields.errors.len(), 1);

        let q = Query::parse(Some("email=eve%40sales.example")).unwrap();
        let err = Target::from_query(&q).unwrap().resolve(&roster).unwrap_err();
        assert_eq!(err.code, "ASSIGNEE_NOT_FOUND");
        assert_eq!(err.status, http::StatusCode::NOT_FOUND);

        let q = Query::parse(Some("user_id=a&user_pid=b")).unwrap();
        assert!(Target::from_query(&q).is_err());
    }
}
