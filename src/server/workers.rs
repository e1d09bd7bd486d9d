//! Thread-per-core serving: `--workers N` runs N workers, each an OS thread with its own
//! current-thread tokio runtime and its own listening socket, bound to the same address with
//! `SO_REUSEPORT`. A connection lives its whole life on the worker that accepted it: its
//! requests, their upstream exchanges (each worker has its own upstream connections, see
//! `upstream`) and their timers never leave that thread, so there is no work stealing, no
//! cross-thread wake-up and no lock shared between workers on the request path. Worker 0 is
//! the thread that called `run`; with `--workers 1` it is the only one and no thread is added.
//!
//! What stays process-wide is cheap or must be one: the config snapshot, the limiters (one
//! budget per team whatever worker its requests land on), the `max_connections` bound (one
//! semaphore; tokio's works across runtimes), the Redis client, reloads and key checks (on
//! worker 0's runtime), and the stop signal.
//!
//! Why `SO_REUSEPORT` rather than one acceptor handing sockets round-robin to the workers:
//! the kernel spreads connections over the listeners by a hash of their addresses, in the
//! `accept` each worker makes anyway, so a connection costs no hand-off (a channel send, a
//! wake-up of another thread, a socket registered with a reactor on another thread than the
//! one that accepted it), and no acceptor thread becomes the bottleneck or the single point of
//! wake-ups. What it gives up: the spread is by hash, not by load, so a few long-lived
//! connections can land unevenly (callers here keep many short requests on pooled
//! connections, which hash evenly), and connections waiting in one worker's accept queue stay
//! there while that worker is busy. Round-robin would balance connections exactly but not
//! their load either. Closing the listeners at shutdown drops what waits in their queues,
//! which is what a refused new connection is anyway.

use std::io;
use std::net::SocketAddr;

/// The default number of workers: one per core this process may use (a cgroup CPU quota
/// included).
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Binds `workers` listening sockets to `addr`, `SO_REUSEPORT` when there is more than one,
/// so the kernel spreads connections over them. Port 0 is resolved by the first; the others
/// bind the port it got. A single listener does not set `SO_REUSEPORT`, so that a port held
/// by another process is an error rather than a silent share.
pub fn bind(addr: SocketAddr, workers: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let shared = workers > 1;
    let first = bind_one(addr, shared)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..workers {
        listeners.push(bind_one(addr, shared)?);
    }
    Ok(listeners)
}

pub(super) fn bind_one(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    // Accepted sockets inherit it on Linux (the accept loop sets it again for other systems).
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Runs `serve(id, listener)` for each listener: the first on this thread (inside its
/// runtime), the others each on a thread of its own with a current-thread runtime. Returns
/// when every worker has returned and its runtime has been dropped (its connections closed).
pub async fn run<S, Fut>(listeners: Vec<std::net::TcpListener>, serve: S)
where
    S: Fn(usize, std::net::TcpListener) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let mut listeners = listeners.into_iter().enumerate();
    let first = listeners.next();
    let mut done = Vec::new();
    for (id, listener) in listeners {
        let (finished, finished_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = serve.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("allo-worker-{id}"))
            .spawn(move || {
                crate::worker::set_current(id);
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => {
                        runtime.block_on(serve(id, listener));
                        drop(runtime);
                    }
                    Err(e) => tracing::error!(worker = id, error = %e, "cannot start the worker's runtime"),
                }
                let _ = finished.send(());
            });
        match spawned {
            Ok(_) => done.push(finished_rx),
            Err(e) => tracing::error!(worker = id, error = %e, "cannot start the worker's thread"),
        }
    }
    if let Some((id, listener)) = first {
        crate::worker::set_current(id);
        serve(id, listener).await;
    }
    for finished in done {
        let _ = finished.await;
    }
}
