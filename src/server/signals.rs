//! The signals that stop the process: SIGTERM or SIGINT (Ctrl-C where there are no Unix
//! signals). Listened for from the moment `Shutdown::listen` returns, so a signal that comes
//! right after the listeners are announced drains the process rather than killing it.

#[cfg(unix)]
use tokio::signal::unix::{signal, Signal, SignalKind};

/// SIGTERM and SIGINT, registered.
pub struct Shutdown {
    #[cfg(unix)]
    signals: Option<(Signal, Signal)>,
}

impl Shutdown {
    /// Starts listening now.
    pub fn listen() -> Shutdown {
        #[cfg(unix)]
        {
            let signals = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(term), Ok(int)) => Some((term, int)),
                _ => None,
            };
            Shutdown { signals }
        }
        #[cfg(not(unix))]
        {
            Shutdown {}
        }
    }

    /// Resolves at the first of them.
    pub async fn received(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.signals {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGTERM or SIGINT, listened for from the first poll.
pub async fn shutdown() {
    Shutdown::listen().received().await;
}
