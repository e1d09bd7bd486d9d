//! One team's Power Dialer queues and the operations Allo documents on them, free of HTTP:
//! the handlers in `queues.rs` parse and authorise, this file keeps the state consistent.
//!
//! Model (SPEC §3): a queue has a creator and an assignee; a user's *current* queue is the
//! newest-created queue assigned to them (so a reset leaves the old queue behind, no longer
//! current, and a reassigned older queue does not displace a newer one). Choices where the
//! docs are silent:
//! * positions are 0-based and stable: removing an entry does not renumber the others, and a
//!   position is never reused within a queue, so a client deleting by position cannot hit a
//!   shifted entry;
//! * an append is all-or-nothing against the 1,000-number capacity;
//! * each team keeps at most `MAX_QUEUES` queues; beyond that the oldest non-current queue is
//!   forgotten, so a long-running sandbox stays bounded.

pub(crate) use super::queue::{Dnd, Queue, QueueNumber, Voicemail, Who};

/// Allo's documented queue capacity.
pub(super) const CAPACITY: usize = 1_000;
/// Bound on retained queues per team (current ones are never dropped).
const MAX_QUEUES: usize = 64;

/// The fields a PATCH may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// `Some(None)` clears the name.
    pub name: Option<Option<String>>,
    pub voicemail: Option<Voicemail>,
    pub dnd: Option<Dnd>,
}

/// How `DELETE /current/numbers` picks entries (already validated by the handler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClearFilter {
    Number(String),
    Position(u64),
    NumberAt(String, u64),
    Unassigned,
}

/// An append that would take the queue past `CAPACITY`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LimitReached {
    pub held: usize,
    pub adding: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ClearError {
    /// The target has no current queue.
    NoQueue,
    /// No entry at the given position (with the given number, if one was given).
    PositionNotFound,
}

#[derive(Debug, Default)]
pub(crate) struct Dialer {
    queues: Vec<Queue>,
}

impl Dialer {
    fn current_index(&self, assignee: &str) -> Option<usize> {
        self.queues.iter().rposition(|q| q.assignee_id == assignee)
    }

    pub(crate) fn current(&self, assignee: &str) -> Option<&Queue> {
        self.current_index(assignee).and_then(|i| self.queues.get(i))
    }

    /// The target's current queue, created empty (unnamed) when there is none.
    fn current_or_create(&mut self, who: Who<'_>, now: &str) -> &mut Queue {
        let index = match self.current_index(who.assignee) {
            Some(i) => i,
            None => self.push(Queue::new(who, None, now)),
        };
        &mut self.queues[index]
    }

    /// Appends a queue and evicts old ones; returns the new queue's index.
    fn push(&mut self, queue: Queue) -> usize {
        self.queues.push(queue);
        while self.queues.len() > MAX_QUEUES {
            let stale = (0..self.queues.len()).find(|&i| {
                let assignee = &self.queues[i].assignee_id;
                self.queues[i + 1..].iter().any(|q| &q.assignee_id == assignee)
            });
            match stale {
                Some(i) => {
                    self.queues.remove(i);
                }
                // Every queue is someone's current one: the roster is small, so this cannot
                // grow past the number of members.
                None => break,
            }
        }
        self.queues.len() - 1
    }

    /// POST /current: a brand-new empty queue becomes the target's current one.
    pub(crate) fn reset(&mut self, who: Who<'_>, name: Option<String>, now: &str) -> &Queue {
        let index = self.push(Queue::new(who, name, now));
        &self.queues[index]
    }

    /// PATCH /current: changes only the given fields, creating the queue if needed.
    pub(crate) fn upsert(&mut self, who: Who<'_>, changes: Changes, now: &str) -> &Queue {
        let queue = self.current_or_create(who, now);
        if let Some(name) = changes.name {
            queue.name = name;
        }
        if let Some(voicemail) = changes.voicemail {
            queue.voicemail = voicemail;
        }
        if let Some(dnd) = changes.dnd {
            queue.dnd = dnd;
        }
        queue.updated_at = now.to_owned();
        queue
    }

    /// POST /current/numbers with already-normalised numbers; returns the added entries.
    pub(crate) fn append(
        &mut self,
        who: Who<'_>,
        numbers: Vec<String>,
        now: &str,
    ) -> Result<Vec<QueueNumber>, LimitReached> {
        // Check capacity before creating anything, so a refused append leaves no trace.
        let held = self.current(who.assignee).map_or(0, |q| q.numbers.len());
        if held.saturating_add(numbers.len()) > CAPACITY {
            return Err(LimitReached {
                held,
                adding: numbers.len(),
            });
        }
        let queue = self.current_or_create(who, now);
        let mut added = Vec::with_capacity(numbers.len());
        for number_to in numbers {
            let entry = QueueNumber {
                number_to,
                position: queue.next_position,
                created_at: now.to_owned(),
            };
            queue.next_position += 1;
            queue.numbers.push(entry.clone());
            added.push(entry);
        }
        queue.updated_at = now.to_owned();
        Ok(added)
    }

    /// DELETE /current/numbers: returns how many entries were removed.
    pub(crate) fn clear(&mut self, assignee: &str, filter: &ClearFilter, now: &str) -> Result<usize, ClearError> {
        let index = self.current_index(assignee).ok_or(ClearError::NoQueue)?;
        let queue = &mut self.queues[index];
        let before = queue.numbers.len();
        match filter {
            ClearFilter::Number(number) => queue.numbers.retain(|n| &n.number_to != number),
            ClearFilter::Unassigned => queue.numbers.retain(|n| !n.unassigned()),
            ClearFilter::Position(position) | ClearFilter::NumberAt(_, position) => {
                let wanted = |n: &QueueNumber| match filter {
                    ClearFilter::NumberAt(number, _) => &n.number_to == number,
                    _ => true,
                };
                let at = queue.numbers.iter().position(|n| n.position == *position && wanted(n));
                match at {
                    Some(i) => {
                        queue.numbers.remove(i);
                    }
                    None => return Err(ClearError::PositionNotFound),
                }
            }
        }
        let removed = before - queue.numbers.len();
        if removed > 0 {
            queue.updated_at = now.to_owned();
        }
        Ok(removed)
    }

    /// Any queue of the team by id (current or not).
    pub(crate) fn by_id(&self, id: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.id == id)
    }

    /// PATCH /{queue_id}/assignee once the handler has checked rights and the new assignee.
    pub(crate) fn reassign(&mut self, id: &str, assignee: &str, now: &str) -> Option<&Queue> {
        let queue = self.queues.iter_mut().find(|q| q.id == id)?;
        queue.assignee_id = assignee.to_owned();
        queue.updated_at = now.to_owned();
        Some(queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-05-06T10:00:00Z";
    const SELF: Who<'static> = Who {
        creator: "u1",
        assignee: "u1",
    };
    const FOR_U2: Who<'static> = Who {
        creator: "u1",
        assignee: "u2",
    };

    fn nums(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn positions_are_stable_and_never_reused() {
        let mut d = Dialer::default();
        d.append(SELF, nums(&["+1", "+2", "+1"]), NOW).unwrap();
        assert_eq!(d.clear("u1", &ClearFilter::Position(1), NOW), Ok(1));
        let added = d.append(SELF, nums(&["+3"]), NOW).unwrap();
        assert_eq!(added[0].position, 3);
        let wrong_number = ClearFilter::NumberAt("+1".into(), 3);
        assert_eq!(d.clear("u1", &wrong_number, NOW), Err(ClearError::PositionNotFound));
        assert_eq!(d.clear("u1", &ClearFilter::NumberAt("+1".into(), 2), NOW), Ok(1));
        assert_eq!(d.clear("u1", &ClearFilter::Number("+9".into()), NOW), Ok(0));
        assert_eq!(d.clear("u2", &ClearFilter::Unassigned, NOW), Err(ClearError::NoQueue));
    }

    #[test]
    fn reset_makes_a_new_current_queue_and_eviction_keeps_current_ones() {
        let mut d = Dialer::default();
        let first = d.reset(FOR_U2, Some("first".into()), NOW).id.clone();
        let mut last = String::new();
        for _ in 0..200 {
            last = d.reset(SELF, None, NOW).id.clone();
        }
        assert!(d.queues.len() <= MAX_QUEUES);
        assert_eq!(d.current("u2").map(|q| &q.id), Some(&first));
        assert_eq!(d.current("u1").map(|q| &q.id), Some(&last));
        assert!(last.starts_with("pdl_") && last.len() == 16);
    }

    #[test]
    fn upsert_touches_only_given_fields_and_creates_when_missing() {
        let mut d = Dialer::default();
        let changes = Changes {
            voicemail: Some(Voicemail::Skip),
            ..Changes::default()
        };
        let q = d.upsert(FOR_U2, changes, NOW);
        assert_eq!(
            (q.voicemail, q.dnd, q.name.clone()),
            (Voicemail::Skip, Dnd::Disabled, None)
        );
        let id = q.id.clone();
        let changes = Changes {
            name: Some(Some("n".into())),
            ..Changes::default()
        };
        let q = d.upsert(FOR_U2, changes, NOW);
        assert_eq!((q.id.as_str(), q.voicemail), (id.as_str(), Voicemail::Skip));
    }

    #[test]
    fn capacity_is_all_or_nothing() {
        let mut d = Dialer::default();
        let many: Vec<String> = (0..CAPACITY).map(|i| format!("+{i}")).collect();
        d.append(SELF, many, NOW).unwrap();
        let err = d.append(SELF, nums(&["+1"]), NOW).unwrap_err();
        assert_eq!(
            err,
            LimitReached {
                held: CAPACITY,
                adding: 1
            }
        );
        // A refused append to a user without a queue creates none.
        let too_many: Vec<String> = (0..=CAPACITY).map(|i| format!("+{i}")).collect();
        assert!(d.append(FOR_U2, too_many, NOW).is_err());
        assert!(d.current("u2").is_none());
    }
}
