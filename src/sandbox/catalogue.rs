//! The Allo operations the sandbox knows, as data: `EMULATED` lists those it answers itself
//! (with the scope Allo's document gives each, which `GET /v2/api/me` reports), `OTHERS` every
//! other operation of `allo-api/openapi-late-2026.json`, which the sandbox recognises but
//! answers 501 `NOT_EMULATED`. A path in neither is not Allo's (404, or 405 when only the
//! method is wrong). Matching requests against these lists is `routes.rs`'s job.
//!
//! The three CRM deal writes the late-2026 document removed (`POST /v2/api/crm/deals`,
//! `PATCH` and `DELETE /v2/api/crm/deals/{id}`) and the dialing-queue paths seen only in
//! third-party code are deliberately absent: Allo answers them as unknown, so the sandbox does.

/// The endpoints the sandbox answers itself, one variant per operation.
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
    NotesList,
    NoteCreate,
    NoteGet,
    NoteUpdate,
    NoteDelete,
    Pin,
    Unpin,
}

/// One emulated operation: method, path template as Allo's document spells it, its scope
/// (`None`: any valid key, as for `/me`) and a one-line summary for `/me`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operation {
    pub method: &'static str,
    pub template: &'static str,
    pub endpoint: Emulated,
    pub scope: Option<&'static str>,
    pub summary: &'static str,
}

const fn op(
    method: &'static str,
    template: &'static str,
    endpoint: Emulated,
    scope: Option<&'static str>,
    summary: &'static str,
) -> Operation {
    Operation {
        method,
        template,
        endpoint,
        scope,
        summary,
    }
}

use Emulated::*;

const QUEUE: Option<&str> = Some("DIALING_QUEUE_READ_WRITE");
const NOTES_READ: Option<&str> = Some("NOTES_READ");
const NOTES_WRITE: Option<&str> = Some("NOTES_WRITE");
const CONVERSATIONS_WRITE: Option<&str> = Some("CONVERSATIONS_WRITE");

pub(crate) const EMULATED: &[Operation] = &[
    op("GET", "/v2/api/me", Me, None, "Describe the API key"),
    op(
        "GET",
        "/v2/api/users",
        UsersList,
        Some("USERS_READ"),
        "List team members",
    ),
    op(
        "GET",
        "/v2/api/users/{id}",
        UsersGet,
        Some("USERS_READ"),
        "Get a team member",
    ),
    op(
        "GET",
        "/v2/api/dialing-queues/current",
        QueueGet,
        QUEUE,
        "List current queue numbers",
    ),
    op(
        "PATCH",
        "/v2/api/dialing-queues/current",
        QueueUpsert,
        QUEUE,
        "Update current queue",
    ),
    op(
        "POST",
        "/v2/api/dialing-queues/current",
        QueueReset,
        QUEUE,
        "Reset current queue",
    ),
    op(
        "POST",
        "/v2/api/dialing-queues/current/numbers",
        QueueAppend,
        QUEUE,
        "Append numbers",
    ),
    op(
        "DELETE",
        "/v2/api/dialing-queues/current/numbers",
        QueueClear,
        QUEUE,
        "Clear numbers",
    ),
    op(
        "PATCH",
        "/v2/api/dialing-queues/{queue_id}/assignee",
        QueueReassign,
        QUEUE,
        "Reassign a queue",
    ),
    op(
        "GET",
        "/v2/api/conversations/{contact_number}/notes",
        NotesList,
        NOTES_READ,
        "List conversation notes",
    ),
    op(
        "POST",
        "/v2/api/conversations/{contact_number}/notes",
        NoteCreate,
        NOTES_WRITE,
        "Create a conversation note",
    ),
    op(
        "GET",
        "/v2/api/conversations/notes/{id}",
        NoteGet,
        NOTES_READ,
        "Get a conversation note",
    ),
    op(
        "PATCH",
        "/v2/api/conversations/notes/{id}",
        NoteUpdate,
        NOTES_WRITE,
        "Update a conversation note",
    ),
    op(
        "DELETE",
        "/v2/api/conversations/notes/{id}",
        NoteDelete,
        NOTES_WRITE,
        "Delete a conversation note",
    ),
    op(
        "PUT",
        "/v2/api/conversations/{contact_number}/pin",
        Pin,
        CONVERSATIONS_WRITE,
        "Pin a conversation",
    ),
    op(
        "DELETE",
        "/v2/api/conversations/{contact_number}/pin",
        Unpin,
        CONVERSATIONS_WRITE,
        "Unpin a conversation",
    ),
];

/// Every scope the document names (each `x-scope` value): a sandbox key holds them all.
pub(crate) const SCOPES: [&str; 20] = [
    "CONTACTS_READ",
    "CONTACTS_READ_WRITE",
    "CONVERSATIONS_READ",
    "CONVERSATIONS_WRITE",
    "CRM_READ",
    "CRM_WRITE",
    "DIALING_QUEUE_READ_WRITE",
    "NOTES_READ",
    "NOTES_WRITE",
    "PARTNER",
    "PHONE_NUMBERS_READ",
    "SMS_SEND",
    "SUMMARY_TEMPLATES_READ",
    "SUMMARY_TEMPLATES_WRITE",
    "TAGS_READ",
    "TAGS_WRITE",
    "THREADS_READ",
    "THREADS_WRITE",
    "USERS_READ",
    "WEBHOOKS_READ_WRITE",
];
