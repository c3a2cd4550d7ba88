//! The main loop's side of diagnostics: the state lives in `diagnostics.json`
//! ([`crate::diag::store`]), which SPVs change (the embedded model itself, or
//! [`crate::diag::bbfdm::note_spv`] for bbfdm; the ACS's or the CLI's). This module starts a
//! worker per requested test once no session runs (at most one per object), cancels a test
//! whose request was reset or replaced, stores each end atomically, raises
//! `8 DIAGNOSTICS COMPLETE` and forgets it once a session delivered it.
//!
//! Restart policy: a test that was only queued runs after the restart; one a worker had
//! started ends in `Error_Internal` with its `8 DIAGNOSTICS COMPLETE` (the ACS hears back
//! exactly once, and a test that brought the daemon down is not run again). The owed event
//! is re-raised from the file at start, since `8` itself is not kept across reboots.

use super::{Agent, Input};
use crate::diag::store::{self, DiagStore};
use crate::diag::{Cancel, Kind, Outcome};
use crate::events::EventCode;
use crate::inbox::Inbox;
use std::time::{Duration, Instant};

/// Longest any test may run before the watchdog cancels it (the engines cap their own
/// durations well below: this only catches one that does not).
pub const WATCHDOG: Duration = Duration::from_secs(30 * 60);
/// How long a cancelled test may take to return before its object ends in `Error_Internal`
/// without it.
pub const CANCEL_GRACE: Duration = Duration::from_secs(10);
/// How often the loop wakes while tests run (watchdog checks).
const TICK: Duration = Duration::from_secs(5);

/// A worker's report.
#[derive(Debug)]
pub struct DiagDone {
    /// The test object.
    pub object: String,
    /// The request it ran.
    pub request: u64,
    /// Its end.
    pub outcome: Outcome,
}

/// Runs one test to its end: (object, inputs, cancel flag).
pub type Runner =
    std::sync::Arc<dyn Fn(&str, &crate::diag::Inputs, &Cancel) -> Outcome + Send + Sync>;

struct Running {
    request: u64,
    cancel: Cancel,
    since: Instant,
    cancelled: Option<Instant>,
}

/// Diagnostics state the agent owns.
pub(super) struct Diags {
    tx: Inbox<DiagDone>,
    /// The tests under way, sorted by object (at most one per diagnostics object). A sorted
    /// Vec, not a BTreeMap: a handful of entries, and no BTreeMap<String, Running> code with
    /// its node-merging removal in the router binary (about 4 KB).
    running: Vec<(String, Running)>,
    /// The file as last read here: re-read only when it changed.
    seen: store::Stamp,
    /// The file as last read here asks for a test (running or not).
    requested: bool,
    /// Replaces the engines and bbfdm (unit tests).
    runner: Option<Runner>,
    /// [`WATCHDOG`] and [`CANCEL_GRACE`] (shorter in unit tests).
    limits: (Duration, Duration),
}

impl Diags {
    /// No test running yet.
    pub fn new(tx: Inbox<DiagDone>) -> Diags {
        Diags {
            tx,
            running: Vec::new(),
            seen: None,
            requested: false,
            runner: None,
            limits: (WATCHDOG, CANCEL_GRACE),
        }
    }

    /// Cancels every running test (shutdown).
    pub fn cancel_all(&self) {
        for (_, r) in &self.running {
            r.cancel.cancel();
        }
    }

    /// Where `object` is in [`Diags::running`] (`Err`: where it would go).
    fn find(&self, object: &str) -> Result<usize, usize> {
        self.running
            .binary_search_by(|(o, _)| o.as_str().cmp(object))
    }

    /// The running test of `object`.
    fn get_mut(&mut self, object: &str) -> Option<&mut Running> {
        let i = self.find(object).ok()?;
        Some(&mut self.running[i].1)
    }

    /// Records the test of `object` (replacing any entry there was).
    fn insert(&mut self, object: String, r: Running) {
        match self.find(&object) {
            Ok(i) => self.running[i].1 = r,
            Err(i) => self.running.insert(i, (object, r)),
        }
    }

    /// Forgets the test of `object`.
    fn remove(&mut self, object: &str) {
        if let Ok(i) = self.find(object) {
            self.running.remove(i);
        }
    }
}

impl Drop for Diags {
    fn drop(&mut self) {
        self.cancel_all();
    }
}

/// What the cycle must do with the running tests, given the store: the objects whose test
/// must be cancelled (reset, replaced, or gone) and the requests to start now.
pub(super) fn plan(
    store: &DiagStore,
    running: &[(String, u64)],
) -> (Vec<String>, Vec<(String, u64)>) {
    // Sorted by object, one entry each (the store is keyed by object); a few entries, so
    // slices rather than maps (no BTreeMap<String, u64> code in the router binary).
    let requested = store.requested();
    let asked = |o: &str| requested.iter().find(|(r, _)| r == o).map(|(_, n)| *n);
    let cancel = running
        .iter()
        .filter(|(o, r)| asked(o) != Some(*r))
        .map(|(o, _)| o.clone())
        .collect();
    // A replaced test must return before its successor starts: one per object.
    let start = requested
        .iter()
        .filter(|(o, _)| !running.iter().any(|(r, _)| r == o))
        .cloned()
        .collect();
    (cancel, start)
}

impl Agent {
    fn diag_dir(&self) -> &std::path::Path {
        &self.opts.state_dir
    }

    fn load_diags(&mut self) -> DiagStore {
        self.diags.seen = store::stamp(self.diag_dir());
        let s = DiagStore::load(self.diag_dir());
        self.diags.requested = !s.requested().is_empty();
        s
    }

    fn save_diags(&mut self, s: &DiagStore) -> bool {
        match s.save(self.diag_dir()) {
            Ok(()) => {
                self.diags.seen = store::stamp(self.diag_dir());
                self.diags.requested = !s.requested().is_empty();
                true
            }
            Err(e) => {
                log::error!("cannot write {}: {e}", store::FILE_NAME);
                false
            }
        }
    }

    /// Start-up: ends the tests a restart interrupted and re-raises an owed event.
    pub(super) fn recover_diags(&mut self) {
        let mut s = self.load_diags();
        let interrupted = s.recover();
        if !interrupted.is_empty() {
            log::warn!(
                "diagnostics interrupted by the restart: {}",
                interrupted.join(", ")
            );
            self.save_diags(&s);
        }
        if s.report_owed() {
            self.raise(EventCode::DiagnosticsComplete, "");
        }
    }

    /// Replaces the test engines (unit tests drive the cycle without a network).
    #[cfg(test)]
    pub(super) fn set_diag_runner(&mut self, runner: Runner) {
        self.diags.runner = Some(runner);
    }

    /// Replaces the watchdog's limits (unit tests).
    #[cfg(test)]
    pub(super) fn set_diag_limits(&mut self, watchdog: Duration, grace: Duration) {
        self.diags.limits = (watchdog, grace);
    }

    /// Cancels the tests whose request is no longer current (an SPV reset or replaced it, here
    /// or in another process). Cheap when the file did not change.
    pub(super) fn sync_diags(&mut self) {
        if self.diags.running.is_empty() || store::stamp(self.diag_dir()) == self.diags.seen {
            return;
        }
        let s = self.load_diags();
        self.cancel_stale(&s);
    }

    /// The running tests' objects and requests, as [`plan`] takes them.
    fn running_requests(&self) -> Vec<(String, u64)> {
        let r = &self.diags.running;
        r.iter().map(|(o, r)| (o.clone(), r.request)).collect()
    }

    fn cancel_stale(&mut self, s: &DiagStore) {
        let (cancel, _) = plan(s, &self.running_requests());
        for o in cancel {
            if let Some(r) = self.diags.get_mut(&o) {
                if r.cancelled.is_none() {
                    log::info!("diagnostics {o}: request {} cancelled", r.request);
                    r.cancel.cancel();
                    r.cancelled = Some(Instant::now());
                }
            }
        }
    }

    /// Between sessions: cancels what is stale, starts what is requested, and applies the
    /// watchdog. Returns how soon the loop must look again.
    pub(super) fn start_diags(&mut self) -> Option<Duration> {
        let changed = store::stamp(self.diag_dir()) != self.diags.seen;
        if !changed && self.diags.running.is_empty() && !self.diags.requested {
            return None;
        }
        let mut s = self.load_diags();
        self.cancel_stale(&s);
        self.watchdog(&mut s);
        let (_, start) = plan(&s, &self.running_requests());
        for (object, request) in start {
            self.spawn_diag(&mut s, object, request);
        }
        (!self.diags.running.is_empty()).then_some(TICK)
    }

    fn watchdog(&mut self, s: &mut DiagStore) {
        let now = Instant::now();
        let (limit, grace) = self.diags.limits;
        let mut given_up = Vec::new();
        for (o, r) in &mut self.diags.running {
            match r.cancelled {
                None if now.duration_since(r.since) >= limit => {
                    log::error!("diagnostics {o}: still running after {limit:?}: cancelled");
                    r.cancel.cancel();
                    r.cancelled = Some(now);
                }
                Some(t) if now.duration_since(t) >= grace => {
                    given_up.push((o.clone(), r.request));
                }
                _ => {}
            }
        }
        for (o, request) in given_up {
            log::error!("diagnostics {o}: the test does not stop; given up");
            self.diags.remove(&o);
            if s.finish(&o, request, Outcome::error(store::INTERRUPTED)) {
                self.save_diags(s);
                self.raise(EventCode::DiagnosticsComplete, "");
            }
        }
    }

    /// An `Interface` input naming a data-model interface (`Device.IP.Interface.2`) becomes
    /// that interface's Linux name, which the engines bind to. One that names no interface
    /// is dropped (logged): the routing table chooses, as for an empty value.
    fn interface_name(&mut self, inputs: &mut crate::diag::Inputs) {
        let Some(path) = inputs
            .get("Interface")
            .filter(|v| v.starts_with("Device."))
            .map(|v| v.trim_end_matches('.').to_string())
        else {
            return;
        };
        match self.dm.get_values(&format!("{path}.Name")) {
            Ok(v) if v.len() == 1 && !v[0].value.is_empty() => {
                inputs.insert("Interface".into(), v[0].value.clone());
            }
            _ => {
                log::warn!("diagnostics: Interface {path} names no interface: not bound");
                inputs.remove("Interface");
            }
        }
    }

    fn runner(&self) -> Runner {
        if let Some(r) = &self.diags.runner {
            return r.clone();
        }
        match self.ubus.clone().filter(|_| self.dm.is_bbfdm()) {
            Some(ubus) => std::sync::Arc::new(move |object: &str, inputs: &_, _: &Cancel| {
                crate::diag::bbfdm::run(&ubus, object, inputs)
            }),
            None => std::sync::Arc::new(|object: &str, inputs: &_, cancel: &Cancel| {
                match Kind::from_object(object) {
                    Some(kind) => crate::diag::run(kind, inputs, cancel),
                    None => Outcome::error(store::INTERRUPTED),
                }
            }),
        }
    }

    fn spawn_diag(&mut self, s: &mut DiagStore, object: String, request: u64) {
        let Some(mut inputs) = s.get(&object).map(|e| e.inputs.clone()) else {
            return;
        };
        if !self.dm.is_bbfdm() {
            self.interface_name(&mut inputs);
        }
        // Recorded before the worker starts: a restart from here on reports Error_Internal.
        s.start(&object, request);
        self.save_diags(s);
        let cancel = Cancel::new();
        let (c, tx, run, o) = (
            cancel.clone(),
            self.diags.tx.clone(),
            self.runner(),
            object.clone(),
        );
        log::info!("diagnostics {object}: request {request} starting");
        let spawned = std::thread::Builder::new()
            .name("diag".into())
            .spawn(move || {
                let outcome = run(&o, &inputs, &c);
                let _ = tx.send(DiagDone {
                    object: o,
                    request,
                    outcome,
                });
            });
        match spawned {
            Ok(_) => {
                let r = Running {
                    request,
                    cancel,
                    since: Instant::now(),
                    cancelled: None,
                };
                self.diags.insert(object, r);
            }
            Err(e) => {
                log::error!("diagnostics {object}: no worker thread: {e}");
                self.diag_done(DiagDone {
                    object,
                    request,
                    outcome: Outcome::error(store::INTERRUPTED),
                });
            }
        }
    }

    /// A worker's report: stored if its request is still current, then reported.
    pub(super) fn diag_done(&mut self, done: DiagDone) {
        if self
            .diags
            .get_mut(&done.object)
            .is_some_and(|r| r.request == done.request)
        {
            self.diags.remove(&done.object);
        }
        let mut s = self.load_diags();
        let state = done.outcome.state.clone();
        if !s.finish(&done.object, done.request, done.outcome) {
            log::info!(
                "diagnostics {}: request {} ended ({state}) after it was reset or replaced",
                done.object,
                done.request
            );
            return;
        }
        log::info!(
            "diagnostics {}: request {} ended: {state}",
            done.object,
            done.request
        );
        self.save_diags(&s);
        self.raise(EventCode::DiagnosticsComplete, "");
    }

    /// The InformResponse acknowledged `sent`: an `8 DIAGNOSTICS COMPLETE` among them is
    /// delivered.
    pub(super) fn diag_delivered(&mut self, sent: &[crate::events::PendingEvent]) {
        let code = EventCode::DiagnosticsComplete;
        if !sent.iter().any(|e| e.code == code) || self.state.events.contains(&code) {
            return;
        }
        let mut s = self.load_diags();
        if s.delivered() {
            self.save_diags(&s);
        }
    }

    /// BOOTSTRAP: an owed `8 DIAGNOSTICS COMPLETE` belonged to the old ACS (digest 5.4); the
    /// results stay readable.
    pub(super) fn discard_diag_reports(&mut self) {
        let mut s = self.load_diags();
        if s.delivered() {
            log::info!("BOOTSTRAP: dropping the owed 8 DIAGNOSTICS COMPLETE");
            self.save_diags(&s);
        }
    }

    /// Shutdown: running tests stop (a restart reports them as interrupted).
    pub(super) fn stop_diags(&mut self) {
        self.diags.cancel_all();
    }

    /// An SPV succeeded: on bbfdm, note its diagnostics inputs and requests (the embedded
    /// model keeps them itself); then cancel what it reset.
    pub(super) fn diag_after_spv(&mut self, values: &[crate::datamodel::SetValue]) {
        if self.dm.is_bbfdm() && !crate::diag::bbfdm::changes(values).is_empty() {
            let mut s = self.load_diags();
            crate::diag::bbfdm::note_spv(&mut s, values);
            self.save_diags(&s);
            self.cancel_stale(&s);
            return;
        }
        self.sync_diags();
    }
}

/// The inbox for diagnostics workers.
pub(super) fn inbox(inputs: &super::Inputs) -> Inbox<DiagDone> {
    inputs.inbox(Input::Diag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: &str = "Device.IP.Diagnostics.IPPing.";

    fn store_with(req: &[(&str, u64)]) -> DiagStore {
        let mut s = DiagStore::default();
        for (o, n) in req {
            for _ in 0..*n {
                s.apply(&[(o.to_string(), "DiagnosticsState".into(), "Requested".into())]);
            }
        }
        s
    }

    #[test]
    fn a_request_starts_once_and_a_replaced_one_waits_for_the_first_to_return() {
        let s = store_with(&[(PING, 1)]);
        let (cancel, start) = plan(&s, &[]);
        assert!(cancel.is_empty());
        assert_eq!(start, vec![(PING.to_string(), 1)]);
        let running = [(PING.to_string(), 1)];
        assert_eq!(plan(&s, &running), (vec![], vec![]));
        // A second Requested: the first is cancelled, the second not started yet.
        let s = store_with(&[(PING, 2)]);
        assert_eq!(plan(&s, &running), (vec![PING.to_string()], vec![]));
        assert_eq!(plan(&s, &[]).1, vec![(PING.to_string(), 2)]);
    }

    #[test]
    fn plans_follow_object_order_over_several_tests() {
        const TRACE: &str = "Device.IP.Diagnostics.TraceRoute.";
        const DNS: &str = "Device.DNS.Diagnostics.NSLookupDiagnostics.";
        let s = store_with(&[(TRACE, 2), (DNS, 1)]);
        let running = [(PING.to_string(), 1), (TRACE.to_string(), 1)];
        // PING is no longer requested, TRACE was replaced; DNS waits for no one.
        assert_eq!(
            plan(&s, &running),
            (
                vec![PING.to_string(), TRACE.to_string()],
                vec![(DNS.to_string(), 1)]
            )
        );
        assert_eq!(
            plan(&s, &[]).1,
            vec![(DNS.to_string(), 1), (TRACE.to_string(), 2)]
        );
    }

    #[test]
    fn running_tests_stay_sorted_one_per_object() {
        let mut d = Diags::new(Inbox::new(|_| true));
        let run = |request| Running {
            request,
            cancel: Cancel::new(),
            since: Instant::now(),
            cancelled: None,
        };
        for (o, n) in [("b.", 1), ("c.", 2), ("a.", 3), ("b.", 4)] {
            d.insert(o.to_string(), run(n));
        }
        let listed = |d: &Diags| -> Vec<(String, u64)> {
            d.running
                .iter()
                .map(|(o, r)| (o.clone(), r.request))
                .collect()
        };
        let want = [("a.", 3), ("b.", 4), ("c.", 2)].map(|(o, n)| (o.to_string(), n));
        assert_eq!(listed(&d), want);
        assert_eq!(d.get_mut("c.").map(|r| r.request), Some(2));
        assert!(d.get_mut("d.").is_none());
        d.remove("b.");
        d.remove("d.");
        assert_eq!(listed(&d), [want[0].clone(), want[2].clone()]);
        d.cancel_all();
        assert!(d.running.iter().all(|(_, r)| r.cancel.is_cancelled()));
    }

    #[test]
    fn a_reset_cancels_and_starts_nothing() {
        let mut s = store_with(&[(PING, 1)]);
        s.apply(&[(PING.into(), "Host".into(), "::1".into())]);
        let running = [(PING.to_string(), 1)];
        assert_eq!(plan(&s, &running), (vec![PING.to_string()], vec![]));
    }
}
