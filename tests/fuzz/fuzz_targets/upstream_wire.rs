//! The upstream response parser and body decoder (`src/http1/response.rs`, `body.rs`) on
//! arbitrary bytes. Nothing may panic, and the outcome (refused, or status and body) must be
//! the same whether the bytes arrive at once or a few at a time, as a slow or hostile upstream
//! would send them.
#![no_main]

use allo_gateway::http1::fuzz_logic::read_response_in_pieces;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [control, wire @ ..] = data else {
        return;
    };
    let head_request = control & 0x80 != 0;
    let piece = usize::from(control & 0x0f) + 1;
    let whole = read_response_in_pieces(wire, head_request, wire.len());
    let split = read_response_in_pieces(wire, head_request, piece);
    assert_eq!(
        whole, split,
        "the outcome depends on how the bytes were split ({piece} at a time)"
    );
});
