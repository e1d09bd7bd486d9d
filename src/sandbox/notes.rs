//! The five conversation-note endpoints over HTTP: each handler reads its body or query, checks
//! what Allo's document says Allo checks (body shape, then `content`, then the conversation),
//! runs the operation on the team's `Notebook` and renders `{"data": ...}`. The key owner is the
//! author of every note made through the API. Error codes are the document's
//! `x-documented-error-codes`:
//!
//! | situation | status | code |
//! |---|---|---|
//! | `content` empty or only whitespace | 400 | `EMPTY_NOTE_CONTENT` |
//! | `content` over 4,000 code points | 400 | `NOTE_CONTENT_TOO_LONG` |
//! | create with neither `allo_number` nor `sender_id` | 400 | `MISSING_ALLO_NUMBER_OR_SENDER_ID` |
//! | list without `allo_number` | 400 | `MISSING_ALLO_NUMBER` |
//! | update or delete of a teammate's note | 403 | `NOT_NOTE_AUTHOR` |
//! | unknown note id | 404 | `NOTE_NOT_FOUND` |
//!
//! A create answers 201: the document says only "2XX", and Allo's other v2 creates answer 201.

use serde_json::{json, Map, Value};

use super::conversation;
use super::input::{char_len, Fields};
use super::notebook::{NewNote, NoteError, NOTE_MAX_CHARS};
use super::page::Page;
use super::respond::{ApiError, Reply};
use super::Call;

fn require_body(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    call.json_body()?
        .ok_or_else(|| ApiError::validation("INVALID_REQUEST_BODY", "a JSON object body is required"))
}

/// Reads `content` (a required string) and whatever else `read` wants from the body, turning
/// type problems into one 400 `INVALID_REQUEST_BODY`, then applies the content rules.
fn content_and<'b, T>(
    body: &'b Map<String, Value>,
    read: impl FnOnce(&mut Fields<'b>) -> T,
) -> Result<(String, T), ApiError> {
    let mut fields = Fields::new(body);
    let content = match fields.get("content") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            fields.error("content", "type", "must be a string");
            None
        }
        None => {
            fields.error("content", "required", "is required");
            None
        }
    };
    let rest = read(&mut fields);
    let content = match content {
        Some(content) if fields.errors.is_empty() => content,
        _ => return Err(ApiError::invalid_body(fields.errors)),
    };
    if content.trim().is_empty() {
        return Err(
            ApiError::validation("EMPTY_NOTE_CONTENT", "content: must not be empty or blank").with_param("content"),
        );
    }
    let length = char_len(content);
    if length > NOTE_MAX_CHARS {
        let message = format!("content: must be at most {NOTE_MAX_CHARS} characters (got {length})");
        return Err(ApiError::validation("NOTE_CONTENT_TOO_LONG", message).with_param("content"));
    }
    Ok((content.to_owned(), rest))
}

/// A string that is absent, `null` or blank is not given at all.
fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

fn note_error(err: NoteError) -> ApiError {
    let message = err.to_string();
    match err {
        NoteError::NotFound => ApiError::not_found("NOTE_NOT_FOUND", message).with_param("id"),
        NoteError::NotAuthor => ApiError::forbidden("NOT_NOTE_AUTHOR", message),
    }
}

/// POST /v2/api/conversations/{contact_number}/notes.
pub(crate) fn create(call: &Call<'_>, contact: &str) -> Result<Reply, ApiError> {
    let contact_number = conversation::contact_number(contact)?;
    let body = require_body(call)?;
    let (content, (allo_number, sender_id)) =
        content_and(&body, |f| (f.opt_str("allo_number"), f.opt_str("sender_id")))?;
    let (allo_number, sender_id) = (given(allo_number), given(sender_id));
    if allo_number.is_none() && sender_id.is_none() {
        return Err(ApiError::validation(
            "MISSING_ALLO_NUMBER_OR_SENDER_ID",
            "give allo_number or sender_id to name the conversation",
        ));
    }
    let allo_number = allo_number
        .map(|n| conversation::allo_number(n, "allo_number"))
        .transpose()?;
    let new = NewNote {
        content,
        contact_number,
        allo_number,
        sender_id: sender_id.map(str::to_owned),
        author: call.team.roster.owner().id.clone(),
    };
    let now = call.clock.timestamp();
    let mut notes = call.team.notes();
    let note = notes.create(new, &now);
    Ok(Reply::created(json!({ "data": note.to_json() })))
}

/// GET /v2/api/conversations/{contact_number}/notes?allo_number=&page=&size=
pub(crate) fn list(call: &Call<'_>, contact: &str) -> Result<Reply, ApiError> {
    let contact_number = conversation::contact_number(contact)?;
    let Some(raw) = given(call.query.get("allo_number")) else {
        return Err(
            ApiError::validation("MISSING_ALLO_NUMBER", "allo_number: query parameter is required")
                .with_param("allo_number"),
        );
    };
    let allo_number = conversation::allo_number_from_query(raw)?;
    let page = Page::from_query(&call.query)?;
    let notes = call.team.notes();
    let all = notes.list(&contact_number, &allo_number);
    let data: Vec<Value> = page.window(&all).iter().map(|n| n.to_json()).collect();
    Ok(Reply::ok(json!({ "data": data, "pagination": page.meta(all.len()) })))
}

/// GET /v2/api/conversations/notes/{id} — any note of the team, whoever wrote it.
pub(crate) fn get(call: &Call<'_>, id: &str) -> Result<Reply, ApiError> {
    let notes = call.team.notes();
    let note = notes.get(id).ok_or_else(|| note_error(NoteError::NotFound))?;
    Ok(Reply::ok(json!({ "data": note.to_json() })))
}

/// PATCH /v2/api/conversations/notes/{id} — the author replaces the content.
pub(crate) fn update(call: &Call<'_>, id: &str) -> Result<Reply, ApiError> {
    let body = require_body(call)?;
    let (content, ()) = content_and(&body, |_| ())?;
    let now = call.clock.timestamp();
    let author = &call.team.roster.owner().id;
    let mut notes = call.team.notes();
    let note = notes.update(id, author, content, &now).map_err(note_error)?;
    Ok(Reply::ok(json!({ "data": note.to_json() })))
}

/// DELETE /v2/api/conversations/notes/{id} — the author deletes; 204 with no body.
pub(crate) fn delete(call: &Call<'_>, id: &str) -> Result<Reply, ApiError> {
    let author = &call.team.roster.owner().id;
    call.team.notes().delete(id, author).map_err(note_error)?;
    Ok(Reply::no_content())
}
