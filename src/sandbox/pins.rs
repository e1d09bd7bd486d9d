//! Pinning conversations: `PUT` and `DELETE /v2/api/conversations/{contact_number}/pin`, and the
//! per-team state behind them. Pins belong to a user (the key owner, for calls through the
//! API); a conversation is its contact number and Allo number, both in E.164.
//!
//! Rules from Allo's document: both answer 204 with no body; a user holds at most `MAX_PINS`
//! pins, and pinning an eleventh distinct conversation is 409 `PIN_LIMIT_REACHED`; a missing
//! or blank `allo_number` is 400 `INVALID_REQUEST_BODY` for PUT (body) and `MISSING_PARAMETER`
//! for DELETE (query). Choices where it is silent: pinning a pinned conversation is a no-op
//! 204 (even at the limit), and so is unpinning one that is not pinned.

use std::collections::HashMap;

use serde_json::Value;

use super::conversation;
use super::input::Fields;
use super::respond::{ApiError, Reply};
use super::Call;

/// Allo's documented limit of pinned conversations per user.
pub const MAX_PINS: usize = 10;

/// (contact number, Allo number), both E.164.
type Conversation = (String, String);

/// One team's pins, per user id. Bounded: at most `MAX_PINS` per user, and only roster users
/// (the key owner, today) ever pin.
#[derive(Debug, Default)]
pub(crate) struct Pins {
    by_user: HashMap<String, Vec<Conversation>>,
}

/// A pin refused because the user already holds `MAX_PINS`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PinLimitReached;

impl Pins {
    pub(crate) fn pin(&mut self, user: &str, conversation: Conversation) -> Result<(), PinLimitReached> {
        let pinned = self.by_user.entry(user.to_owned()).or_default();
        if pinned.contains(&conversation) {
            return Ok(());
        }
        if pinned.len() >= MAX_PINS {
            return Err(PinLimitReached);
        }
        pinned.push(conversation);
        Ok(())
    }

    pub(crate) fn unpin(&mut self, user: &str, conversation: &Conversation) {
        if let Some(pinned) = self.by_user.get_mut(user) {
            pinned.retain(|c| c != conversation);
        }
    }

    #[cfg(test)]
    pub(crate) fn count(&self, user: &str) -> usize {
        self.by_user.get(user).map_or(0, Vec::len)
    }
}

/// PUT /v2/api/conversations/{contact_number}/pin, body `{"allo_number": "..."}`.
pub(crate) fn pin(call: &Call<'_>, contact: &str) -> Result<Reply, ApiError> {
    let contact_number = conversation::contact_number(contact)?;
    let body = call.json_body()?.unwrap_or_default();
    let mut fields = Fields::new(&body);
    let raw = match fields.get("allo_number") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        Some(Value::String(_)) => {
            fields.error("allo_number", "minLength", "must not be empty or blank");
            None
        }
        Some(_) => {
            fields.error("allo_number", "type", "must be a string");
            None
        }
        None => {
            fields.error("allo_number", "required", "is required");
            None
        }
    };
    let Some(raw) = raw else {
        return Err(ApiError::invalid_body(fields.errors));
    };
    let allo_number = conversation::allo_number(raw, "allo_number")?;
    let user = &call.team.roster.owner().id;
    call.team
        .pins()
        .pin(user, (contact_number, allo_number))
        .map_err(|PinLimitReached| {
            ApiError::conflict(
                "PIN_LIMIT_REACHED",
                format!("at most {MAX_PINS} conversations can be pinned per user; unpin one first"),
            )
        })?;
    Ok(Reply::no_content())
}

/// DELETE /v2/api/conversations/{contact_number}/pin?allo_number=...
pub(crate) fn unpin(call: &Call<'_>, contact: &str) -> Result<Reply, ApiError> {
    let contact_number = conversation::contact_number(contact)?;
    let Some(raw) = call.query.get("allo_number").filter(|v| !v.trim().is_empty()) else {
        return Err(
            ApiError::validation("MISSING_PARAMETER", "allo_number: query parameter is required")
                .with_param("allo_number"),
        );
    };
    let allo_number = conversation::allo_number_from_query(raw)?;
    let user = &call.team.roster.owner().id;
    call.team.pins().unpin(user, &(contact_number, allo_number));
    Ok(Reply::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(i: usize) -> Conversation {
        (format!("+336000000{i:02}"), "+33187654321".to_owned())
    }

    #[test]
    fn ten_pins_per_user_idempotent_and_unpin_frees_a_slot() {
        let mut pins = Pins::default();
        for i in 0..MAX_PINS {
            assert_eq!(pins.pin("u1", conv(i)), Ok(()));
        }
        assert_eq!(pins.pin("u1", conv(0)), Ok(()), "already pinned");
        assert_eq!(pins.pin("u1", conv(10)), Err(PinLimitReached));
        assert_eq!(pins.pin("u2", conv(10)), Ok(()), "limits are per user");
        pins.unpin("u1", &conv(3));
        pins.unpin("u1", &conv(3));
        assert_eq!(pins.count("u1"), MAX_PINS - 1);
        assert_eq!(pins.pin("u1", conv(10)), Ok(()));
    }
}
