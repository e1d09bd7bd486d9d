//! `GET /v2/api/me`, `GET /v2/api/users` and `GET /v2/api/users/{id}`, answered from the
//! team's seeded roster. Shapes follow SPEC §4 and `endpoints.json`: the users list is not
//! paginated (SPEC: "explicitly not paginated"), an unknown id is 404 `MEMBER_NOT_FOUND`.

use serde_json::{json, Value};

use super::limits::{READ_PER_SECOND, WRITE_PER_SECOND};
use super::respond::{ApiError, Reply};
use super::roster::{derived_api_key_id, Role};
use super::Call;

/// Every scope Allo documents: a sandbox key may call everything the sandbox emulates.
const SCOPES: [&str; 22] = [
    "CONVERSATIONS_READ",
    "CONVERSATIONS_WRITE",
    "CONTACTS_READ",
    "CONTACTS_READ_WRITE",
    "SMS_SEND",
    "WEBHOOKS_READ_WRITE",
    "PHONE_NUMBERS_READ",
    "USERS_READ",
    "TAGS_READ",
    "TAGS_WRITE",
    "BILLING",
    "DIALING_QUEUE_READ_WRITE",
    "CRM_READ",
    "CRM_WRITE",
    "CRM_DELETE",
    "SUMMARY_TEMPLATES_READ",
    "SUMMARY_TEMPLATES_WRITE",
    "NOTES_READ",
    "NOTES_WRITE",
    "THREADS_READ",
    "THREADS_WRITE",
    "PARTNER",
];

/// The endpoints `me` lists: those the sandbox actually answers.
const ENDPOINTS: [(&str, &str, &str, Option<&str>); 9] = [
    ("GET", "/v2/api/me", "Describe the API key", None),
    ("GET", "/v2/api/users", "List team members", Some("USERS_READ")),
    ("GET", "/v2/api/users/{id}", "Get a team member", Some("USERS_READ")),
    (
        "GET",
        "/v2/api/dialing-queues/current",
        "List current queue numbers",
        Some("DIALING_QUEUE_READ_WRITE"),
    ),
    (
        "PATCH",
        "/v2/api/dialing-queues/current",
        "Update current queue",
        Some("DIALING_QUEUE_READ_WRITE"),
    ),
    (
        "POST",
        "/v2/api/dialing-queues/current",
        "Reset current queue",
        Some("DIALING_QUEUE_READ_WRITE"),
    ),
    (
        "POST",
        "/v2/api/dialing-queues/current/numbers",
        "Append numbers",
        Some("DIALING_QUEUE_READ_WRITE"),
    ),
    (
        "DELETE",
        "/v2/api/dialing-queues/current/numbers",
        "Clear numbers",
        Some("DIALING_QUEUE_READ_WRITE"),
    ),
    (
        "PATCH",
        "/v2/api/dialing-queues/{queue_id}/assignee",
        "Reassign a queue",
        Some("DIALING_QUEUE_READ_WRITE"),
    ),
];

/// GET /v2/api/me. Besides Allo's documented fields it carries `user`, the key owner, so a
/// sandbox user can see whose queue an untargeted call acts on (response objects are open).
pub(crate) fn me(call: &Call<'_>) -> Result<Reply, ApiError> {
    let team = call.team;
    let endpoints: Vec<Value> = ENDPOINTS
        .iter()
        .map(|(method, path, description, scope)| {
            json!({"method": method, "path": path, "description": description, "scope": scope})
        })
        .collect();
    Ok(Reply::ok(json!({
        "data": {
            "api_key_id": derived_api_key_id(&team.id),
            "scopes": SCOPES,
            "endpoints": endpoints,
            "team": {"id": team.id, "name": format!("{} (sandbox)", team.id)},
            "rate_limits": {"read_per_second": READ_PER_SECOND, "write_per_second": WRITE_PER_SECOND},
            "user": team.roster.owner().to_json(),
        }
    })))
}

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
