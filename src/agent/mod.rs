//! The daemon's main loop: one thread owns all agent state (config, data model, events,
//! timers) and is fed by the other threads over one crossbeam channel of [`Input`] (and the
//! ubus thread's own event channel).
//!
//! Sessions with the ACS run on this thread with blocking HTTP; a connection request or signal
//! arriving meanwhile waits in its channel and is served right after.

mod acs_choice;
mod bus;
mod changes;
mod custom_notify;
mod diag;
#[cfg(test)]
mod diag_tests;
mod du;
pub mod fallback;
mod gateway;
pub mod inform;
mod lwn;
mod md_limit;
mod metrics_out;
#[doc(hidden)] // public for the fuzz targets (fuzz/) only
pub mod outbox;
mod policy;
mod reboots;
mod reload;
mod run;
pub mod state;
mod system;
#[cfg(test)]
mod tests;
pub mod timers;
pub mod tr069;
mod transfers;

use crate::config::Config;
use crate::conn_req::{ConnReqEvent, ConnReqServer};
use crate::datamodel::DataModel;
use crate::events::EventCode;
use crate::inbox::Inbox;
use crate::notify::{ChangeTracker, NotifyAttributes};
use crate::schedule;
pub use bus::{UbusLink, LISTENERS};
use crossbeam_channel::{select, Receiver, Sender};
use state::AgentState;
use std::path::PathBuf;
use std::time::Duration;
pub use system::{abort_on_panic, block_signals, spawn_signal_thread, tune_allocator, Signal};
pub use timers::{Clock, Now};
use timers::{Timer, TimerTable};

/// What the other threads tell the main loop.
pub enum Input {
    /// From the connection-request server.
    ConnReq(ConnReqEvent),
    /// From a transfer worker.
    Transfer(crate::transfer::TransferEvent),
    /// From a ChangeDUState worker.
    Du(crate::du::DuEvent),
    /// From a diagnostics worker.
    Diag(diag::DiagDone),
    /// From the signal thread.
    Signal(Signal),
    /// From the `tr069` ubus object.
    Tr069(tr069::Tr069Request),
    /// From the change watcher: something notified values come from changed.
    Changed(crate::notify::watch::Hint),
}

/// The main loop's input channel: made before the agent (the `tr069` object and the signal
/// thread start first), it hands out an [`Inbox`] per producer.
pub struct Inputs {
    tx: Sender<Input>,
    rx: Receiver<Input>,
}

impl Default for Inputs {
    fn default() -> Inputs {
        let (tx, rx) = crossbeam_channel::unbounded();
        Inputs { tx, rx }
    }
}

impl Inputs {
    /// An inbox for messages of type `T`, delivered as `wrap(message)`.
    pub fn inbox<T: 'static>(&self, wrap: fn(T) -> Input) -> Inbox<T> {
        let tx = self.tx.clone();
        Inbox::new(move |m| tx.send(wrap(m)).is_ok())
    }
}

/// How the daemon was started.
#[derive(Clone, Debug)]
pub struct Options {
    /// The UCI config file.
    pub config_path: PathBuf,
    /// Where persistent state lives.
    pub state_dir: PathBuf,
    /// `-b`: report `1 BOOT` (the init script always passes it).
    pub boot_event: bool,
    /// `-g`: send GetRPCMethods to the ACS in the first session.
    pub get_rpc_methods: bool,
    /// The command line, for re-executing ourselves on a soft reboot.
    pub argv: Vec<String>,
}

/// Counters reported by `status`.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Sessions that ended well.
    pub success: u64,
    /// Sessions that failed.
    pub failure: u64,
    /// Start of the last session (Unix time).
    pub last_start: Option<i64>,
    /// End of the last session.
    pub last_end: Option<i64>,
    /// Whether the last session succeeded.
    pub last_ok: Option<bool>,
}

/// What must happen once the current session is over.
#[derive(Debug, Default)]
struct EndOfSession {
    reboot: Option<String>,
    factory_reset: bool,
    reload_config: bool,
    /// Notified parameters the ACS wrote itself this session: their new values are not
    /// reported back to it (digest 8.2); every other parameter keeps its baseline, so a
    /// local change made meanwhile is still reported.
    acs_written: std::collections::BTreeSet<String>,
    /// The ACS changed notification attributes: newly notified parameters join the
    /// baseline at the session's end, with the value they have then.
    attrs_changed: bool,
}

/// The agent: all state the main loop owns.
pub struct Agent {
    opts: Options,
    config: Config,
    dm: Box<dyn DataModel>,
    attrs: NotifyAttributes,
    state: AgentState,
    started_unix: i64,
    /// Where the time is read (the system clocks; a virtual clock in tests).
    clock: Clock,
    /// Every deadline of the agent.
    timers: TimerTable,
    /// Consecutive failed sessions (RetryCount).
    retry_count: u32,
    /// The last session failed: another is owed, when the [`Timer::Retry`] backoff ends,
    /// whether or not events are left to deliver.
    retry_owed: bool,
    /// Next periodic Inform time (Unix), mirrored into [`Timer::Periodic`].
    next_periodic: Option<i64>,
    /// Next HeartbeatPolicy time (Unix), and whether a heartbeat session is owed.
    next_heartbeat: Option<i64>,
    heartbeat_pending: bool,
    /// GetRPCMethods still to be sent to the ACS.
    want_get_rpc_methods: bool,
    /// Fall back to cwmp-1-0 after an 8006.
    ns_fallback: bool,
    end: EndOfSession,
    /// Value-change detection of notified parameters.
    changes: ChangeTracker,
    /// The change watcher thread (started by [`Agent::run`]).
    watch: Option<crate::notify::watch::Watcher>,
    /// The files the watcher watches, and their identity at the last notification check
    /// (a hint about files none of which changed since then is skipped).
    watched: Vec<std::path::PathBuf>,
    checked_stamps: Vec<Option<crate::config::follow::Stamp>>,
    /// Lightweight notifications (trigger, sender): see agent/lwn.rs.
    lwn: lwn::LwnState,
    /// End of the last successful session (Unix time), for the throttle.
    last_success_end: i64,
    /// When a change of ManageableDeviceNumberOfEntries last raised `4 VALUE CHANGE`
    /// (Unix time), for `cpe.md_notif_limit`.
    last_md_notify: i64,
    conn_req: Option<ConnReqServer>,
    /// STUN and UDP connection requests (follows the config file itself; src/stun).
    stun: Option<crate::stun::StunClient>,
    /// The XMPP connection-request thread (Annex K), stopped on drop.
    xmpp: Option<crate::xmpp::client::XmppClient>,
    /// The HTTP client, kept across sessions (certificates are loaded once); dropped when the
    /// config changes.
    client: Option<crate::http::AcsClient>,
    /// Messages from the other threads (but ubus events).
    inputs: Inputs,
    /// File transfers (queue, worker channel).
    xfer: transfers::Transfers,
    /// ChangeDUState jobs (list, worker channel).
    du: du::DuState,
    /// RequestDownload and autonomous completions waiting for the ACS.
    outbox: outbox::Outbox,
    /// Diagnostics tests running (src/agent/diag.rs).
    diags: diag::Diags,
    /// Set when a successful session left exactly the events it carried undelivered (their
    /// follow-up RPC could not be sent): wait for something new rather than loop.
    stalled: bool,
    /// Session counters.
    pub stats: Stats,
    /// The ubus connection, when a ubus thread runs (rpc-sys calls).
    ubus: Option<crate::ubus::UbusHandle>,
    ubus_rx: Receiver<crate::ubus::UbusEvent>,
    /// What `tr069 status` reports.
    status: Option<tr069::SharedStatus>,
    /// DelayReboot / ScheduleReboot (agent/reboots.rs).
    reboots: reboots::RebootPlan,
    /// Last-good-ACS fallback (agent/fallback.rs).
    fallback: fallback::Fallback,
    /// Operations counters (src/metrics.rs), and where they were last published.
    metrics: crate::metrics::Metrics,
    metrics_out: metrics_out::MetricsOut,
}

impl Agent {
    /// Sets the agent up from a loaded config and data model; raises BOOTSTRAP and BOOT as the
    /// start-up conditions ask and persists them before anything else happens.
    pub fn new(opts: Options, config: Config, dm: Box<dyn DataModel>, inputs: Inputs) -> Agent {
        state::clean_stale_files(&opts.state_dir, &opts.config_path);
        let state = AgentState::load(&opts.state_dir);
        let attrs = NotifyAttributes::load(&opts.state_dir);
        let xfer = transfers::Transfers::load(&opts.state_dir, inputs.inbox(Input::Transfer));
        let du = du::DuState::load(&opts.state_dir, inputs.inbox(Input::Du));
        let outbox = outbox::Outbox::load(&opts.state_dir);
        let diags = diag::Diags::new(diag::inbox(&inputs));
        let conn_req = run::start_conn_req(&config, inputs.inbox(Input::ConnReq));
        let stun = crate::stun::StunClient::start(
            &opts.config_path,
            &opts.state_dir,
            inputs.inbox(Input::ConnReq),
            conn_req.as_ref().map(|s| s.limiter()),
        )
        .map_err(|e| log::error!("STUN thread not started: {e}"))
        .ok();
        let xmpp = crate::xmpp::client::XmppClient::start(
            &opts.config_path,
            &opts.state_dir,
            inputs.inbox(Input::ConnReq),
        )
        .map_err(|e| log::error!("XMPP thread not started: {e}"))
        .ok();
        let mut agent = Agent {
            want_get_rpc_methods: opts.get_rpc_methods || config.acs.get_rpc_methods,
            opts,
            config,
            dm,
            attrs,
            state,
            started_unix: crate::time::now_unix(),
            clock: Clock::system(),
            timers: TimerTable::default(),
            retry_count: 0,
            retry_owed: false,
            next_periodic: None,
            next_heartbeat: None,
            heartbeat_pending: false,
            ns_fallback: false,
            end: EndOfSession::default(),
            changes: ChangeTracker::new(),
            watch: None,
            watched: Vec::new(),
            checked_stamps: Vec::new(),
            lwn: lwn::LwnState::default(),
            last_success_end: 0,
            last_md_notify: 0,
            conn_req,
            stun,
            xmpp,
            client: None,
            inputs,
            xfer,
            du,
            outbox,
            diags,
            stalled: false,
            stats: Stats::default(),
            ubus: None,
            ubus_rx: crossbeam_channel::never(),
            status: None,
            reboots: reboots::RebootPlan::default(),
            fallback: fallback::Fallback::default(),
            metrics: crate::metrics::Metrics::default(),
            metrics_out: Default::default(),
        };
        agent.metrics.start_time = agent.started_unix;
        agent.init_fallback();
        agent.check_bootstrap();
        if agent.opts.boot_event {
            agent.state.events.add(EventCode::Boot, "");
        }
        agent.recover_transfers();
        agent.recover_du();
        agent.recover_outbox();
        agent.recover_diags();
        agent.state.save();
        agent.plan_periodic();
        agent.plan_notify_poll();
        agent.apply_custom_notify();
        agent.gateway_info_notify_default();
        agent.load_changes();
        agent.start_reboot_plan();
        agent
    }

    /// Connects the agent to the ubus thread: bus events join the main loop's select,
    /// `status` gets its snapshot, reboots may go through `rpc-sys`.
    pub fn attach_ubus(&mut self, link: UbusLink) {
        self.ubus = Some(link.handle);
        self.ubus_rx = link.events;
        self.status = Some(link.status);
        self.publish_status(None);
    }

    /// The URL sessions go to: the configured one (`dhcp_url` when DHCP discovery is on and
    /// gave one), or the last good one while fallen back to it.
    fn acs_url(&self) -> &str {
        self.fallback.target(self.config.acs.effective_url())
    }

    /// First contact, or a new ACS URL: raise `0 BOOTSTRAP` (which drops every other pending
    /// event, ScheduleInform included) and remember the URL it is for.
    fn check_bootstrap(&mut self) {
        let url = self.config.acs.effective_url().to_string();
        self.fallback.configured(&url);
        if !self.fallback.active() {
            self.timers.stop(Timer::AcsProbe);
        }
        if !url.is_empty() && url != self.state.bootstrapped_url {
            log::info!("new ACS URL {url}: raising 0 BOOTSTRAP");
            self.state.events.add(EventCode::Bootstrap, "");
            self.state.scheduled.clear();
            self.discard_transfers();
            self.discard_du();
            self.discard_outbox();
            self.discard_diag_reports();
            self.state.bootstrapped_url = url;
            self.want_get_rpc_methods |= self.config.acs.get_rpc_methods;
            self.timers.stop(Timer::Retry);
            self.stalled = false;
        }
    }

    /// Replaces the clock (tests drive the agent on a virtual one) and re-plans every timer
    /// against it.
    pub fn use_clock(&mut self, clock: Clock) {
        self.clock = clock;
        self.timers = TimerTable::default();
        self.plan_periodic();
        self.plan_notify_poll();
    }

    /// Plans the next periodic inform and heartbeat from the config (wall-clock phases).
    fn plan_periodic(&mut self) {
        let acs = &self.config.acs;
        let now = self.clock.now().unix();
        self.next_heartbeat = acs.heartbeat_enable.then(|| {
            // Without an InitiationTime the phase is random (TR-181 HeartbeatPolicy).
            let reference = acs
                .heartbeat_time
                .filter(|t| *t > -62135596800)
                .unwrap_or(self.started_unix - (system::random_u32() % 3600) as i64);
            schedule::next_periodic(now, acs.heartbeat_interval.max(30), Some(reference), 0)
        });
        self.next_periodic = acs.periodic_inform_enable.then(|| {
            // The Unknown Time (year 1) means "no phase": pick our own.
            let reference = acs.periodic_inform_time.filter(|t| *t > -62135596800);
            schedule::next_periodic(
                now,
                acs.periodic_inform_interval,
                reference,
                self.started_unix,
            )
        });
        self.lwn_plan(now);
    }

    /// Arms the first poll of the notified parameters, or stops polling, as the config says.
    /// The first cycle is one interval from now: whoever turned the poll on (start-up, a
    /// reload) checks the values at once already.
    fn plan_notify_poll(&mut self) {
        let interval =
            std::time::Duration::from_secs(self.config.cpe.periodic_notify_interval.max(1) as u64);
        let now = self.clock.now();
        let at = self
            .config
            .cpe
            .periodic_notify_enable
            .then(|| now.after(interval));
        self.timers.set_opt(Timer::NotifyPoll, at);
    }

    /// Copies the wall-clock deadlines into the timer table, against `now`: done on every
    /// turn, so a step of the wall clock moves them with it.
    fn mirror_wall_timers(&mut self, now: Now) {
        let at = |t: Option<i64>| t.map(|t| now.at_unix(t));
        let scheduled = self.state.scheduled.iter().map(|s| s.due).min();
        let transfer = self.transfer_wakeup();
        self.timers.set_opt(Timer::Periodic, at(self.next_periodic));
        self.timers
            .set_opt(Timer::Heartbeat, at(self.next_heartbeat));
        self.timers.set_opt(Timer::Scheduled, at(scheduled));
        self.timers.set_opt(Timer::Transfer, at(transfer));
        self.timers
            .set_opt(Timer::LwnTrigger, at(self.lwn.next_trigger));
        self.timers
            .set_opt(Timer::ScheduledReboot, at(self.reboots.at_unix));
    }

    /// Raises an event that needs a session now: any retry wait is cut short (digest 6.3).
    fn raise(&mut self, code: EventCode, key: &str) {
        if self.state.events.add(code.clone(), key) && code.kept_across_reboot() {
            self.state.save();
        }
        self.timers.stop(Timer::Retry);
        self.stalled = false;
    }

    /// Fires the timers that are due at `now`; each is disarmed by the table as it fires
    /// and re-armed here only for a later time.
    fn fire_timers(&mut self, now: Now) {
        self.mirror_wall_timers(now);
        for timer in self.timers.expire(now.mono) {
            match timer {
                // The backoff is over: the owed session may start.
                Timer::Retry => {}
                Timer::Periodic => {
                    self.raise(EventCode::Periodic, "");
                    // Planned strictly after the time that fired, even if the wall clock
                    // reads a little behind the monotonic one.
                    let fired = self.next_periodic.unwrap_or(0);
                    self.plan_periodic_after(fired.max(now.unix()));
                }
                Timer::Heartbeat => {
                    // A heartbeat still owed is replaced by this one, not doubled.
                    self.heartbeat_pending = true;
                    let fired = self.next_heartbeat.unwrap_or(0).max(now.unix());
                    let interval = self.config.acs.heartbeat_interval.max(30);
                    self.next_heartbeat = self
                        .next_heartbeat
                        .map(|t| schedule::next_periodic(fired, interval, Some(t), 0));
                }
                Timer::NotifyPoll => self.poll_notifications(now),
                Timer::Throttle => self.raise_value_change(now),
                Timer::Scheduled => self.fire_scheduled(now.unix()),
                // Transfers start from the loop whenever no session runs.
                Timer::Transfer => {}
                Timer::RebootGrace => log::warn!("the system did not reboot: sessions resume"),
                Timer::LwnTrigger => self.lwn_trigger(now),
                t @ (Timer::DelayedReboot | Timer::ScheduledReboot) => self.reboot_timer_fired(t),
                Timer::AcsProbe => self.probe_new_acs(),
            }
        }
        self.mirror_wall_timers(now);
    }

    /// The next periodic inform strictly after `after` (Unix), phase kept.
    fn plan_periodic_after(&mut self, after: i64) {
        let acs = &self.config.acs;
        let reference = acs.periodic_inform_time.filter(|t| *t > -62135596800);
        self.next_periodic = acs.periodic_inform_enable.then(|| {
            schedule::next_periodic(
                after,
                acs.periodic_inform_interval,
                reference,
                self.started_unix,
            )
        });
    }

    /// Raises `3 SCHEDULED` and an `M ScheduleInform` per ScheduleInform due at `now`.
    fn fire_scheduled(&mut self, now: i64) {
        let (due, later): (Vec<_>, Vec<_>) =
            self.state.scheduled.drain(..).partition(|s| s.due <= now);
        self.state.scheduled = later;
        if !due.is_empty() {
            self.state.events.add(EventCode::Scheduled, "");
            for s in due {
                let m = EventCode::Method("ScheduleInform".into());
                self.state.events.add(m, &s.command_key);
            }
            self.state.save();
            self.timers.stop(Timer::Retry);
            self.stalled = false;
        }
    }

    /// Polls the notified parameters (every `periodic_notify_interval` seconds while
    /// `periodic_notify_enable` is on); an active change opens a session, after the
    /// DefaultActiveNotificationThrottle when one is set.
    fn poll_notifications(&mut self, now: Now) {
        if self.config.cpe.periodic_notify_enable {
            self.poll_cycle(now);
        }
    }

    /// The session pending work asks for, whatever the timers and config allow.
    fn wanted(&self) -> policy::Wanted {
        policy::wanted(
            !self.deliverable_events().is_empty(),
            self.retry_owed || self.fallback.probe_due(),
            self.stalled,
            self.heartbeat_pending,
        )
    }

    fn session_wanted(&self) -> bool {
        self.wanted() != policy::Wanted::Nothing
            && self.config.cpe.enable
            && !self.acs_url().is_empty()
            && !self.timers.is_armed(Timer::Retry)
            && !self.timers.is_armed(Timer::RebootGrace)
    }

    /// One turn of the loop without waiting: fires the due timers, runs the sessions they
    /// and pending work ask for, starts due transfers and jobs; returns how long the loop
    /// may then sleep.
    pub fn turn(&mut self) -> Duration {
        self.refresh_attrs();
        loop {
            self.fire_timers(self.clock.now());
            self.lwn_pump(self.clock.now());
            if !self.session_wanted() {
                break;
            }
            self.run_session();
        }
        self.start_transfers();
        self.start_du();
        let diag_tick = self.start_diags();
        self.publish_status(None);
        let cap = self.publish_metrics().unwrap_or(Duration::from_secs(3600));
        let now = self.clock.now();
        self.mirror_wall_timers(now);
        let wait = self.timers.sleep(now.mono, cap);
        diag_tick.map_or(wait, |t| wait.min(t))
    }

    /// Runs until SIGTERM/SIGINT (returns 0) or a fatal channel error (returns 1).
    pub fn run(&mut self) -> i32 {
        log::info!(
            "icwmpd {} started; ACS {}",
            env!("CARGO_PKG_VERSION"),
            self.acs_url()
        );
        self.start_watch();
        loop {
            let wait = self.turn();
            select! {
                recv(self.inputs.rx) -> input => match input {
                    Ok(Input::ConnReq(ConnReqEvent::Accepted { peer })) => {
                        log::info!("connection request from {peer}");
                        self.raise(EventCode::ConnectionRequest, "");
                    }
                    Ok(Input::Transfer(ev)) => self.on_transfer_event(ev),
                    Ok(Input::Du(ev)) => self.on_du_event(ev),
                    Ok(Input::Diag(done)) => self.diag_done(done),
                    Ok(Input::Signal(Signal::Reload)) => self.reload(),
                    Ok(Input::Signal(Signal::Terminate)) => {
                        self.stop_diags();
                        log::info!("exiting");
                        return 0;
                    }
                    Ok(Input::Changed(hint)) => {
                        self.sync_diags();
                        self.on_change_hint(hint)
                    }
                    Ok(Input::Tr069(req)) => {
                        if let bus::Next::Exit = self.on_tr069(req) {
                            self.stop_diags();
                            log::info!("exiting (ubus command)");
                            return 0;
                        }
                    }
                    // The agent holds a sender itself: the channel cannot disconnect.
                    Err(_) => return 1,
                },
                recv(self.ubus_rx) -> ev => match ev {
                    Ok(ev) => self.on_ubus_event(ev),
                    Err(_) => {
                        log::error!("ubus thread is gone");
                        self.ubus_rx = crossbeam_channel::never();
                    }
                },
                default(wait) => {}
            }
        }
    }
}
