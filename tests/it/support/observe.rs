//! What tests watch the gateway through: polling with a deadline (`eventually`), its JSON log
//! events and metric samples.

use std::time::{Duration, Instant};

use super::process::GatewayProcess;

/// How long `eventually` waits before failing.
pub(crate) const DEADLINE: Duration = Duration::from_secs(15);

/// Polls `check` every 10 ms until it holds; after `DEADLINE` fails with `what` and the
/// gateway's log.
pub(crate) async fn eventually(gw: &GatewayProcess, what: &str, check: impl AsyncFnMut() -> bool) {
    eventually_within(gw, DEADLINE, what, check).await;
}

/// `eventually` with a deadline of its own, for a test whose claim is how soon `check` holds.
pub(crate) async fn eventually_within(
    gw: &GatewayProcess,
    deadline: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> bool,
) {
    let until = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < until, "timed out waiting for {what}:\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the gateway has logged `text`.
pub(crate) async fn logged(gw: &GatewayProcess, text: &str) {
    eventually(gw, &format!("{text:?} in the log"), async || gw.log().contains(text)).await;
}

/// Every JSON log event the process printed.
pub(crate) fn events(gw: &GatewayProcess) -> Vec<serde_json::Value> {
    gw.lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

/// The JSON log events whose message is `message`.
pub(crate) fn events_with(gw: &GatewayProcess, message: &str) -> Vec<serde_json::Value> {
    events(gw).into_iter().filter(|v| v["message"] == message).collect()
}

/// The value of the sample `name{labels...}` in `text` (0 when it is absent).
pub(crate) fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
