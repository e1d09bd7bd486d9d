//! A Power Dialer queue and its entries as Allo returns them (SPEC §3.2): the data model and
//! its JSON shapes (`DialingQueue`, `DialingQueueMeta`, `QueueNumber`). How queues are created,
//! found and changed is `dialer.rs`'s job. Timestamps are stored already rendered, since they
//! are only ever read back out.

use serde_json::{json, Value};

use crate::ids::random_id;

/// `voicemail_handling` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Voicemail {
    Skip,
    NoSkip,
}

/// `do_not_disturb` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dnd {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone)]
pub(crate) struct QueueNumber {
    pub number_to: String,
    pub position: u64,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub id: String,
    pub name: Option<String>,
    pub creator_id: String,
    pub assignee_id: String,
    pub voicemail: Voicemail,
    pub dnd: Dnd,
    pub numbers: Vec<QueueNumber>,
    pub(super) next_position: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// Who a write is for: the key owner (creator of any queue it makes) and the targeted user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub creator: &'a str,
    pub assignee: &'a str,
}

impl Queue {
    /// A new empty queue with a fresh `pdl_` id (Allo's are KSUIDs; 12 alphanumerics as in
    /// its examples is enough to be unique here).
    pub(super) fn new(who: Who<'_>, name: Option<String>, now: &str) -> Queue {
        Queue {
            id: random_id("pdl_", 12),
            name,
            creator_id: who.creator.to_owned(),
            assignee_id: who.assignee.to_owned(),
            voicemail: Voicemail::NoSkip,
            dnd: Dnd::Disabled,
            numbers: Vec::new(),
            next_position: 0,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        }
    }

    /// `DialingQueueMeta`, or the full `DialingQueue` when `with_numbers`.
    pub(crate) fn to_json(&self, with_numbers: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "creator_id": self.creator_id,
            "assignee_id": self.assignee_id,
            "voicemail_handling": match self.voicemail { Voicemail::Skip => "SKIP", Voicemail::NoSkip => "NO_SKIP" },
            "do_not_disturb": match self.dnd { Dnd::Enabled => "ENABLED", Dnd::Disabled => "DISABLED" },
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        });
        if with_numbers {
            let numbers: Vec<Value> = self.numbers.iter().map(QueueNumber::to_json).collect();
            v["numbers"] = Value::Array(numbers);
        }
        v
    }
}

impl QueueNumber {
    /// A `QueueNumber`. Nothing is ever dialled in the sandbox, so the call fields stay null
    /// and `call_status` stays `QUEUED` (the one value Allo's docs show).
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "number_to": self.number_to,
            "position": self.position,
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "call_start_date": null,
            "call_id": null,
            "routing_result": null,
            "sync_status": "NOT_SYNCED",
            "detected_outbound_voicemail": null,
            "not_reached_destination_reason": null,
            "voicemail_left": null,
            "call_status": "QUEUED",
        })
    }

    /// Not yet called: always true here, since the sandbox places no calls.
    pub(super) fn unassigned(&self) -> bool {
        true
    }
}
