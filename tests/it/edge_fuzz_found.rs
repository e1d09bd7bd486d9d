//! What the `request_wire` fuzz target (tests/fuzz) found, replayed against the real binary on
//! real sockets: each case is a request hyper's HTTP/1.1 server refuses that the gateway's own
//! listener once accepted. Each is now refused with 400 `MALFORMED_REQUEST` and the connection
//! closed, before anything reaches the upstream; the well-formed neighbour of each still passes.

use crate::support;

use support::raw::{assert_refused_as_malformed, Raw};
use support::{Capture, GatewayProcess};

const TOKEN: &str = "tok_edge_fuzz_found_0123456789ab";
const KEY: &str = "ak_live_EDGEFUZZFOUNDKEY";

/// One unrestricted caller; paths outside Allo's table are forwarded.
fn start(upstream: &str) -> GatewayProcess {
    support::one_caller(upstream, "TEST_EDGE_FUZZ_FOUND_KEY", TOKEN)
        .forward_unknown()
        .start(&[("TEST_EDGE_FUZZ_FOUND_KEY", KEY)])
}

/// A chunked POST to a forwarded path with the caller's token.
fn chunked(body: &str) -> String {
    format!(
        "POST /v2/api/anything HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
    )
}

/// Each body is refused as malformed, its connection closed, nothing forwarded.
async fn refused(gw: &GatewayProcess, bodies: &[&str]) {
    for body in bodies {
        assert_refused_as_malformed(gw.addr, chunked(body), &format!("{body:?}")).await;
    }
}

/// Each body is forwarded as `{}`.
async fn forwarded(gw: &GatewayProcess, up: &Capture, bodies: &[&str]) {
    for body in bodies {
        let before = up.count();
        let mut raw = Raw::connect(gw.addr).await;
        raw.write(chunked(body)).await;
        let reply = raw.reply().await;
        assert_eq!(reply.status, 200, "{body:?} -> {}", reply.head);
        assert_eq!(up.count(), before + 1, "{body:?}");
        let taken = up.taken();
        assert_eq!(&taken[taken.len() - 1].body[..], b"{}", "{body:?}");
    }
}

/// A trailer line that is no field line (a name with bytes outside a token, a space before the
/// colon, no colon): hyper reads trailers and refuses the message; the gateway, which drops
/// them, took it as complete. Found by `request_wire`.
#[tokio::test]
async fn a_malformed_trailer_field_is_refused() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    refused(
        &gw,
        &[
            "2\r\n{}\r\n0\r\nX-To\u{ef}r: 1\r\n\r\n",
            "2\r\n{}\r\n0\r\nX-T : 1\r\n\r\n",
            "2\r\n{}\r\n0\r\nno colon\r\n\r\n",
            "2\r\n{}\r\n0\r\n: 1\r\n\r\n",
        ],
    )
    .await;
    let many_trailers = format!("2\r\n{{}}\r\n0\r\n{}\r\n", "a: 1\r\n".repeat(101));
    refused(&gw, &[&many_trailers]).await;
    assert_eq!(up.count(), 0, "nothing reaches the upstream");
    let few_trailers = format!("2\r\n{{}}\r\n0\r\n{}\r\n", "a: 1\r\n".repeat(100));
    forwarded(&gw, &up, &["2\r\n{}\r\n0\r\nX-T: 1\r\n\r\n", &few_trailers]).await;
}

/// A chunk size followed by whitespace and then something other than a chunk extension
/// (`2 x`): hyper refuses it; the gateway read the size and ignored the rest. Seen in hyper's
/// chunk decoder and confirmed by `request_wire` on that input.
#[tokio::test]
async fn a_chunk_size_with_more_than_whitespace_after_it_is_refused() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    refused(
        &gw,
        &[
            "2 x\r\n{}\r\n0\r\n\r\n",
            "2 2\r\n{}\r\n0\r\n\r\n",
            "2\t;a\r\n{}\r\n0 x\r\n\r\n",
        ],
    )
    .await;
    assert_eq!(up.count(), 0, "nothing reaches the upstream");
    forwarded(&gw, &up, &["2 \t\r\n{}\r\n0\r\n\r\n", "2 ;a=b\r\n{}\r\n0 ;c\r\n\r\n"]).await;
}

/// Chunk extensions add up over a body: each chunk-size line here is well within its own bound
/// (4 KiB), but all of them together pass 16 KiB, where hyper refuses the message; so does the
/// gateway now. Found by reading hyper's decoder beside the `request_wire` differential.
#[tokio::test]
async fn chunk_extensions_past_16_kib_in_one_body_are_refused() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let chunk = |byte: char| format!("1;{}\r\n{byte}\r\n", "e".repeat(2999));
    let body: String = "    {}".chars().map(chunk).collect::<String>() + "0\r\n\r\n";
    refused(&gw, &[&body]).await;
    assert_eq!(up.count(), 0, "nothing reaches the upstream");
}
