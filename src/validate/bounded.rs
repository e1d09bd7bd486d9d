//! The field errors of one request, bounded: at most `MAX_LISTED` are kept, each field cut to
//! `MAX_FIELD_BYTES` and each message to `MAX_MESSAGE_BYTES`, and the rest are only counted.
//! A request built to break every rule (ten thousand unknown keys) then costs an answer of a
//! few KiB, and the checks stop early (see `messages::schema_errors`), so it costs little CPU.
//!
//! One finding per field and rule: the description and a rule on top may both say it, and a
//! key repeated in a query is one finding. Findings past the cap are remembered only as a
//! 64-bit hash of field and code, so the count stays right without keeping their text.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::envelope::{FieldError, Listing};

/// Entries listed in `errors[]`; the rest are counted in one last entry.
pub const MAX_LISTED: usize = 50;
/// Longest `field` (a JSON pointer) listed; a longer one is cut and ends in `...`.
pub const MAX_FIELD_BYTES: usize = 128;
/// Longest `message`, in an entry and in the envelope's summary.
pub const MAX_MESSAGE_BYTES: usize = 200;

#[derive(Debug, Default)]
pub struct ErrorList {
    listing: Listing,
    /// The key of each listed entry, in order (taken before the field was cut).
    listed_keys: Vec<u64>,
    /// The key of every finding, listed or not.
    seen: HashSet<u64>,
}

impl ErrorList {
    pub fn new() -> ErrorList {
        ErrorList::default()
    }

    /// A list of one (a check that stops at its first error).
    pub fn one(error: FieldError) -> ErrorList {
        let mut list = ErrorList::new();
        list.push_error(error);
        list
    }

    pub fn is_empty(&self) -> bool {
        self.listing.is_empty()
    }

    /// No more entries will be listed: checks may stop looking.
    pub fn is_full(&self) -> bool {
        self.listing.listed.len() >= MAX_LISTED
    }

    /// Findings, listed or counted.
    pub fn total(&self) -> usize {
        self.listing.listed.len() + self.listing.unlisted
    }

    pub fn first(&self) -> Option<&FieldError> {
        self.listing.listed.first()
    }

    pub fn listing(&self) -> &Listing {
        &self.listing
    }

    /// A check stopped with input still unread: the count is a lower bound.
    pub fn stopped(&mut self) {
        self.listing.at_least = true;
    }

    /// Records a finding; the message is built only if the finding is listed.
    pub fn push(&mut self, field: &str, code: &str, message: impl FnOnce() -> String) {
        let key = key_of(field, code);
        self.push_keyed(key, || FieldError {
            field: field.to_string(),
            code: code.to_string(),
            message: message(),
        });
    }

    pub fn push_error(&mut self, error: FieldError) {
        let key = key_of(&error.field, &error.code);
        self.push_keyed(key, || error);
    }

    fn push_keyed(&mut self, key: u64, error: impl FnOnce() -> FieldError) {
        if !self.seen.insert(key) {
            return;
        }
        if self.is_full() {
            self.listing.unlisted += 1;
            return;
        }
        let FieldError { field, code, message } = error();
        self.listed_keys.push(key);
        self.listing.listed.push(FieldError {
            field: cut(field, MAX_FIELD_BYTES),
            code,
            message: cut(message, MAX_MESSAGE_BYTES),
        });
    }

    /// Adds another list's findings after this one's (each still counted once).
    pub fn absorb(&mut self, other: ErrorList) {
        let ErrorList {
            listing,
            listed_keys,
            seen,
        } = other;
        let unlisted: Vec<u64> = seen.into_iter().filter(|k| !listed_keys.contains(k)).collect();
        for (key, error) in listed_keys.into_iter().zip(listing.listed) {
            self.push_keyed(key, || error);
        }
        for key in unlisted {
            if self.seen.insert(key) {
                self.listing.unlisted += 1;
            }
        }
        self.listing.at_least |= listing.at_least;
    }
}

/// `(field, code)` as a hash; a collision could only hide one of a request's own findings.
fn key_of(field: &str, code: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (field, code).hash(&mut hasher);
    hasher.finish()
}

/// `text` cut to at most `max` bytes (at a character boundary), ending in `...` if cut.
pub(super) fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("...");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(list: &mut ErrorList, name: &str) {
        list.push(&format!("/{name}"), "additionalProperties", || "is not a field".into());
    }

    #[test]
    fn lists_fifty_and_counts_the_rest_once_each() {
        let mut list = ErrorList::new();
        for i in 0..1000 {
            unknown(&mut list, &format!("k{i}"));
            // A second report of the same finding is not a second finding.
            unknown(&mut list, &format!("k{i}"));
        }
        assert!(list.is_full());
        assert_eq!(list.listing().listed.len(), MAX_LISTED);
        assert_eq!(list.listing().unlisted, 950);
        assert_eq!(list.total(), 1000);
        assert_eq!(list.first().map(|e| e.field.as_str()), Some("/k0"));
    }

    #[test]
    fn absorbing_counts_each_finding_once() {
        let (mut a, mut b) = (ErrorList::new(), ErrorList::new());
        for i in 0..60 {
            unknown(&mut a, &format!("k{i}"));
        }
        for i in 30..100 {
            unknown(&mut b, &format!("k{i}"));
        }
        b.stopped();
        a.absorb(b);
        assert_eq!(a.total(), 100);
        assert!(a.listing().at_least);
    }

    #[test]
    fn fields_and_messages_are_cut() {
        let mut list = ErrorList::new();
        list.push(&format!("/{}", "é".repeat(300)), "maxLength", || "x".repeat(1000));
        let e = list.first().unwrap();
        assert!(e.field.len() <= MAX_FIELD_BYTES && e.field.ends_with("..."));
        assert!(e.message.len() <= MAX_MESSAGE_BYTES && e.message.ends_with("..."));
        assert_eq!(cut("short".into(), 10), "short");
    }
}
