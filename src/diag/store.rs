//! The diagnostics state every test object shares, persisted in `<state_dir>/diagnostics.json`:
//! per object its `DiagnosticsState`, inputs, results and whether `8 DIAGNOSTICS COMPLETE` is
//! still owed. The embedded model serves and changes it on SPV (the daemon's and the CLI's),
//! the agent's cycle runs what it asks for and stores the outcome; both re-read it when the
//! file changed (see [`Stamp`]).
//!
//! The transitions are TR-181's (`DiagnosticsState` data type): `Requested` starts a new test
//! and clears the results; writing any input of a requested, running or finished test sets it
//! back to `None` and clears the results; a test's end is stored only if it is still the
//! request it was started for.

use super::Outcome;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The state file's name in the state directory.
pub const FILE_NAME: &str = "diagnostics.json";
/// The value that asks for a test.
pub const REQUESTED: &str = "Requested";
/// The value of a test object that holds no request and no results.
pub const NONE: &str = "None";
/// The state a test that a restart interrupted ends in.
pub const INTERRUPTED: &str = "Error_Internal";

/// One test object's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `DiagnosticsState`.
    pub state: String,
    /// Number of the current request (a new `Requested` takes the next one): a worker's
    /// result is kept only if its request is still the current one.
    pub request: u64,
    /// A worker took the current request (a restart then cannot know how far it got).
    pub started: bool,
    /// Inputs as written, by name relative to the object.
    pub inputs: BTreeMap<String, String>,
    /// Results of the last test, relative names (`"RouteHops.1.Host"`).
    pub results: Vec<(String, String)>,
    /// `8 DIAGNOSTICS COMPLETE` is owed for this object's last end.
    pub report: bool,
}

impl Default for Entry {
    fn default() -> Entry {
        Entry {
            state: NONE.into(),
            request: 0,
            started: false,
            inputs: BTreeMap::new(),
            results: Vec::new(),
            report: false,
        }
    }
}

impl Entry {
    /// Whether a test is asked for or running.
    pub fn is_requested(&self) -> bool {
        self.state == REQUESTED
    }

    /// The result `name` (relative), if the last test gave it.
    pub fn result(&self, name: &str) -> Option<&str> {
        self.results
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn reset(&mut self) {
        self.state = NONE.into();
        self.started = false;
        self.results.clear();
    }
}

/// One change an SPV makes: (object path with its dot, name relative to it, value).
pub type Change = (String, String, String);

/// Every test object's state, by object path (`"Device.IP.Diagnostics.IPPing."`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiagStore {
    /// The objects that ever had a value written, sorted by path, one entry each. A few
    /// objects: a sorted Vec, not a BTreeMap (no BTreeMap<String, Entry> code in the router
    /// binary); see [`DiagStore::get`] and `slot`.
    pub objects: Vec<(String, Entry)>,
}

/// What identifies one version of the file (mtime ns, size, inode): someone else (the CLI)
/// rewrote it when this changes.
pub type Stamp = Option<(i128, u64, u64)>;

/// The stamp of the state file in `dir` now.
pub fn stamp(dir: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir.join(FILE_NAME)).ok()?;
    Some((
        m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        m.len(),
        m.ino(),
    ))
}

impl DiagStore {
    /// The object's state (an untouched object: `None`, no inputs).
    pub fn get(&self, object: &str) -> Option<&Entry> {
        let i = self.find(object).ok()?;
        Some(&self.objects[i].1)
    }

    /// Where `object` is in [`DiagStore::objects`] (`Err`: where it would go).
    fn find(&self, object: &str) -> Result<usize, usize> {
        self.objects
            .binary_search_by(|(o, _)| o.as_str().cmp(object))
    }

    fn get_mut(&mut self, object: &str) -> Option<&mut Entry> {
        let i = self.find(object).ok()?;
        Some(&mut self.objects[i].1)
    }

    /// The entry of `object`, a default one added when it has none.
    fn slot(&mut self, object: &str) -> &mut Entry {
        let i = match self.find(object) {
            Ok(i) => i,
            Err(i) => {
                self.objects
                    .insert(i, (object.to_string(), Entry::default()));
                i
            }
        };
        &mut self.objects[i].1
    }

    /// Applies one SPV's diagnostics changes, inputs first: an input resets its object, and
    /// `DiagnosticsState=Requested` in the same SPV then asks for a test with all inputs.
    /// Returns the objects now requested by this SPV.
    pub fn apply(&mut self, changes: &[Change]) -> Vec<String> {
        for (obj, name, value) in changes {
            if name != "DiagnosticsState" {
                let e = self.slot(obj);
                e.inputs.insert(name.clone(), value.clone());
                e.reset();
            }
        }
        let mut requested = Vec::new();
        for (obj, name, value) in changes {
            if name == "DiagnosticsState" && value == REQUESTED {
                let e = self.slot(obj);
                e.reset();
                e.state = REQUESTED.into();
                e.request = e.request.wrapping_add(1);
                requested.push(obj.clone());
            }
        }
        requested
    }

    /// A worker took request `request` of `object`; false when it is no longer current.
    pub fn start(&mut self, object: &str, request: u64) -> bool {
        match self.get_mut(object) {
            Some(e) if e.is_requested() && e.request == request => {
                e.started = true;
                true
            }
            _ => false,
        }
    }

    /// Stores the end of request `request` of `object`; false (nothing changed) when that
    /// request was reset or replaced meanwhile.
    pub fn finish(&mut self, object: &str, request: u64, outcome: Outcome) -> bool {
        match self.get_mut(object) {
            Some(e) if e.is_requested() && e.request == request => {
                e.state = outcome.state;
                e.results = outcome.values;
                e.started = false;
                e.report = true;
                true
            }
            _ => false,
        }
    }

    /// Start-up: a test a worker had taken ends in [`INTERRUPTED`] with its report owed;
    /// those only queued stay requested (they run now). Returns the interrupted objects.
    pub fn recover(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for (obj, e) in &mut self.objects {
            if e.is_requested() && e.started {
                e.state = INTERRUPTED.into();
                e.started = false;
                e.results.clear();
                e.report = true;
                out.push(obj.clone());
            }
        }
        out
    }

    /// Whether an `8 DIAGNOSTICS COMPLETE` is owed.
    pub fn report_owed(&self) -> bool {
        self.objects.iter().any(|(_, e)| e.report)
    }

    /// The ACS took `8 DIAGNOSTICS COMPLETE`: nothing is owed any more. True if it changed.
    pub fn delivered(&mut self) -> bool {
        let mut changed = false;
        for (_, e) in &mut self.objects {
            changed |= std::mem::take(&mut e.report);
        }
        changed
    }

    /// The requests waiting for a worker or running: (object, request).
    pub fn requested(&self) -> Vec<(String, u64)> {
        self.objects
            .iter()
            .filter(|(_, e)| e.is_requested())
            .map(|(o, e)| (o.clone(), e.request))
            .collect()
    }

    /// Reads the state file in `dir` (missing or unusable: nothing).
    pub fn load(dir: &Path) -> DiagStore {
        let path = dir.join(FILE_NAME);
        let v = crate::store::load_json(&path, "diagnostics state").value();
        DiagStore::from_json(&v)
    }

    fn from_json(v: &Value) -> DiagStore {
        let mut store = DiagStore::default();
        let Some(map) = v["objects"].as_object() else {
            return store;
        };
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        for (obj, e) in map {
            let inputs = e["inputs"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
                .unwrap_or_default();
            let results = e["results"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| Some((p.get(0)?.as_str()?.into(), s(p.get(1)?))))
                        .collect()
                })
                .unwrap_or_default();
            let state = match e["state"].as_str() {
                Some(st) if !st.is_empty() => st.to_string(),
                _ => NONE.into(),
            };
            *store.slot(obj) = Entry {
                state,
                request: e["request"].as_u64().unwrap_or(0),
                started: e["started"].as_bool().unwrap_or(false),
                inputs,
                results,
                report: e["report"].as_bool().unwrap_or(false),
            };
        }
        store
    }

    /// The file's content.
    pub fn to_json(&self) -> Vec<u8> {
        let mut objects = Map::new();
        for (obj, e) in &self.objects {
            let results: Vec<Value> = e.results.iter().map(|(n, v)| json!([n, v])).collect();
            objects.insert(
                obj.clone(),
                json!({
                    "state": e.state,
                    "request": e.request,
                    "started": e.started,
                    "inputs": e.inputs,
                    "results": results,
                    "report": e.report,
                }),
            );
        }
        let v = json!({ "objects": objects });
        // A Value always serializes.
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// Writes the state file atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        crate::store::write_atomic(&dir.join(FILE_NAME), &self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: &str = "Device.IP.Diagnostics.IPPing.";

    fn ch(name: &str, value: &str) -> Change {
        (PING.into(), name.into(), value.into())
    }

    fn done(state: &str) -> Outcome {
        Outcome {
            state: state.into(),
            values: vec![("SuccessCount".into(), "3".into())],
        }
    }

    #[test]
    fn requested_with_inputs_in_one_spv_asks_for_a_test_with_them() {
        let mut s = DiagStore::default();
        let r = s.apply(&[ch("DiagnosticsState", "Requested"), ch("Host", "127.0.0.1")]);
        assert_eq!(r, vec![PING.to_string()]);
        let e = s.get(PING).unwrap();
        assert_eq!(e.state, "Requested");
        assert_eq!(e.inputs["Host"], "127.0.0.1");
        assert_eq!(s.requested(), vec![(PING.to_string(), 1)]);
    }

    #[test]
    fn an_input_resets_a_running_or_finished_test_to_none_and_clears_results() {
        let mut s = DiagStore::default();
        s.apply(&[ch("DiagnosticsState", "Requested")]);
        assert!(s.start(PING, 1));
        s.apply(&[ch("Timeout", "500")]);
        assert_eq!(s.get(PING).unwrap().state, "None");
        assert!(!s.get(PING).unwrap().started);
        // The worker's late end is dropped.
        assert!(!s.finish(PING, 1, done("Complete")));
        assert!(s.get(PING).unwrap().results.is_empty());
        assert!(!s.report_owed());

        s.apply(&[ch("DiagnosticsState", "Requested")]);
        assert!(s.finish(PING, 2, done("Complete")));
        assert_eq!(s.get(PING).unwrap().result("SuccessCount"), Some("3"));
        s.apply(&[ch("Host", "::1")]);
        let e = s.get(PING).unwrap();
        assert_eq!((e.state.as_str(), e.results.len()), ("None", 0));
    }

    #[test]
    fn a_second_request_replaces_the_first() {
        let mut s = DiagStore::default();
        s.apply(&[ch("DiagnosticsState", "Requested")]);
        s.start(PING, 1);
        s.apply(&[ch("DiagnosticsState", "Requested")]);
        assert_eq!(s.requested(), vec![(PING.to_string(), 2)]);
        assert!(!s.finish(PING, 1, done("Complete")), "the first is stale");
        assert!(!s.start(PING, 1));
        assert!(s.start(PING, 2));
        assert!(s.finish(PING, 2, done("Error_Other")));
        assert_eq!(s.get(PING).unwrap().state, "Error_Other");
        assert!(s.report_owed());
        assert!(s.delivered());
        assert!(!s.report_owed() && !s.delivered());
    }

    #[test]
    fn a_restart_ends_a_started_test_in_error_and_keeps_a_queued_one() {
        let mut s = DiagStore::default();
        s.apply(&[ch("DiagnosticsState", "Requested")]);
        let trace = "Device.IP.Diagnostics.TraceRoute.";
        s.apply(&[(trace.into(), "DiagnosticsState".into(), "Requested".into())]);
        s.start(PING, 1);
        assert_eq!(s.recover(), vec![PING.to_string()]);
        assert_eq!(s.get(PING).unwrap().state, INTERRUPTED);
        assert!(s.report_owed());
        assert_eq!(s.requested(), vec![(trace.to_string(), 1)]);
    }

    #[test]
    fn objects_stay_sorted_and_round_trip_whatever_the_write_order() {
        const TRACE: &str = "Device.IP.Diagnostics.TraceRoute.";
        const DNS: &str = "Device.DNS.Diagnostics.NSLookupDiagnostics.";
        let mut s = DiagStore::default();
        for obj in [TRACE, PING, DNS, PING] {
            s.apply(&[(obj.into(), "DiagnosticsState".into(), REQUESTED.into())]);
        }
        let order: Vec<&str> = s.objects.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(order, [DNS, PING, TRACE]);
        assert_eq!(s.get(PING).unwrap().request, 2);
        assert_eq!(s.get(TRACE).unwrap().request, 1);
        assert!(s.get("Device.Nope.").is_none());
        let back = DiagStore::from_json(&serde_json::from_slice(&s.to_json()).unwrap());
        assert_eq!(back, s);
    }

    #[test]
    fn round_trips_through_the_file_and_survives_garbage() {
        let dir = std::env::temp_dir().join(format!("icwmp-diagstore-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = DiagStore::default();
        s.apply(&[ch("Host", "h\"x"), ch("DiagnosticsState", "Requested")]);
        s.finish(PING, 1, done("Complete"));
        s.save(&dir).unwrap();
        assert_eq!(DiagStore::load(&dir), s);
        let st = stamp(&dir);
        assert!(st.is_some());
        std::fs::write(
            dir.join(FILE_NAME),
            b"{\"objects\":{\"x\":{\"request\":\"a\",\"results\":[1,[2]]}}}",
        )
        .unwrap();
        let g = DiagStore::load(&dir);
        assert_eq!(g.get("x").unwrap().state, "None");
        assert!(g.get("x").unwrap().results.is_empty());
        std::fs::write(dir.join(FILE_NAME), b"[").unwrap();
        assert_eq!(DiagStore::load(&dir), DiagStore::default());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
