//! `GET /v2/api/me`: what the sandbox key is, in Allo's `MeResponse` shape (`api_key_id`,
//! `scopes`, `endpoints`, `team`, `rate_limits`). A sandbox key holds every scope Allo's
//! document names, and `endpoints` lists the operations the sandbox answers itself, straight
//! from `catalogue::EMULATED`, so the list cannot drift from what is dispatched.
//!
//! Besides the documented fields the answer carries `user`, the key owner, so a sandbox user
//! can see whose queue, notes and pins an untargeted call acts on (response objects are open),
//! and a `description` on each endpoint. `scope` is left out of `/me`'s own entry: it needs
//! none, and the document types `scope` as a string, not null.

use serde_json::{json, Value};

use super::catalogue::{EMULATED, SCOPES};
use super::limits::{READ_PER_SECOND, WRITE_PER_SECOND};
use super::respond::{ApiError, Reply};
use super::roster::derived_api_key_id;
use super::Call;

/// GET /v2/api/me.
pub(crate) fn me(call: &Call<'_>) -> Result<Reply, ApiError> {
    let team = call.team;
    let endpoints: Vec<Value> = EMULATED
        .iter()
        .map(|op| {
            let mut entry = json!({"method": op.method, "path": op.template, "description": op.summary});
            if let (Some(scope), Some(map)) = (op.scope, entry.as_object_mut()) {
                map.insert("scope".to_owned(), Value::from(scope));
            }
            entry
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
