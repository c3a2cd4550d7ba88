//! Lightweight notifications from the agent (TR-069 Annex M): when the changes the
//! [`ChangeTracker`](crate::notify::ChangeTracker) keeps for levels 3-6 go out, and the UDP
//! sender at the edge.
//!
//! Active lightweight changes (5, 6) go out on the turn of the loop that found them, with
//! every passive one (3, 4) waiting; passive ones otherwise wait for the
//! LightweightNotificationTrigger (`lwn.trigger_interval`/`trigger_time`). With `lwn.enable`
//! off (LightweightNotificationProtocolsUsed empty) nothing is sent and changes are dropped,
//! as TR-181 says, whatever SetParameterAttributes asked.
//!
//! Messages are built and signed on the main loop (they need the data model); a small thread
//! resolves the destination and sends them, so a slow DNS lookup never stalls the loop. The
//! name is resolved for each batch (they are rare), so a DNS change is followed without a
//! reload. UDP brings no acknowledgement: a batch handed to the thread is done with; only a
//! batch the thread cannot take (queue full) is kept for the next flush.

use super::timers::Now;
use super::Agent;
use crate::notify::lwn;
use crossbeam_channel::{Sender, TrySendError};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

/// Batches the sender thread may have queued before a flush is refused (bounded memory).
const QUEUE: usize = 16;

/// One flush for the sender thread.
struct Batch {
    host: String,
    port: u16,
    datagrams: Vec<Vec<u8>>,
}

/// The agent's lightweight-notification state.
#[derive(Default)]
pub(super) struct LwnState {
    /// Next LightweightNotificationTrigger (Unix), mirrored into `Timer::LwnTrigger`.
    pub(super) next_trigger: Option<i64>,
    /// The sender thread's queue, made on the first flush.
    tx: Option<Sender<Batch>>,
}

impl Agent {
    /// Plans the next trigger from the config (start-up, reload).
    pub(super) fn lwn_plan(&mut self, now: i64) {
        let cfg = &self.config.lwn;
        self.lwn.next_trigger = cfg
            .enable
            .then(|| {
                lwn::next_trigger(
                    now,
                    cfg.trigger_interval,
                    cfg.trigger_time,
                    self.started_unix,
                )
            })
            .flatten();
    }

    /// Called on every turn of the loop, after the timers fired (and so after any poll):
    /// sends the lightweight changes when an active one is among them; drops them when
    /// lightweight notifications are off.
    pub(super) fn lwn_pump(&mut self, now: Now) {
        if !self.changes.has_lightweight() {
            return;
        }
        if !self.config.lwn.enable {
            let dropped = self.changes.take_lightweight();
            log::debug!(
                "lightweight notifications off: {} change(s) not sent",
                dropped.len()
            );
        } else if self.changes.lightweight_due() {
            self.lwn_flush(now);
        }
    }

    /// The trigger fired: the passive lightweight changes go out; the next one is planned
    /// strictly after this one.
    pub(super) fn lwn_trigger(&mut self, now: Now) {
        let fired = self.lwn.next_trigger.unwrap_or(0).max(now.unix());
        self.lwn_plan(fired);
        if self.config.lwn.enable && self.changes.has_lightweight() {
            self.lwn_flush(now);
        }
    }

    /// Builds, signs and hands over every waiting lightweight change.
    fn lwn_flush(&mut self, now: Now) {
        let params = self.changes.take_lightweight();
        let cfg = &self.config.lwn;
        let Some(host) = lwn::destination_host(&cfg.hostname, self.acs_url()) else {
            log::warn!(
                "lightweight notification of {} change(s) not sent: no host (lwn.hostname nor ACS URL)",
                params.len()
            );
            return;
        };
        let port = if cfg.port == 0 {
            lwn::DEFAULT_PORT
        } else {
            cfg.port
        };
        let dev = super::inform::device_id(self.dm.as_mut());
        let id = lwn::Identity {
            username: self.config.acs.userid.clone(),
            oui: dev.oui,
            product_class: dev.product_class,
            serial_number: dev.serial_number,
        };
        let packed = lwn::pack(
            now.unix(),
            &id,
            &params,
            &lwn::host_header(&host, port),
            &self.config.acs.passwd,
            || crate::http::digest::random_hex(16),
        );
        if packed.datagrams.is_empty() {
            return;
        }
        log::info!(
            "lightweight notification: {} change(s) in {} message(s) to {}",
            params.len() - packed.dropped.len(),
            packed.datagrams.len(),
            lwn::host_header(&host, port)
        );
        let batch = Batch {
            host,
            port,
            datagrams: packed.datagrams,
        };
        let tx = self.lwn.tx.get_or_insert_with(spawn_sender);
        match tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                log::warn!("lightweight notification sender busy: changes kept for later");
                self.changes.requeue_lightweight(params);
            }
            Err(TrySendError::Disconnected(_)) => {
                log::error!("lightweight notification sender is gone: a new one next time");
                self.lwn.tx = None;
                self.changes.requeue_lightweight(params);
            }
        }
    }
}

/// Starts the sender thread; its queue closes (and it ends) when the agent drops the sender.
fn spawn_sender() -> Sender<Batch> {
    let (tx, rx) = crossbeam_channel::bounded::<Batch>(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("lwn".into())
        .spawn(move || {
            for batch in rx {
                if let Err(e) = send(&batch) {
                    log::warn!(
                        "lightweight notification to {}: {e}",
                        lwn::host_header(&batch.host, batch.port)
                    );
                }
            }
        });
    if let Err(e) = spawned {
        // The receiver went with the closure: try_send reports Disconnected and the changes
        // are kept for the next flush.
        log::error!("lightweight notification sender not started: {e}");
    }
    tx
}

/// Resolves the destination (numeric addresses need no lookup) and sends every datagram.
fn send(batch: &Batch) -> std::io::Result<()> {
    let addr: SocketAddr = (batch.host.as_str(), batch.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    for d in &batch.datagrams {
        socket.send_to(d, addr)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "lwn_tests.rs"]
mod tests;
