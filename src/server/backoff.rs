//! Surviving accept errors (EMFILE, ENFILE, ENOBUFS...): the accept loop waits and tries again
//! rather than spinning or giving up.

use std::io;
use std::time::Duration;

/// Accept errors (EMFILE, ENFILE, ENOBUFS...) are survived: wait, doubling up to a second, and
/// warn once per run of failures rather than on every retry.
#[derive(Default)]
pub(super) struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    pub(super) async fn failed(&mut self, e: &io::Error) {
        self.failures += 1;
        if self.failures == 1 {
            tracing::warn!(error = %e, "accept failed; backing off");
        } else {
            tracing::debug!(error = %e, failures = self.failures, "accept failed again");
        }
        let wait = Duration::from_millis(10 << self.failures.min(7)).min(Duration::from_secs(1));
        tokio::time::sleep(wait).await;
    }

    pub(super) fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting again");
            self.failures = 0;
        }
    }
}
