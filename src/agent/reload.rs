//! Taking a new configuration: SIGHUP, `ubus call tr069 command reload`, a session or a
//! transfer that changed the file. What the agent holds is rebuilt from it, and the threads
//! that follow the file themselves (STUN, XMPP) are told to look.

use super::run;
use super::timers::Timer;
use super::Agent;
use crate::config::Config;

impl Agent {
    /// Makes the threads that follow the config file themselves (STUN, XMPP) look at it now.
    pub(super) fn nudge_followers(&self) {
        if let Some(s) = &self.stun {
            s.nudge();
        }
        if let Some(x) = &self.xmpp {
            x.nudge();
        }
    }

    /// Re-reads the config (SIGHUP, a bus request, a transfer that changed it), then checks
    /// the notified values: the reload may have come with new ones (a UCI edit, then SIGHUP).
    pub(super) fn reload(&mut self) {
        if self.reload_config() {
            self.on_change_hint(Default::default());
        }
    }

    /// Re-reads the config and applies it; false when the file is broken (the old config
    /// keeps running). The caller checks the notified values.
    pub(super) fn reload_config(&mut self) -> bool {
        match Config::load(&self.opts.config_path) {
            Ok((config, warnings)) => {
                for w in warnings {
                    log::warn!("{w}");
                }
                self.config = config;
                // New URL, credentials or certificates; what the ACS taught the client
                // (it refused compression) is kept.
                let opts = self.http_options();
                if let Some(client) = &mut self.client {
                    if let Err(e) = client.reconfigure(opts) {
                        log::warn!("HTTP client not reconfigured ({e}); a new one next session");
                        self.client = None;
                    }
                }
                log::info!("config reloaded");
            }
            Err(e) => {
                log::error!("config not reloaded: {e}");
                return false;
            }
        }
        if let Some(cr) = &self.conn_req {
            cr.update(run::conn_req_settings(&self.config));
            cr.rebind(run::conn_req_bind(&self.config));
        }
        self.check_bootstrap();
        self.state.save();
        self.plan_periodic();
        self.plan_reboots(self.clock.now().unix(), false);
        if self.config.cpe.periodic_notify_enable != self.timers.is_armed(Timer::NotifyPoll) {
            self.plan_notify_poll();
        }
        self.nudge_followers();
        true
    }
}
