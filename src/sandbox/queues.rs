//! The six Power Dialer endpoints over HTTP: each handler reads its body or query, checks what
//! Allo checks (400s first, then who is targeted, then the queue itself), runs the operation on
//! the team's `Dialer` and renders Allo's response shape. Response shapes and error codes follow
//! SPEC §3 and `endpoints.json`; choices where the docs are silent are noted where they are made.

use serde_json::{json, Value};

use super::dialer::{Changes, ClearError, ClearFilter, Dnd, LimitReached, Voicemail, Who, CAPACITY};
use super::input::{char_len, Fields};
use super::page::Page;
use super::phone;
use super::respond::{ApiError, Reply};
use super::target::Target;
use super::Call;
use crate::envelope::FieldError;

const NAME_MAX: usize = 255;

/// The key owner (creator of any new queue) and the resolved target of a write.
fn who<'r>(call: &'r Call<'_>, target: &Target) -> Result<Who<'r>, ApiError> {
    let roster = &call.team.roster;
    let assignee = target.resolve(roster)?;
    Ok(Who {
        creator: &roster.owner().id,
        assignee: &assignee.id,
    })
}

fn require_body(call: &Call<'_>) -> Result<serde_json::Map<String, Value>, ApiError> {
    call.json_body()?
        .ok_or_else(|| ApiError::validation("INVALID_REQUEST_BODY", "a JSON object body is required"))
}

fn done(fields: Fields<'_>) -> Result<(), ApiError> {
    if fields.errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_body(fields.errors))
    }
}

/// GET /v2/api/dialing-queues/current — one page of the current queue's numbers.
pub(crate) fn get_current(call: &Call<'_>) -> Result<Reply, ApiError> {
    let target = Target::from_query(&call.query)?;
    let page = Page::from_query(&call.query)?;
    let assignee = target.resolve(&call.team.roster)?;
    let dialer = call.team.dialer();
    let Some(queue) = dialer.current(&assignee.id) else {
        // Allo answers 200 with an empty page and no `queue` key when there is no queue.
        return Ok(Reply::ok(json!({"data": [], "pagination": page.meta(0)})));
    };
    let data: Vec<Value> = page.window(&queue.numbers).iter().map(|n| n.to_json()).collect();
    Ok(Reply::ok(json!({
        "data": data,
        "pagination": page.meta(queue.numbers.len()),
        "queue": queue.to_json(false),
    })))
}

/// POST /v2/api/dialing-queues/current — reset: a new empty queue for the target.
pub(crate) fn reset(call: &Call<'_>) -> Result<Reply, ApiError> {
    // An absent body is the documented "reset my own queue, no name".
    let body = call.json_body()?.unwrap_or_default();
    let mut fields = Fields::new(&body);
    let name = fields.opt_str("name");
    if name.is_some_and(|n| char_len(n) > NAME_MAX) {
        fields.error("name", "maxLength", "must be at most 255 characters");
    }
    let target = Target::from_body(&mut fields);
    done(fields)?;
    let who = who(call, &target)?;
    let now = call.clock.timestamp();
    let mut dialer = call.team.dialer();
    let queue = dialer.reset(who, name.map(str::to_owned), &now);
    Ok(Reply::ok(json!({ "data": queue.to_json(true) })))
}

/// PATCH /v2/api/dialing-queues/current — upsert the configuration.
///
/// Explicit `null` (undocumented upstream): `name: null` clears the name; `null` on the two
/// enums leaves them unchanged, since a queue always has a value for them.
pub(crate) fn upsert(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = require_body(call)?;
    let mut fields = Fields::new(&body);
    let mut changes = Changes::default();
    match fields.nullable_str("name") {
        Some(Some(n)) if !(1..=NAME_MAX).contains(&char_len(n)) => {
            fields.error("name", "length", "must be 1 to 255 characters");
        }
        other => changes.name = other.map(|n| n.map(str::to_owned)),
    }
    changes.voicemail = match fields.opt_str("voicemail_handling") {
        None => None,
        Some("SKIP") => Some(Voicemail::Skip),
        Some("NO_SKIP") => Some(Voicemail::NoSkip),
        Some(_) => {
            fields.error("voicemail_handling", "enum", "must be SKIP or NO_SKIP");
            None
        }
    };
    changes.dnd = match fields.opt_str("do_not_disturb") {
        None => None,
        Some("ENABLED") => Some(Dnd::Enabled),
        Some("DISABLED") => Some(Dnd::Disabled),
        Some(_) => {
            fields.error("do_not_disturb", "enum", "must be ENABLED or DISABLED");
            None
        }
    };
    let target = Target::from_body(&mut fields);
    done(fields)?;
    let who = who(call, &target)?;
    let now = call.clock.timestamp();
    let mut dialer = call.team.dialer();
    let queue = dialer.upsert(who, changes, &now);
    Ok(Reply::ok(json!({ "data": queue.to_json(true) })))
}

/// POST /v2/api/dialing-queues/current/numbers — append; unreadable numbers are skipped.
pub(crate) fn append(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = require_body(call)?;
    let mut fields = Fields::new(&body);
    let mut valid = Vec::new();
    let mut skipped = Vec::new();
    match fields.get("numbers") {
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                match read_item(item, i, &mut fields.errors) {
                    Some(raw) => match phone::normalize(raw) {
                        Some(e164) => valid.push(e164),
                        None => skipped.push(json!({"number": raw, "reason": "INVALID_PHONE_NUMBER"})),
                    },
                    None => continue,
                }
            }
        }
        Some(Value::Array(_)) => fields.error("numbers", "minItems", "must hold at least 1 item"),
        Some(_) => fields.error("numbers", "type", "must be an array"),
        None => fields.error("numbers", "required", "is required"),
    }
    let target = Target::from_body(&mut fields);
    done(fields)?;
    let who = who(call, &target)?;
    let now = call.clock.timestamp();
    let added = call
        .team
        .dialer()
        .append(who, valid, &now)
        .map_err(|LimitReached { held, adding }| {
            ApiError::validation(
                "DIALING_QUEUE_LIMIT_REACHED",
                format!("queue holds {held} numbers; {adding} more exceed the {CAPACITY} limit"),
            )
            .with_param("numbers")
        })?;
    let added: Vec<Value> = added.iter().map(|n| n.to_json()).collect();
    Ok(Reply::ok(json!({ "data": {"added": added, "skipped": skipped} })))
}

/// Checks one `numbers[i]` item, returning its `number` when the item is well-formed.
fn read_item<'v>(item: &'v Value, i: usize, errors: &mut Vec<FieldError>) -> Option<&'v str> {
    let prefix = format!("/numbers/{i}");
    let Some(map) = item.as_object() else {
        errors.push(FieldError {
            field: prefix,
            code: "type".into(),
            message: format!("numbers.{i}: must be an object"),
        });
        return None;
    };
    let mut f = Fields::nested(map, &prefix);
    let number = match map.get("number") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            f.error("number", "type", "must be a string");
            None
        }
        None => {
            f.error("number", "required", "is required");
            None
        }
    };
    for key in ["name", "last_name", "company", "website", "job_title"] {
        f.opt_str(key);
    }
    for key in ["emails", "addresses"] {
        f.opt_str_array(key);
    }
    let ok = f.errors.is_empty();
    errors.append(&mut f.errors);
    number.filter(|_| ok)
}

/// DELETE /v2/api/dialing-queues/current/numbers — clear by number, position or unassigned.
pub(crate) fn clear(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = &call.query;
    let number = q.get("number");
    let position = q.integer("position")?;
    let unassigned = q.boolean("unassigned")? == Some(true);
    let target = Target::from_query(q)?;
    if unassigned && (number.is_some() || position.is_some()) {
        return Err(ApiError::validation(
            "DIALING_QUEUE_DELETE_FILTER_CONFLICT",
            "unassigned=true cannot be combined with number or position",
        ));
    }
    let number = match number {
        None => None,
        Some(raw) => Some(phone::normalize(raw).ok_or_else(|| {
            ApiError::validation("INVALID_PHONE_NUMBER", "number: not a valid phone number").with_param("number")
        })?),
    };
    let filter = match (number, position, unassigned) {
        (_, _, true) => ClearFilter::Unassigned,
        (Some(n), Some(p), _) => ClearFilter::NumberAt(n, p),
        (Some(n), None, _) => ClearFilter::Number(n),
        (None, Some(p), _) => ClearFilter::Position(p),
        (None, None, false) => {
            return Err(ApiError::validation(
                "DIALING_QUEUE_DELETE_FILTER_REQUIRED",
                "give number, position, number and position, or unassigned=true",
            ))
        }
    };
    let assignee = target.resolve(&call.team.roster)?;
    let now = call.clock.timestamp();
    let removed = call
        .team
        .dialer()
        .clear(&assignee.id, &filter, &now)
        .map_err(|e| match e {
            ClearError::PositionNotFound => ApiError::not_found(
                "QUEUE_NUMBER_POSITION_NOT_FOUND",
                "no entry of the current queue is at this position (with this number)",
            )
            .with_param("position"),
            ClearError::NoQueue => queue_not_found(),
        })?;
    Ok(Reply::ok(json!({ "data": {"removed": removed} })))
}

fn queue_not_found() -> ApiError {
    ApiError::not_found("DIALING_QUEUE_NOT_FOUND", "the targeted user has no dialing queue")
}

/// PATCH /v2/api/dialing-queues/{queue_id}/assignee — hand a queue to another teammate.
pub(crate) fn reassign(call: &Call<'_>, queue_id: &str) -> Result<Reply, ApiError> {
    let body = call.json_body()?.unwrap_or_default();
    let mut fields = Fields::new(&body);
    let target = Target::from_body(&mut fields);
    done(fields)?;
    if target.is_empty() {
        return Err(ApiError::validation(
            "DIALING_QUEUE_ASSIGNEE_REQUIRED",
            "give user_id (or user_pid) or email of the new assignee",
        ));
    }
    let roster = &call.team.roster;
    let owner = roster.owner();
    if !owner.role.may_reassign() {
        return Err(ApiError::forbidden(
            "DIALING_QUEUE_ASSIGN_FORBIDDEN",
            "only team admins and managers may reassign dialing queues",
        ));
    }
    let mut dialer = call.team.dialer();
    // Allo answers 404 (not 403) for a queue the key owner neither created nor holds.
    let visible = dialer
        .by_id(queue_id)
        .is_some_and(|q| q.creator_id == owner.id || q.assignee_id == owner.id);
    if !visible {
        return Err(
            ApiError::not_found("DIALING_QUEUE_NOT_FOUND", "no dialing queue with this id").with_param("queue_id"),
        );
    }
    let assignee = target.resolve(roster)?;
    let now = call.clock.timestamp();
    let queue = dialer
        .reassign(queue_id, &assignee.id, &now)
        .ok_or_else(queue_not_found)?;
    Ok(Reply::ok(json!({ "data": queue.to_json(true) })))
}
