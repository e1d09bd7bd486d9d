//! Identifiers in Allo's own forms: `req_` + 12 alphanumerics for request ids, and the same
//! generator for the sandbox's `pdl_...` / `usr-...` ids. Also the rule for accepting a
//! caller-supplied `X-Request-Id`. And the map type for configured ids.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::BytesMut;
use http::{HeaderName, HeaderValue};
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

/// The field that carries a request's id end to end: from the caller (or the gateway), to
/// Allo, back to the caller. The listener, the answer writer, the upstream rewrite and the
/// pipeline all name it, so it lives here rather than in any of them.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A map keyed by configured ids and looked up per request. Its keys come from the config and
/// its lookups from an authenticated caller's config, never from request input, so a fast hash
/// without flooding resistance is safe and cheaper than SipHash.
pub type IdMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// `prefix` followed by `len` random ASCII alphanumerics.
pub fn random_id(prefix: &str, len: usize) -> String {
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    Alphanumeric.append_string(&mut rand::rng(), &mut id, len);
    id
}

/// A new request id in Allo's form: `req_` + 12 alphanumerics.
pub fn new_request_id() -> String {
    request_id_bytes().into_iter().map(char::from).collect()
}

/// A new request id, as the header value the gateway sends: built on the stack and copied into
/// a slab the thread shares out (`SLAB`), since the pipeline makes one for every request that
/// brings none.
pub fn new_request_id_value() -> HeaderValue {
    let id = request_id_bytes();
    let shared = SLAB.with_borrow_mut(|slab| {
        if slab.capacity() - slab.len() < id.len() {
            *slab = BytesMut::with_capacity(SLAB_BYTES);
        }
        slab.extend_from_slice(&id);
        slab.split_to(id.len()).freeze()
    });
    HeaderValue::from_maybe_shared(shared).unwrap_or_else(|_| HeaderValue::from_static("req_000000000000"))
}

/// Ids in one heap block: 256 of them, a reference count each instead of an allocation each.
/// A block is freed when the last id cut from it is dropped.
const SLAB_BYTES: usize = 4096;

thread_local! {
    static SLAB: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

const ALPHANUMERIC: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Two random words, six base-62 digits from each, read as a fraction's digits: each digit is
/// the high word of the fraction times 62, the low word the fraction left. 2^64 is so much
/// larger than 62^6 that the digits are uniform to within 2^-28, and a multiplication costs
/// less than the division by 62 it replaces.
fn request_id_bytes() -> [u8; 16] {
    let mut id = *b"req_000000000000";
    let mut rng = rand::rng();
    for half in id[4..].chunks_mut(6) {
        let mut fraction: u64 = rng.random();
        for byte in half {
            let wide = u128::from(fraction) * 62;
            // The high word is below 62.
            *byte = ALPHANUMERIC[(wide >> 64) as usize % ALPHANUMERIC.len()];
            fraction = wide as u64;
        }
    }
    id
}

/// A caller's `X-Request-Id` is kept when it is 1 to 128 visible ASCII characters.
pub fn acceptable_request_id(value: &[u8]) -> bool {
    (1..=128).contains(&value.len()) && value.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_characters_cover_the_alphabet() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            seen.extend(request_id_bytes()[4..].iter().copied());
        }
        assert_eq!(seen.len(), 62, "every alphanumeric turns up");
    }

    #[test]
    fn request_ids_have_allo_form() {
        let id = new_request_id();
        assert_eq!(id.len(), 16);
        assert!(id.starts_with("req_"));
        assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn request_id_values_have_allo_form_across_slabs() {
        // Past two slabs' worth, all kept alive: none is overwritten by a later one.
        let ids: Vec<HeaderValue> = (0..2 * SLAB_BYTES / 16 + 3).map(|_| new_request_id_value()).collect();
        let distinct: std::collections::HashSet<&HeaderValue> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            let id = id.to_str().unwrap();
            assert_eq!(id.len(), 16);
            assert!(id.starts_with("req_"));
            assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn caller_request_id_rules() {
        assert!(acceptable_request_id(b"abc-123"));
        assert!(!acceptable_request_id(b""));
        assert!(!acceptable_request_id(b"has space"));
        assert!(!acceptable_request_id(&[b'a'; 129]));
    }
}
