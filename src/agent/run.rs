//! Driving one session: the sans-IO [`Session`] fed by the HTTP client and the RPC handlers,
//! then the end-of-session actions.

use super::timers::Timer;
use super::{inform, system, Agent};
use crate::config::Config;
use crate::conn_req::{Bind, ConnReqEvent, ConnReqServer, CrSettings};
use crate::events::EventCode;
use crate::http::tls::TlsSettings;
use crate::http::{AcsClient, HttpOptions};
use crate::inbox::Inbox;
use crate::rpc::{self, Action, RpcContext};
use crate::session::{Delivered, Output, Session, SessionOpts};
use crate::soap::{CpeRequest, CwmpNs, HeaderOpts};
use crate::transfer::http::NetOptions;
use std::path::PathBuf;
use std::time::Duration;

/// How long sessions wait for a reboot the system was asked for before resuming.
const REBOOT_GRACE: Duration = Duration::from_secs(300);

/// The connection-request server settings from the config.
pub(super) fn conn_req_settings(config: &Config) -> CrSettings {
    let cpe = &config.cpe;
    let allow = cpe
        .cr_allowed_sources
        .iter()
        .filter_map(|a| match a.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                log::warn!("cpe.cr_allowed_sources: '{a}' is not an IP address, ignored");
                None
            }
        })
        .collect();
    CrSettings {
        username: cpe.userid.clone(),
        password: cpe.passwd.clone(),
        path: cpe.path.clone(),
        allow,
        nonce_lifetime: Duration::from_secs(cpe.session_timeout.max(10) as u64),
        head_timeout: crate::conn_req::conns::head_timeout(cpe.cr_timeout),
        ..CrSettings::default()
    }
}

/// The `acs` section's TLS options (`ssl_*`, `insecure_enable`); an empty path is unset.
fn tls_settings(acs: &crate::config::AcsConfig) -> TlsSettings {
    let path = |p: &str| (!p.is_empty()).then(|| PathBuf::from(p));
    TlsSettings {
        ca_path: path(&acs.ssl_capath),
        ca_file: path(&acs.ssl_cafile),
        client_cert: path(&acs.ssl_clientcert),
        client_key: path(&acs.ssl_clientkey),
        insecure: acs.insecure_enable,
    }
}

/// Starts the connection-request server on `cpe.port`; a busy port is retried in the
/// background (and [`conn_req_bind`] moves it on reload).
pub(super) fn start_conn_req(config: &Config, tx: Inbox<ConnReqEvent>) -> Option<ConnReqServer> {
    match ConnReqServer::start(conn_req_bind(config), conn_req_settings(config), tx) {
        Ok(s) => Some(s),
        Err(e) => {
            log::error!("connection-request server not started: {e}");
            None
        }
    }
}

/// Where the connection-request server listens: `cpe.port`, the port it advertises, on the
/// `cr_host` address when that is one; nowhere when `http_cr_enable` is off.
pub(super) fn conn_req_bind(config: &Config) -> Bind {
    let cpe = &config.cpe;
    Bind::choose(cpe.http_cr_enable, &cpe.cr_host, cpe.port)
}

impl Agent {
    /// The events, value changes and Inform of an ordinary (non-heartbeat) session.
    fn regular_inform(
        &mut self,
        now: i64,
    ) -> (
        Vec<crate::events::PendingEvent>,
        Vec<crate::datamodel::ParamValue>,
        crate::soap::Inform,
    ) {
        // Changes found now ride in this Inform (with 4 VALUE CHANGE) whatever opened it.
        let current = self.attrs.notified(self.dm.as_mut());
        self.changes.poll(current);
        let changed = self.changes.pending();
        if !changed.is_empty() {
            self.state.events.add(EventCode::ValueChange, "");
        }
        let mut sent = self.deliverable_events();
        sent.truncate(crate::events::MAX_EVENTS);
        let forced = inform::parse_forced_inform_json(&self.config.cpe.forced_inform_json);
        let params: Vec<inform::InformParameter> = self
            .config
            .inform_parameters
            .iter()
            .filter(|p| p.enable)
            .map(|p| inform::InformParameter {
                name: p.parameter_name.clone(),
                events: p.events_list.clone(),
            })
            .collect();
        // The InformParameter table is read with the Inform's values (one data-model request).
        let input = inform::InformInput {
            events: &sent,
            extra_forced: &forced,
            inform_params: &params,
            changed: &changed,
            now,
            retry_count: self.retry_count,
        };
        let msg = inform::build_with_table(self.dm.as_mut(), &input);
        (sent, changed, msg)
    }

    /// Settings of the file-transfer clients: the ACS's CA and verification settings; no
    /// client certificate is presented to file servers.
    pub(super) fn net_options(&self) -> NetOptions {
        let tls = TlsSettings {
            client_cert: None,
            client_key: None,
            ..tls_settings(&self.config.acs)
        };
        NetOptions {
            tls,
            ..NetOptions::default()
        }
    }

    pub(super) fn http_options(&self) -> HttpOptions {
        let acs = &self.config.acs;
        HttpOptions {
            username: acs.userid.clone(),
            password: acs.passwd.clone(),
            tls: tls_settings(acs),
            compression: match acs.compression {
                crate::config::Compression::None => crate::http::Compression::None,
                crate::config::Compression::Gzip => crate::http::Compression::Gzip,
                crate::config::Compression::Deflate => crate::http::Compression::Deflate,
            },
            // The decoder's budget: a larger body would be refused after costing its memory.
            max_body: self.config.cpe.limits().max_message,
            // The wait for the ACS's answer is the session timeout the Inform announces.
            timeout: Duration::from_secs(self.config.cpe.session_timeout.into()),
            ipv4_only: self.config.cpe.force_ipv4,
            expect_continue: !acs.http_disable_100continue,
            proxy: crate::http::proxy::ProxyOptions {
                url: self.config.ops.http_proxy.clone(),
                env: self.config.ops.http_proxy_env,
            },
            ..HttpOptions::new(self.acs_url())
        }
    }

    fn session_opts(&self) -> SessionOpts {
        let amd = self.config.cpe.amd_version;
        let ns = match amd {
            _ if self.ns_fallback => CwmpNs::V1_0,
            1 => CwmpNs::V1_0,
            2 => CwmpNs::V1_1,
            _ => CwmpNs::V1_2,
        };
        SessionOpts {
            ns,
            inform_header: HeaderOpts {
                session_timeout: (amd >= 4).then_some(self.config.cpe.session_timeout),
                supported_versions: (amd >= 5).then(|| "1.0,1.1,1.2,1.3,1.4".to_string()),
            },
            id_prefix: std::process::id().to_string(),
            limits: self.config.cpe.limits(),
        }
    }

    /// Runs one whole session with the ACS, then the end-of-session work.
    pub(super) fn run_session(&mut self) {
        let now = self.clock.now().unix();
        self.stats.last_start = Some(now);
        self.metrics.session_start();
        self.publish_status(Some(now));
        let heartbeat = self.wanted() == super::policy::Wanted::Heartbeat;
        let (sent, changed, msg) = if heartbeat {
            let hb = crate::events::PendingEvent {
                code: EventCode::Heartbeat,
                command_key: String::new(),
            };
            let forced = inform::parse_forced_inform_json(&self.config.cpe.forced_inform_json);
            let sent = vec![hb];
            let input = inform::InformInput {
                events: &sent,
                extra_forced: &forced,
                now,
                retry_count: self.retry_count,
                ..Default::default()
            };
            let msg = inform::build(self.dm.as_mut(), &input);
            (sent, Vec::new(), msg)
        } else {
            self.regular_inform(now)
        };
        let mut requests = Vec::new();
        if self.want_get_rpc_methods && !heartbeat {
            requests.push(CpeRequest::GetRpcMethods);
        }
        self.add_transfer_requests(&mut requests);
        self.add_du_requests(&mut requests);
        self.add_outbox_requests(&mut requests);
        let codes: Vec<String> = sent.iter().map(|e| e.code.to_string()).collect();
        log::info!(
            "session start: events [{}], retry {}",
            codes.join(", "),
            self.retry_count
        );

        let url = self.acs_url().to_string();
        let result = match self.client.take() {
            // The fallback moved sessions to another URL than the client's.
            Some(mut c) if c.url() != url => c.reconfigure(self.http_options()).map(|()| c),
            Some(c) => Ok(c),
            None => AcsClient::new(self.http_options()),
        };
        let result = match result {
            Ok(mut client) => {
                let mut session = Session::new(msg, requests, self.session_opts());
                let r = self.drive(&mut session, &mut client, &sent, &changed);
                client.end_session();
                // Kept across sessions; a config reload at the end reconfigures it.
                self.client = Some(client);
                r
            }
            Err(e) => {
                self.metrics.transport_error(&e);
                let m = e.to_string();
                self.metrics
                    .session_failed(None, &m, self.clock.now().unix());
                Err(m)
            }
        };
        let end = self.clock.now();
        self.stats.last_end = Some(end.unix());
        self.stats.last_ok = Some(result.is_ok());
        match result {
            Ok(()) => {
                log::info!("session ended successfully");
                self.metrics.session_ok();
                self.fallback_session_ok(&url);
                self.stats.success += 1;
                self.last_success_end = end.unix();
                self.retry_count = 0;
                self.retry_owed = false;
                self.timers.stop(Timer::Retry);
                if heartbeat {
                    self.heartbeat_pending = false;
                } else {
                    self.stalled = !sent.is_empty() && self.deliverable_events() == sent;
                }
                if self.stalled {
                    log::warn!("events still undelivered after a successful session; waiting");
                }
            }
            Err(e) => {
                self.stats.failure += 1;
                self.retry_count = self.retry_count.saturating_add(1);
                self.state.events.session_failed();
                self.state.save();
                let acs = &self.config.acs;
                let wait = crate::schedule::retry_wait(
                    self.retry_count,
                    acs.retry_min_wait_interval,
                    acs.retry_interval_multiplier,
                    system::random_u32(),
                );
                log::warn!(
                    "session failed: {e}; retry {} in {wait} s",
                    self.retry_count
                );
                // Owed whatever the failed session delivered: its InformResponse may have
                // emptied the queue (digest 6.1, 6.3).
                // A failed heartbeat is retried as a heartbeat: it stays pending.
                self.retry_owed = !heartbeat;
                self.timers
                    .set(Timer::Retry, end.after(Duration::from_secs(wait)));
                self.fallback_session_failed(&url, now);
            }
        }
        self.transfer_session_end();
        self.du_session_end();
        self.outbox_session_end();
        self.end_of_session();
        system::release_free_memory();
    }

    /// Feeds the session until it is done; `Err` carries the failure reason.
    fn drive(
        &mut self,
        session: &mut Session,
        client: &mut AcsClient,
        sent: &[crate::events::PendingEvent],
        changed: &[crate::datamodel::ParamValue],
    ) -> Result<(), String> {
        loop {
            let Some(out) = session.poll() else {
                let m = "session stalled";
                self.metrics
                    .session_failed(None, m, self.clock.now().unix());
                return Err(m.into());
            };
            match out {
                Output::Post(body) => {
                    crate::logging::dump_soap("MESSAGE OUT >>>>", &body);
                    self.metrics.sent(body.len());
                    match client.post(&body) {
                        Ok(reply) => {
                            crate::logging::dump_soap("MESSAGE IN <<<<", &reply.body);
                            self.metrics.received(reply.body.len());
                            session.handle_reply(reply.status, &reply.body)
                        }
                        Err(e) => {
                            self.metrics.transport_error(&e);
                            session.handle_transport_error(e.to_string())
                        }
                    }
                }
                Output::Request(req) => {
                    log::info!("ACS request {}", req.method_name());
                    self.metrics.rpc(req.method_name());
                    let resp = self.handle_rpc(&req);
                    if let crate::soap::CpeResponse::Fault(f) = &resp {
                        self.metrics.fault(f.code.0);
                    }
                    session.answer(resp);
                }
                Output::Delivered(Delivered::Inform { use_version, ns }) => {
                    log::debug!("InformResponse ({ns:?}, UseCWMPVersion {use_version:?})");
                    // A heartbeat's event is not in the queue: removing it is a no-op.
                    self.state.events.inform_delivered(sent);
                    self.state.save();
                    self.diag_delivered(sent);
                    self.changes_delivered(changed);
                }
                Output::Delivered(Delivered::CpeRequest { index, .. }) => {
                    if !self.transfer_delivered(index)
                        && !self.du_delivered(index)
                        && !self.outbox_delivered(index)
                    {
                        self.want_get_rpc_methods = false;
                    }
                }
                Output::Delivered(Delivered::CpeRequestFaulted { index, code }) => {
                    log::warn!("ACS faulted our request: {code}");
                    if !self.transfer_faulted(index)
                        && !self.du_faulted(index)
                        && !self.outbox_faulted(index)
                    {
                        self.want_get_rpc_methods = false;
                    }
                }
                Output::Done(r) => {
                    if let Err(crate::session::SessionError::InformFault(code, _)) = &r {
                        if *code == crate::fault::FaultCode::ACS_VERSION_INCOMPATIBLE {
                            self.ns_fallback = true;
                        }
                    }
                    if let Err(e) = &r {
                        let now = self.clock.now().unix();
                        self.metrics.session_failed(Some(e), &e.to_string(), now);
                    }
                    return r.map_err(|e| e.to_string());
                }
            }
        }
    }

    pub(super) fn handle_rpc(&mut self, req: &crate::soap::AcsRequest) -> crate::soap::CpeResponse {
        let forced: Vec<String> = inform::FORCED_INFORM
            .iter()
            .map(|s| s.to_string())
            .collect();
        // SetParameterAttributes changes the attributes in place: kept to undo it when the
        // change cannot be persisted.
        let attrs_before = matches!(req, crate::soap::AcsRequest::SetParameterAttributes { .. })
            .then(|| self.attrs.clone());
        let transfers = self.xfer.queue.snapshot();
        let mut ctx = RpcContext {
            dm: self.dm.as_mut(),
            attrs: &mut self.attrs,
            amd_version: self.config.cpe.amd_version,
            now: crate::time::now_unix(),
            forced_inform: &forced,
            queued_schedule_informs: self.state.scheduled.len(),
            transfers: &transfers,
            du_jobs: self.du.jobs.jobs.len(),
        };
        let (resp, actions) = rpc::handle(req, &mut ctx);
        if let (crate::soap::AcsRequest::SetParameterValues { values, .. }, false) =
            (req, matches!(resp, crate::soap::CpeResponse::Fault(_)))
        {
            self.end
                .acs_written
                .extend(values.iter().map(|v| v.name.clone()));
            self.diag_after_spv(values);
        }
        let mut failure = None;
        for a in actions {
            if let Err(e) = self.apply_action(a) {
                log::error!("{}: {e}; answering 9002", req.method_name());
                failure.get_or_insert(e);
            }
        }
        match failure {
            None => resp,
            Some(e) => {
                if let Some(before) = attrs_before {
                    self.attrs = before;
                }
                crate::soap::CpeResponse::Fault(crate::fault::Fault::internal(e))
            }
        }
    }

    /// Persists what an RPC changed, or notes what must happen after the session. `Err`
    /// (the RPC then answers 9002) when the change could not be persisted; the action's own
    /// in-memory effect is then undone. Parameter values an SPV already wrote through the data
    /// model stay written when only its ParameterKey could not be stored: the ACS, told 9002,
    /// sends the SPV again, which is harmless.
    fn apply_action(&mut self, action: Action) -> Result<(), String> {
        match action {
            Action::SetParameterKey(key) => {
                for root in ["Device.", "InternetGatewayDevice."] {
                    let name = format!("{root}ManagementServer.ParameterKey");
                    self.end.acs_written.insert(name);
                }
                let change = [("cpe".to_string(), "ParameterKey".to_string(), key)];
                crate::config::set_options(&self.opts.config_path, &change)
                    .map_err(|e| format!("cannot store ParameterKey: {e}"))?;
            }
            Action::Reboot { command_key } => {
                // Persisted before the RebootResponse goes out: a crash or power cut from
                // here on still reports `M Reboot` (digest: events owed exactly once).
                let m = EventCode::Method("Reboot".into());
                let added = self.state.events.add(m.clone(), &command_key);
                if let Err(e) = self.state.try_save() {
                    if added {
                        self.state.events.remove(&m, &command_key);
                    }
                    return Err(format!("cannot record the reboot: {e}"));
                }
                self.end.reboot = Some(command_key);
            }
            Action::FactoryReset => self.end.factory_reset = true,
            Action::ScheduleInform {
                due, command_key, ..
            } => {
                // The clock has whole seconds: one more guarantees "no sooner than
                // DelaySeconds" whatever fraction of a second had passed at receipt.
                let due = due + 1;
                self.state
                    .scheduled
                    .push(super::state::ScheduledInform { due, command_key });
                if let Err(e) = self.state.try_save() {
                    self.state.scheduled.pop();
                    return Err(format!("cannot record the ScheduleInform: {e}"));
                }
            }
            Action::AttributesChanged => {
                self.attrs
                    .save(&self.opts.state_dir)
                    .map_err(|e| format!("cannot store notification attributes: {e}"))?;
                self.end.attrs_changed = true;
            }
            Action::ConfigChanged => self.end.reload_config = true,
            a @ (Action::Download(_)
            | Action::Upload(_)
            | Action::ScheduleDownload(_)
            | Action::CancelTransfer { .. }) => self.transfer_action(a)?,
            Action::ChangeDuState {
                operations,
                command_key,
            } => self.du_action(&command_key, operations)?,
        }
        Ok(())
    }

    /// After a session: apply deferred changes, then reboot or factory-reset if asked.
    fn end_of_session(&mut self) {
        self.dm.end_of_session();
        let end = std::mem::take(&mut self.end);
        let reloaded = end.reload_config && self.reload_config();
        // One read of the notified values for all the session left behind: what the ACS
        // changed itself is not reported back to it (digest 8.2); newly notified parameters
        // start from their value now, not at some later check, which would take a local
        // change made meanwhile as the baseline; a reload may have come with new values.
        if !end.acs_written.is_empty() || end.attrs_changed || reloaded {
            self.check_changes_after(self.clock.now(), &end.acs_written);
        }
        // DelayReboot counts from the end of the session that set it; a ScheduleReboot that
        // fell due during it is still due (TR-181).
        let delay_written = end
            .acs_written
            .iter()
            .any(|n| n.ends_with(".ManagementServer.DelayReboot"));
        let since = self.stats.last_start.unwrap_or(0);
        self.plan_reboots(since, delay_written);
        if end.factory_reset {
            self.factory_reset();
        } else if end.reboot.is_some() {
            // `M Reboot` was recorded when the Reboot RPC was accepted (apply_action).
            self.reboot();
        }
    }

    pub(super) fn reboot(&mut self) {
        let cmd = self.config.cpe.reboot_command.clone();
        log::info!("rebooting");
        // TR-181: DelayReboot is reset to -1 whenever the CPE reboots.
        self.clear_reboot_options(true, false);
        // Back here only when the reboot goes on asynchronously (rpc-sys, a command): no
        // session until it has happened, or it would deliver `M Reboot` before the reboot.
        // Should the system not reboot at all, sessions resume after a grace period.
        let until = self.clock.now().after(REBOOT_GRACE);
        self.timers.set(Timer::RebootGrace, until);
        // rpc-sys first when no command is configured (OpenWrt); re-exec as the last resort.
        if cmd.trim().is_empty() && super::bus::rpc_sys(self.ubus.as_ref(), "reboot") {
            return;
        }
        self.conn_req = None;
        system::reboot(&cmd, &self.opts.argv);
    }

    fn factory_reset(&mut self) {
        let cmd = self.config.cpe.factory_reset_command.clone();
        log::info!("factory reset");
        if cmd.trim().is_empty() && super::bus::rpc_sys(self.ubus.as_ref(), "factory") {
            return;
        }
        self.conn_req = None;
        if cmd.is_empty() {
            system::clear_state_dir(&self.opts.state_dir);
            let change = [("cpe".into(), "ParameterKey".into(), String::new())];
            if let Err(e) = crate::config::set_options(&self.opts.config_path, &change) {
                log::error!("cannot clear ParameterKey: {e}");
            }
        }
        system::factory_reset(&cmd, &self.opts.argv);
    }
}
