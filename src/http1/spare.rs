//! Requests' header maps, handed back when each request is done and kept, a few per thread, for
//! the next heads the thread parses: a map is two heap blocks (its index and its entries), and
//! a connection's requests follow each other on one worker thread. A worker has many requests
//! in flight at once (one per busy connection), each holding its map until its answer comes,
//! so one spare would rarely be there when a head is parsed: the thread keeps up to `KEEP`.
//! Handed back empty, so no value in one keeps the head it came from alive; one with room for
//! many fields is let go instead, so a thread never keeps more than `KEEP` usual heads' worth.

use std::cell::RefCell;

use http::HeaderMap;

/// A map with room for more fields than this is not kept.
const KEEP_UP_TO: usize = 32;
/// Spare maps a thread keeps at most: as many requests as a worker usually has in flight.
const KEEP: usize = 64;

thread_local! {
    static SPARES: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map with room for `fields`: one of the thread's spares if it has one.
pub(super) fn header_map(fields: usize) -> HeaderMap {
    match SPARES.with_borrow_mut(Vec::pop) {
        Some(mut map) => {
            map.reserve(fields);
            map
        }
        None => HeaderMap::with_capacity(fields),
    }
}

/// Hands back a request's map once nothing needs it, for one of the thread's next heads.
pub fn recycle_headers(mut map: HeaderMap) {
    if map.capacity() > KEEP_UP_TO {
        return;
    }
    map.clear();
    SPARES.with_borrow_mut(|spares| {
        if spares.len() < KEEP {
            if spares.capacity() == 0 {
                spares.reserve_exact(KEEP);
            }
            spares.push(map);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_handed_back_come_back_empty_and_large_ones_are_let_go() {
        std::thread::spawn(|| {
            let mut map = header_map(4);
            map.insert("x-one", "1".parse().unwrap());
            let blocks = map.capacity();
            recycle_headers(map);
            let again = header_map(2);
            assert!(again.is_empty(), "a spare map comes back empty");
            assert_eq!(again.capacity(), blocks, "the same map, not a new one");

            recycle_headers(HeaderMap::with_capacity(KEEP_UP_TO * 4));
            assert!(header_map(1).capacity() < KEEP_UP_TO * 4, "a large map is not kept");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn as_many_spares_as_requests_in_flight_up_to_the_bound() {
        std::thread::spawn(|| {
            // KEEP + 8 requests in flight at once, each with its own map, then all done.
            let in_flight: Vec<HeaderMap> = (0..KEEP + 8).map(|_| header_map(4)).collect();
            for map in in_flight {
                recycle_headers(map);
            }
            assert_eq!(SPARES.with_borrow(Vec::len), KEEP, "no more than KEEP are kept");
            // The next KEEP heads take spares, empty and with room.
            let taken: Vec<HeaderMap> = (0..KEEP).map(|_| header_map(4)).collect();
            assert!(taken.iter().all(|map| map.is_empty() && map.capacity() >= 4));
            assert_eq!(SPARES.with_borrow(Vec::len), 0);
        })
        .join()
        .unwrap();
    }
}
