//! Where log lines go: a buffer that a writer thread empties to stdout in batches, so a request
//! never waits on a `write` system call or on a slow log reader. Formatting still happens on
//! the request's thread (it must see the event); only the bytes are handed over.
//!
//! - Latency: an idle writer is woken by the first line, so a line reaches stdout within
//!   microseconds when traffic is light; under load the writer takes whatever accumulated
//!   while it was writing, one `write` for many lines.
//! - Bound: at most `MAX_PENDING` bytes wait. If stdout stops draining (a stuck log
//!   collector), further lines are dropped and counted, and the count is logged once the
//!   writer catches up: requests keep flowing and memory stays bounded.
//! - Exit: `flush` waits (bounded) until everything accepted so far is written.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Bytes of log lines that may wait for the writer.
const MAX_PENDING: usize = 4 << 20;
/// A batch buffer larger than this is not kept between batches.
const KEEP_CAPACITY: usize = 256 << 10;
/// After a write, how long the writer lets lines gather before the next one.
const LINGER: Duration = Duration::from_millis(2);

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    dropped: u64,
    /// The writer is waiting for lines (and must be woken for one).
    idle: bool,
    /// Bytes handed to the writer and not yet written.
    in_flight: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer (a line arrived) and the flushers (a batch was written).
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The process-wide sink; its writer thread starts with the first use.
pub(super) fn sink() -> LogSink {
    static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let writer = shared.clone();
        let started = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_batches(&writer, &mut std::io::stdout()));
        if let Err(e) = started {
            eprintln!("allo-gateway: cannot start the log writer thread: {e}");
        }
        shared
    });
    LogSink { shared: shared.clone() }
}

/// Hands formatted lines to the writer thread (a `tracing_subscriber` writer).
#[derive(Clone)]
pub(super) struct LogSink {
    shared: Arc<Shared>,
}

impl LogSink {
    /// Waits until every line accepted so far is written, for at most `limit`.
    pub(super) fn flush(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.shared.lock();
        while !state.pending.is_empty() || state.in_flight {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Write for LogSink {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut state = self.shared.lock();
        if state.pending.len() + line.len() > MAX_PENDING {
            state.dropped += 1;
            return Ok(line.len());
        }
        state.pending.extend_from_slice(line);
        if state.idle {
            state.idle = false;
            drop(state);
            self.shared.changed.notify_all();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = LogSink;

    fn make_writer(&'a self) -> LogSink {
        self.clone()
    }
}

/// The writer thread: takes what is pending, writes it, tells flushers, repeats.
fn write_batches(shared: &Shared, out: &mut impl Write) {
    let mut batch = Vec::new();
    loop {
        let dropped = {
            let mut state = shared.lock();
            state.in_flight = false;
            shared.changed.notify_all();
            while state.pending.is_empty() {
                state.idle = true;
                state = shared.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            std::mem::swap(&mut batch, &mut state.pending);
            state.in_flight = true;
            std::mem::take(&mut state.dropped)
        };
        // A failed write (stdout closed) loses these lines; there is nowhere to report it.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        if dropped > 0 {
            let _ = writeln!(
                out,
                "{{\"level\":\"WARN\",\"target\":\"allo_gateway::telemetry\",\"message\":\"log lines dropped: stdout did not keep up\",\"dropped\":{dropped}}}"
            )
            .and_then(|()| out.flush());
        }
        batch.clear();
        if batch.capacity() > KEEP_CAPACITY {
            batch = Vec::new();
        }
        std::thread::sleep(LINGER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_arrive_in_order_and_flush_waits_for_them() {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        struct Capture(std::sync::mpsc::Sender<Vec<u8>>);
        impl Write for Capture {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.send(b.to_vec()).unwrap();
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer = shared.clone();
        std::thread::spawn(move || write_batches(&writer, &mut Capture(tx)));
        let mut sink = LogSink { shared };
        for i in 0..1000 {
            writeln!(sink, "line {i}").unwrap();
        }
        sink.flush(Duration::from_secs(5));
        let written: Vec<u8> = rx.try_iter().flatten().collect();
        let text = String::from_utf8(written).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1000);
        assert!(lines.iter().enumerate().all(|(i, l)| *l == format!("line {i}")));
    }

    #[test]
    fn a_stuck_reader_costs_dropped_lines_not_memory() {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        // No writer thread: nothing drains.
        let mut sink = LogSink { shared: shared.clone() };
        let line = vec![b'x'; 1024];
        for _ in 0..(MAX_PENDING / 1024 + 100) {
            sink.write_all(&line).unwrap();
        }
        let state = shared.lock();
        assert!(state.pending.len() <= MAX_PENDING);
        assert_eq!(state.dropped, 100);
    }
}
