//! `GET /v2/api/users` and `GET /v2/api/users/{id}`, answered from the team's seeded
//! roster. Shapes follow SPEC §4 and `endpoints.json`: the users list is not
//! paginated (SPEC: "explicitly not paginated"), an unknown id is 404 `MEMBER_NOT_FOUND`.

use serde_json::{json, Value};

use super::respond::{ApiError, Reply};
use super::roster::Role;
use super::Call;

/// GET /v2/api/users?role=&status= — every seeded member is ACTIVE.
pub(crate) fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let role = match call.query.get("role") {
        None => None,
        Some("ADMIN") => Some(Role::Admin),
        Some("MANAGER") => Some(Role::Manager),
        Some("MEMBER") => Some(Role::Member),
        Some(_) => {
            return Err(
                ApiError::validation("INVALID_QUERY_PARAMETER", "role: must be ADMIN, MANAGER or MEMBER")
                    .with_param("role"),
            )
        }
    };
    let active = match call.query.get("status") {
        None | Some("ACTIVE") => true,
        Some("BLOCKED") => false,
        Some(_) => {
            return Err(
                ApiError::validation("INVALID_QUERY_PARAMETER", "status: must be ACTIVE or BLOCKED")
                    .with_param("status"),
            )
        }
    };
    let data: Vec<Value> = call
        .team
        .roster
        .users()
        .iter()
        .filter(|u| active && role.is_none_or(|r| u.role == r))
        .map(|u| u.to_json())
        .collect();
    Ok(Reply::ok(json!({ "data": data })))
}

/// GET /v2/api/users/{id}.
pub(crate) fn get(call: &Call<'_>, id: &str) -> Result<Reply, ApiError> {
    match call.team.roster.by_id(id) {
        Some(user) => Ok(Reply::ok(json!({ "data": user.to_json() }))),
        None => Err(ApiError::not_found("MEMBER_NOT_FOUND", "no member of your team has this id").with_param("id")),
    }
}
