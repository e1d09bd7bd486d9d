//! The container HEALTHCHECK for an image with no shell, curl or wget (distroless): one HTTP
//! GET to the gateway's admin listener; exit 0 on a `200` status line, 1 on anything else
//! (refused, timed out, other status). Standard library only and independent of the gateway's
//! code, so the Dockerfile builds it with plain `rustc` and it keeps working if the gateway
//! itself is wedged. Kubernetes ignores HEALTHCHECK and uses the pod's probes instead.
//!
//! Usage: allo-gateway-healthcheck [http://HOST:PORT/PATH]
//!        (default http://127.0.0.1:9901/healthz)

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_URL: &str = "http://127.0.0.1:9901/healthz";
/// Per step (connect, write, read); Docker's own `--timeout` bounds the whole run as well.
const STEP_TIMEOUT: Duration = Duration::from_secs(2);
/// A status line is short; never read more than this.
const MAX_HEAD: usize = 1024;

fn main() -> ExitCode {
    let url = std::env::args().nth(1).unwrap_or_else(|| DEFAULT_URL.to_owned());
    match probe(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            // Docker keeps this in `docker inspect --format '{{json .State.Health}}'`.
            eprintln!("unhealthy: {url}: {why}");
            ExitCode::from(1)
        }
    }
}

fn probe(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http://HOST:PORT/PATH URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("bad address {authority:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority:?} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, STEP_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(STEP_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(STEP_TIMEOUT)))
        .map_err(|e| format!("socket: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: allo-gateway-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;

    let mut head = Vec::with_capacity(128);
    let mut chunk = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/1.") => Ok(()),
        _ => Err(format!("answer was {status_line:?}, not 200")),
    }
}
