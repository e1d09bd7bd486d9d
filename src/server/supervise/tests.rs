use std::convert::Infallible;

use super::*;

/// Plays an HTTP/2 connection on a fake clock: its one stream ends at `ends` on another
/// task, unseen; the supervisor looks at the accept, on every `traffic` tick (pings, window
/// updates) and whenever its alarm goes off. Returns when it closes the connection.
fn h2_idle_close(timers: Timers, ends: Duration, traffic: Option<Duration>) -> Duration {
    let activity = Arc::new(Activity::new());
    let mut stream = Some(activity.begin());
    let mut armed = Some(activity.accepted + timers.header_read);
    let mut now = Duration::ZERO;
    loop {
        if now >= ends && stream.is_some() {
            drop(stream.take());
            // The end is stamped by the real clock: restamp it on the fake one.
            let ended = u64::try_from(ends.as_millis()).unwrap();
            activity.idle_since.store(ended, Ordering::Relaxed);
        }
        match next_alarm::<Infallible>(armed, &activity, activity.accepted + now, timers, false) {
            Ok(due) => armed = Some(due),
            Err(Event::Idle) => return now,
            Err(_) => panic!("only an idle close is possible here"),
        }
        let alarm = armed.unwrap() - activity.accepted;
        let tick = traffic.map(|every| every * (u32::try_from(now.as_nanos() / every.as_nanos()).unwrap() + 1));
        now = tick.map_or(alarm, |tick| tick.min(alarm));
        if now == alarm {
            armed = None;
        }
    }
}

#[test]
fn an_http2_connection_closes_idle_timeout_after_its_last_stream_ended_unseen() {
    let secs = Duration::from_secs;
    for (header_read, traffic) in [(10, None), (90, None), (10, Some(1)), (90, Some(7)), (60, Some(60))] {
        let timers = Timers {
            header_read: secs(header_read),
            idle: secs(60),
        };
        let traffic = traffic.map(secs);
        let closed = h2_idle_close(timers, secs(25), traffic);
        assert_eq!(
            closed,
            secs(85),
            "header_read {header_read}s, traffic every {traffic:?}"
        );
    }
}
