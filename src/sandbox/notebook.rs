//! One team's conversation notes, free of HTTP: `notes.rs` parses and validates requests, this
//! file keeps the notes and enforces who may change them. A note belongs to a conversation
//! (contact number + Allo number or sender id), is visible to the whole team, and may be
//! changed or deleted only by its author.
//!
//! Every team starts with one note written by a teammate other than the key owner (`bob`, the
//! second member of the roster): id `SEEDED_NOTE_ID`, on the conversation of
//! `SEEDED_NOTE_CONTACT` with `SEEDED_NOTE_ALLO_NUMBER`. It makes the author rule observable:
//! the key may read that note, and a PATCH or DELETE of it is refused 403 `NOT_NOTE_AUTHOR`.
//!
//! Choices where the docs are silent: listings are newest first; each team keeps at most
//! `MAX_NOTES` notes, beyond which the oldest note made through the API is forgotten (the seeded
//! one stays), so a long-running sandbox stays bounded.

use serde_json::{json, Value};

use crate::ids::random_id;

/// Allo's documented limit on `content`, in Unicode code points.
pub const NOTE_MAX_CHARS: usize = 4_000;
/// The id of the note every team starts with (authored by `bob`, not the key owner).
pub const SEEDED_NOTE_ID: &str = "note_seeded_by_bob";
/// The contact number of the seeded note's conversation (E.164).
pub const SEEDED_NOTE_CONTACT: &str = "+33612345678";
/// The Allo number of the seeded note's conversation (E.164).
pub const SEEDED_NOTE_ALLO_NUMBER: &str = "+33187654321";
/// Bound on retained notes per team.
const MAX_NOTES: usize = 500;

/// A conversation note as the sandbox returns it (Allo's `Note`, completed with the fields a
/// client needs to tell notes apart; response objects are open).
#[derive(Debug, Clone)]
pub(crate) struct Note {
    pub id: String,
    pub content: String,
    pub contact_number: String,
    pub allo_number: Option<String>,
    pub sender_id: Option<String>,
    /// The author's user id.
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Note {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "content": self.content,
            "contact_number": self.contact_number,
            "allo_number": self.allo_number,
            "sender_id": self.sender_id,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// What a create carries once validated.
#[derive(Debug)]
pub(crate) struct NewNote {
    pub content: String,
    pub contact_number: String,
    pub allo_number: Option<String>,
    pub sender_id: Option<String>,
    pub author: String,
}

/// Why a change to an existing note was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoteError {
    #[error("no note of your team has this id")]
    NotFound,
    #[error("only the author of a note may change or delete it")]
    NotAuthor,
}

#[derive(Debug)]
pub(crate) struct Notebook {
    /// Oldest first; the seeded note is first until it is deleted.
    notes: Vec<Note>,
}

impl Notebook {
    /// A notebook holding only the seeded note, written by `author` at `now`.
    pub(crate) fn seeded(author: &str, now: &str) -> Notebook {
        let seed = Note {
            id: SEEDED_NOTE_ID.to_owned(),
            content: "Called back about the renewal; wants a quote by Friday.".to_owned(),
            contact_number: SEEDED_NOTE_CONTACT.to_owned(),
            allo_number: Some(SEEDED_NOTE_ALLO_NUMBER.to_owned()),
            sender_id: None,
            created_by: author.to_owned(),
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        };
        Notebook { notes: vec![seed] }
    }

    /// Stores a new note with a fresh `note_` id (12 alphanumerics, like queue ids).
    pub(crate) fn create(&mut self, new: NewNote, now: &str) -> &Note {
        self.notes.push(Note {
            id: random_id("note_", 12),
            content: new.content,
            contact_number: new.contact_number,
            allo_number: new.allo_number,
            sender_id: new.sender_id,
            created_by: new.author,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        });
        if self.notes.len() > MAX_NOTES {
            let oldest = self.notes.iter().position(|n| n.id != SEEDED_NOTE_ID).unwrap_or(0);
            self.notes.remove(oldest);
        }
        let last = self.notes.len() - 1;
        &self.notes[last]
    }

    /// The notes of one conversation, newest first.
    pub(crate) fn list(&self, contact_number: &str, allo_number: &str) -> Vec<&Note> {
        self.notes
            .iter()
            .rev()
            .filter(|n| n.contact_number == contact_number && n.allo_number.as_deref() == Some(allo_number))
            .collect()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Note> {
        self.notes.iter().find(|n| n.id == id)
    }

    fn authored_index(&self, id: &str, author: &str) -> Result<usize, NoteError> {
        let index = self.notes.iter().position(|n| n.id == id).ok_or(NoteError::NotFound)?;
        if self.notes[index].created_by != author {
            return Err(NoteError::NotAuthor);
        }
        Ok(index)
    }

    /// Replaces the content of `author`'s note `id`.
    pub(crate) fn update(&mut self, id: &str, author: &str, content: String, now: &str) -> Result<&Note, NoteError> {
        let index = self.authored_index(id, author)?;
        let note = &mut self.notes[index];
        note.content = content;
        note.updated_at = now.to_owned();
        Ok(note)
    }

    /// Deletes `author`'s note `id`.
    pub(crate) fn delete(&mut self, id: &str, author: &str) -> Result<(), NoteError> {
        let index = self.authored_index(id, author)?;
        self.notes.remove(index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-05-06T10:00:00Z";
    const LATER: &str = "2026-05-06T10:05:00Z";

    fn new(content: &str, contact: &str) -> NewNote {
        NewNote {
            content: content.into(),
            contact_number: contact.into(),
            allo_number: Some(SEEDED_NOTE_ALLO_NUMBER.into()),
            sender_id: None,
            author: "alice".into(),
        }
    }

    #[test]
    fn only_the_author_changes_a_note() {
        let mut book = Notebook::seeded("bob", NOW);
        assert_eq!(book.get(SEEDED_NOTE_ID).map(|n| n.created_by.as_str()), Some("bob"));
        let err = book.update(SEEDED_NOTE_ID, "alice", "x".into(), LATER).unwrap_err();
        assert_eq!(err, NoteError::NotAuthor);
        assert_eq!(book.delete(SEEDED_NOTE_ID, "alice"), Err(NoteError::NotAuthor));
        assert_eq!(book.delete("note_nope", "alice"), Err(NoteError::NotFound));
        let id = book.create(new("first", "+33600000001"), NOW).id.clone();
        let note = book.update(&id, "alice", "second".into(), LATER).unwrap();
        assert_eq!((note.content.as_str(), note.created_at.as_str()), ("second", NOW));
        assert_eq!(note.updated_at, LATER);
        assert_eq!(book.delete(&id, "alice"), Ok(()));
        assert!(book.get(&id).is_none());
        assert_eq!(book.delete(SEEDED_NOTE_ID, "bob"), Ok(()));
    }

    #[test]
    fn lists_one_conversation_newest_first() {
        let mut book = Notebook::seeded("bob", NOW);
        book.create(new("mine", SEEDED_NOTE_CONTACT), LATER);
        book.create(new("other contact", "+33600000001"), LATER);
        let list = book.list(SEEDED_NOTE_CONTACT, SEEDED_NOTE_ALLO_NUMBER);
        let contents: Vec<&str> = list.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(contents.len(), 2);
        assert_eq!(contents[1], SEEDED_NOTE_ID);
        assert!(book.list(SEEDED_NOTE_CONTACT, "+33100000000").is_empty());
    }

    #[test]
    fn bounded_and_the_seed_stays() {
        let mut book = Notebook::seeded("bob", NOW);
        let first = book.create(new("0", "+33600000001"), NOW).id.clone();
        for i in 1..MAX_NOTES + 10 {
            book.create(new(&i.to_string(), "+33600000001"), NOW);
        }
        assert_eq!(book.notes.len(), MAX_NOTES);
        assert!(book.get(SEEDED_NOTE_ID).is_some());
        assert!(book.get(&first).is_none());
    }
}
