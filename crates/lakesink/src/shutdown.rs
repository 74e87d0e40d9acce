//! The stop signals (SIGTERM, SIGINT) that begin a graceful stop.
//!
//! The handlers are installed before any connector starts, not inside a spawned task:
//! a task may first run only after the process is already at work, and a SIGTERM arriving
//! before then would kill the process with the default action instead of committing.

use anyhow::{Context, Result};
use tokio::runtime::Runtime;

/// Installed stop-signal handlers; [`StopSignals::recv`] resolves on the first signal.
pub struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers now, on `runtime`'s signal driver.
    pub fn install(runtime: &Runtime) -> Result<Self> {
        let _guard = runtime.enter();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for SIGTERM or SIGINT.
    pub async fn recv(self) {
        #[cfg(unix)]
        {
            let Self { mut term, mut int } = self;
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
