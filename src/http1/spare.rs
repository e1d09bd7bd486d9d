//! A request's header map, handed back when the request is done and kept, one per thread, for
//! the next head the thread parses: a map is two heap blocks (its index and its entries), and
//! a connection's requests follow each other on one worker thread. Handed back empty, so no
//! value in it keeps the head it came from alive; one with room for many fields is let go
//! instead, so a thread never keeps more than a usual head's worth.

use std::cell::Cell;

use http::HeaderMap;

/// A map with room for more fields than this is not kept.
const KEEP_UP_TO: usize = 64;

thread_local! {
    static SPARE: Cell<Option<HeaderMap>> = const { Cell::new(None) };
}

/// An empty map with room for `fields`: the thread's spare if it has one.
pub(super) fn header_map(fields: usize) -> HeaderMap {
    match SPARE.take() {
        Some(mut map) => {
            map.reserve(fields);
            map
        }
        None => HeaderMap::with_capacity(fields),
    }
}

/// Hands back a request's map once nothing needs it, for the thread's next head.
pub fn recycle_headers(mut map: HeaderMap) {
    if map.capacity() > KEEP_UP_TO {
        return;
    }
    map.clear();
    SPARE.set(Some(map));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_handed_back_comes_back_empty_and_a_large_one_is_let_go() {
        std::thread::spawn(|| {
            let mut map = header_map(4);
            map.insert("x-one", "1".parse().unwrap());
            let blocks = map.capacity();
            recycle_headers(map);
            let again = header_map(2);
            assert!(again.is_empty(), "a spare map comes back empty");
            assert_eq!(again.capacity(), blocks, "the same map, not a new one");
            assert!(header_map(2).capacity() < blocks || blocks <= 2, "one spare only");

            recycle_headers(HeaderMap::with_capacity(KEEP_UP_TO * 4));
            assert!(header_map(1).capacity() < KEEP_UP_TO * 4, "a large map is not kept");
        })
        .join()
        .unwrap();
    }
}
