//! The SHA-256 digests of the tokens that last authenticated on this thread, so that a
//! caller's next request is not hashed again: the usual sidecar has a handful of services,
//! each with one token, on keep-alive connections. A hit costs a comparison of a few dozen
//! bytes where SHA-256 costs about 3,500 instructions.
//!
//! A pure cache: a token's digest never changes, and the digest is still looked up in the
//! current config's table on every request, so a reload that removes a caller or changes its
//! hash takes effect at once and nothing here needs forgetting. Only tokens that authenticated
//! are kept, so a stream of wrong tokens cannot push the real ones out.
//!
//! Per thread (each worker its own memo: no lock, nothing shared), at most `SLOTS` tokens of
//! at most `MAX_TOKEN` bytes, in fixed buffers overwritten with zeros when a slot is reused
//! and when a worker thread ends (the main thread's go with the process); no `Debug`, so
//! never printed. A presented token is compared with
//! each remembered one of the same length in constant time: how long a lookup takes does not
//! tell how many leading bytes of a guess match a remembered token.

use std::cell::RefCell;

use zeroize::Zeroize;

use crate::secret::constant_time_eq;

/// Tokens remembered per thread.
const SLOTS: usize = 4;
/// Longer tokens are hashed on every request.
pub(super) const MAX_TOKEN: usize = 128;

pub(super) type Digest = [u8; 32];

struct Slot {
    len: usize,
    token: [u8; MAX_TOKEN],
    digest: Digest,
}

struct Memo {
    slots: [Slot; SLOTS],
    /// The slot the next token goes to (in turn).
    next: usize,
}

const EMPTY: Slot = Slot {
    len: 0,
    token: [0; MAX_TOKEN],
    digest: [0; 32],
};

impl Drop for Memo {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            slot.forget();
        }
    }
}

impl Slot {
    fn forget(&mut self) {
        // `zeroize`: writes the compiler may not drop as dead stores.
        self.token.zeroize();
        self.len = 0;
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            slots: [EMPTY; SLOTS],
            next: 0,
        })
    };
}

/// The digest remembered for `token`, if it authenticated on this thread lately.
pub(super) fn recall(token: &[u8]) -> Option<Digest> {
    if token.is_empty() || token.len() > MAX_TOKEN {
        return None;
    }
    MEMO.with(|memo| {
        let memo = memo.borrow();
        memo.slots
            .iter()
            .find(|slot| slot.len == token.len() && constant_time_eq(&slot.token[..slot.len], token))
            .map(|slot| slot.digest)
    })
}

/// Remembers that `token` (which just authenticated) hashes to `digest`, in the oldest slot.
pub(super) fn remember(token: &[u8], digest: Digest) {
    if token.is_empty() || token.len() > MAX_TOKEN {
        return;
    }
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        let at = memo.next;
        memo.next = (at + 1) % SLOTS;
        let slot = &mut memo.slots[at];
        slot.forget();
        slot.token[..token.len()].copy_from_slice(token);
        slot.len = token.len();
        slot.digest = digest;
    });
}

#[cfg(test)]
pub(super) fn forget_all() {
    MEMO.with(|memo| {
        for slot in &mut memo.borrow_mut().slots {
            slot.forget();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_token_is_recalled_and_only_that_token() {
        forget_all();
        remember(b"tok-aaaa", [1; 32]);
        assert_eq!(recall(b"tok-aaaa"), Some([1; 32]));
        // Same length, one byte off; a prefix; a longer one.
        assert_eq!(recall(b"tok-aaab"), None);
        assert_eq!(recall(b"tok-aaa"), None);
        assert_eq!(recall(b"tok-aaaaa"), None);
        assert_eq!(recall(b""), None);
    }

    #[test]
    fn the_oldest_token_makes_room_and_its_bytes_are_zeroed() {
        forget_all();
        for i in 0..SLOTS as u8 + 1 {
            remember(format!("token-{i}").as_bytes(), [i; 32]);
        }
        assert_eq!(
            recall(b"token-0"),
            None,
            "the first of {} tokens is forgotten",
            SLOTS + 1
        );
        for i in 1..SLOTS as u8 + 1 {
            assert_eq!(recall(format!("token-{i}").as_bytes()), Some([i; 32]));
        }
        // The reused slot holds only the new token: nothing of the old one is left after it.
        MEMO.with(|memo| {
            let memo = memo.borrow();
            for slot in &memo.slots {
                assert!(slot.token[slot.len..].iter().all(|b| *b == 0));
            }
        });
    }

    #[test]
    fn overlong_tokens_are_never_remembered() {
        forget_all();
        let long = vec![b'x'; MAX_TOKEN + 1];
        remember(&long, [7; 32]);
        assert_eq!(recall(&long), None);
    }

    #[test]
    fn each_thread_has_its_own_memo() {
        forget_all();
        remember(b"tok-thread", [3; 32]);
        let elsewhere = std::thread::spawn(|| recall(b"tok-thread")).join().unwrap();
        assert_eq!(elsewhere, None);
        assert_eq!(recall(b"tok-thread"), Some([3; 32]));
    }
}
