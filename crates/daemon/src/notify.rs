//! systemd's readiness protocol (`Type=notify`): `READY=1` once the daemon watches new/
//! and has listed it, `STOPPING=1` when it stops claiming, and `WATCHDOG=1` at half of
//! `WATCHDOG_USEC` when systemd asks for it (`WatchdogSec=`; `WATCHDOG_PID` unset or
//! this process). The messages go to `$NOTIFY_SOCKET` through the sd-notify crate;
//! without that variable nothing is sent and nothing fails. macOS and the BSDs have no
//! such protocol: there every function here does nothing.
//!
//! The watchdog ping comes from a task on the daemon's runtime, so it stops when the
//! runtime stops running tasks or its timers stall. What readiness means (watched and
//! listed) is decided by the callers; this module only speaks the protocol.

use crate::lifecycle::Lifecycle;

/// Tells the service manager the daemon is ready, with a status line.
pub(crate) fn ready(status: &str) {
    #[cfg(target_os = "linux")]
    linux::send(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(status),
    ]);
    #[cfg(not(target_os = "linux"))]
    let _ = status;
}

/// Starts the task that pings the watchdog (if systemd asked for one) and says
/// `STOPPING=1` once the daemon stops claiming.
pub(crate) fn start(lifecycle: &Lifecycle) {
    #[cfg(target_os = "linux")]
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        tokio::spawn(linux::follow(lifecycle.clone()));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = lifecycle;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::{AtomicBool, Ordering};

    use sd_notify::NotifyState;
    use tokio::time::MissedTickBehavior;
    use tracing::{info, warn};

    use crate::lifecycle::Lifecycle;

    /// A failed send is logged once: the service manager may be gone for good.
    static FAILED: AtomicBool = AtomicBool::new(false);

    pub(super) fn send(states: &[NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(states)
            && !FAILED.swap(true, Ordering::Relaxed)
        {
            warn!(error = %e, "cannot notify the service manager on $NOTIFY_SOCKET \
                (readiness, watchdog); the daemon goes on");
        }
    }

    /// Pings the watchdog at half its interval until the runtime ends, and says
    /// STOPPING=1 once when the daemon stops claiming.
    pub(super) async fn follow(mut lifecycle: Lifecycle) {
        let watchdog = sd_notify::watchdog_enabled().map(|usec| usec / 2);
        if let Some(every) = watchdog {
            info!(every = %humantime::format_duration(every), "systemd watchdog: pinging");
        }
        let mut ticks = watchdog.map(|every| {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks
        });
        let mut stopping = false;
        loop {
            tokio::select! {
                () = lifecycle.wait_stopping(), if !stopping => {
                    stopping = true;
                    send(&[NotifyState::Stopping, NotifyState::Status("stopping: claiming nothing more")]);
                    if ticks.is_none() {
                        return;
                    }
                }
                _ = tick(&mut ticks) => send(&[NotifyState::Watchdog]),
            }
        }
    }

    async fn tick(ticks: &mut Option<tokio::time::Interval>) {
        match ticks {
            Some(ticks) => {
                ticks.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}
