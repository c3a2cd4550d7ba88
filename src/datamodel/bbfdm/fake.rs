//! A fake `bbfdm` (and `bbf.config`, `uci`) for tests: the reply shapes of the README's
//! section 3 over a small in-memory data model with staged changes, for either API
//! generation. Like bbfdm, `get` takes a list of `paths` and `set` an `obj_path` table. Register [`FakeBbfdm::objects`] on a test broker with a `UbusThread`.
//!
//! Not used by the daemon; dead code in the binary is dropped by the linker.

use super::Api;
use crate::ubus::{status, BlobmsgType as T, UbusMethod, UbusObject};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One parameter: value, `xsd:` type, writable.
pub type Param = (String, String, bool);

/// The fake's state; tests read and change it through [`FakeBbfdm::state`].
#[derive(Default)]
pub struct FakeState {
    /// What reads see (staged changes included, as bbfdm does for its proto).
    pub params: BTreeMap<String, Param>,
    /// What was last committed.
    pub committed: BTreeMap<String, Param>,
    /// Writable tables (`Device.Users.User.`) and the columns a new row gets.
    pub tables: BTreeMap<String, Vec<(String, String)>>,
    /// Configs whose services are critical (`bbf.config changes`).
    pub critical: BTreeSet<String>,
    /// Every call: (`object.method`, arguments).
    pub calls: Vec<(String, Json)>,
    /// Sleep this long before answering any bbfdm call (a stuck bbfdm).
    pub hang: Option<Duration>,
    /// The open 7.x transaction.
    pub transaction: Option<i64>,
}

/// The uci config a path belongs to (`Device.Users.User.1.Enable` -> `users`).
fn config_of(path: &str) -> String {
    path.split('.').nth(1).unwrap_or("").to_ascii_lowercase()
}

impl FakeState {
    fn dirty(&self) -> BTreeSet<String> {
        let keys: BTreeSet<&String> = self.params.keys().chain(self.committed.keys()).collect();
        keys.into_iter()
            .filter(|k| self.params.get(*k) != self.committed.get(*k))
            .map(|k| config_of(k))
            .collect()
    }

    /// Copies `from` to `to` for the paths of `configs` (all when empty).
    fn sync(&mut self, configs: &[String], commit: bool) {
        let keys: BTreeSet<String> = self
            .params
            .keys()
            .chain(self.committed.keys())
            .cloned()
            .collect();
        for k in keys {
            if !configs.is_empty() && !configs.contains(&config_of(&k)) {
                continue;
            }
            let (from, to) = if commit {
                (&self.params, &mut self.committed)
            } else {
                (&self.committed, &mut self.params)
            };
            match from.get(&k).cloned() {
                Some(v) => to.insert(k, v),
                None => to.remove(&k),
            };
        }
    }

    fn matching(&self, path: &str) -> Vec<(&String, &Param)> {
        let pat: Vec<&str> = path.split('.').collect();
        self.params
            .iter()
            .filter(|(k, _)| {
                if !path.contains('*') {
                    return if path.ends_with('.') {
                        k.starts_with(path)
                    } else {
                        *k == path
                    };
                }
                let segs: Vec<&str> = k.split('.').collect();
                let partial = path.ends_with('.');
                let n = if partial { pat.len() - 1 } else { pat.len() };
                (if partial {
                    segs.len() > n
                } else {
                    segs.len() == n
                }) && pat[..n].iter().zip(&segs).all(|(p, s)| *p == "*" || p == s)
            })
            .collect()
    }

    /// Every object path (ending with `.`) below the root.
    fn objects(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for k in self.params.keys() {
            let mut end = 0;
            while let Some(i) = k[end..].find('.') {
                end += i + 1;
                out.insert(k[..end].to_string());
            }
        }
        out.extend(self.tables.keys().cloned());
        out
    }

    fn object_writable(&self, obj: &str) -> bool {
        if self.tables.contains_key(obj) {
            return true;
        }
        let trimmed = obj.trim_end_matches('.');
        trimmed.rsplit_once('.').is_some_and(|(t, n)| {
            n.parse::<u32>().is_ok() && self.tables.contains_key(&format!("{t}."))
        })
    }
}

impl FakeState {
    /// The rows of one `get` path, or its fault row.
    fn get(&self, path: &str) -> Vec<Json> {
        let rows: Vec<Json> = self
            .matching(path)
            .into_iter()
            .map(|(k, (v, t, _))| json!({"path": k, "data": v, "type": t}))
            .collect();
        if rows.is_empty() && !self.objects().contains(path) {
            return vec![fault(path, 9005, "Invalid parameter name")];
        }
        rows
    }

    /// `set {path, value}` and/or `set {path: "Obj.", obj_path: {"Name": value...}}` as
    /// bbfdm's set.c: every name is resolved first (one that does not resolve fails the whole
    /// request under `path`, nothing set), then each is set with a row of its own.
    fn set(
        &mut self,
        path: &str,
        value: Option<&Json>,
        obj_path: Option<&Json>,
    ) -> (u32, Option<Json>) {
        let mut pairs = Vec::new();
        match (value, obj_path) {
            (Some(Json::String(v)), _) if !path.ends_with('.') => {
                pairs.push((path.to_string(), v.clone()))
            }
            (Some(Json::String(_)), _) => {
                return results(vec![fault(path, 9005, "Invalid parameter name")])
            }
            (Some(_), _) | (None, None) => return (status::INVALID_ARGUMENT, None),
            _ => {}
        }
        if let Some(table) = obj_path {
            let Some(table) = table.as_object() else {
                return (status::INVALID_ARGUMENT, None);
            };
            for (name, v) in table {
                let Some(v) = v.as_str() else {
                    return results(vec![fault(path, 9003, "Invalid arguments")]);
                };
                pairs.push((format!("{path}{name}"), v.to_string()));
            }
        }
        if pairs.iter().any(|(p, _)| !self.params.contains_key(p)) {
            return results(vec![fault(path, 9005, "Invalid parameter name")]);
        }
        let rows = pairs
            .into_iter()
            .map(|(p, value)| match self.params.get_mut(&p) {
                None => fault(&p, 9005, "Invalid parameter name"),
                Some((_, _, false)) => fault(&p, 9008, "Attempt to set a non-writable parameter"),
                Some((_, t, _)) if !check_value(t, &value) => {
                    fault(&p, 9007, &format!("'{value}' is not a valid {t}"))
                }
                Some((v, _, _)) => {
                    *v = value;
                    json!({"path": p, "data": "1"})
                }
            })
            .collect();
        results(rows)
    }
}

/// The paths of a request: `path`, then each of `paths` (`None` when there is none, or one
/// is not a string: bbfdm then answers INVALID_ARGUMENT).
fn path_list(args: &Json) -> Option<Vec<String>> {
    let mut out = Vec::new();
    match args.get("path") {
        Some(Json::String(p)) => out.push(p.clone()),
        Some(_) => return None,
        None => {}
    }
    if let Some(paths) = args.get("paths") {
        for p in paths.as_array()? {
            out.push(p.as_str()?.to_string());
        }
    }
    (!out.is_empty()).then_some(out)
}

fn fault(path: &str, code: u32, msg: &str) -> Json {
    json!({"path": path, "fault": code, "fault_msg": msg})
}

fn results(rows: Vec<Json>) -> (u32, Option<Json>) {
    (0, Some(json!({"results": rows})))
}

fn check_value(ty: &str, v: &str) -> bool {
    match ty {
        "xsd:unsignedInt" => v.parse::<u32>().is_ok(),
        "xsd:int" => v.parse::<i32>().is_ok(),
        "xsd:boolean" => matches!(v, "0" | "1" | "true" | "false"),
        _ => true,
    }
}

/// The fake; cheap to clone (shared state).
#[derive(Clone)]
pub struct FakeBbfdm {
    state: Arc<Mutex<FakeState>>,
    api: Api,
}

impl FakeBbfdm {
    /// A fake of the `api` generation holding a small Device:2 model (DeviceInfo,
    /// ManagementServer, a `Users.User.` table with one row aliased `admin`).
    pub fn new(api: Api) -> FakeBbfdm {
        let mut st = FakeState::default();
        let mut p = |k: &str, v: &str, t: &str, w: bool| {
            st.params.insert(k.into(), (v.into(), t.into(), w));
        };
        p("Device.RootDataModelVersion", "2.17", "xsd:string", false);
        p(
            "Device.DeviceInfo.Manufacturer",
            "IOPSYS",
            "xsd:string",
            false,
        );
        p(
            "Device.DeviceInfo.ManufacturerOUI",
            "002207",
            "xsd:string",
            false,
        );
        p(
            "Device.DeviceInfo.ProductClass",
            "FAKE",
            "xsd:string",
            false,
        );
        p(
            "Device.DeviceInfo.SerialNumber",
            "SN-BBF-1",
            "xsd:string",
            false,
        );
        p(
            "Device.DeviceInfo.SoftwareVersion",
            "7.3",
            "xsd:string",
            false,
        );
        p("Device.DeviceInfo.UpTime", "120", "xsd:unsignedInt", false);
        p(
            "Device.ManagementServer.PeriodicInformEnable",
            "1",
            "xsd:boolean",
            true,
        );
        p(
            "Device.ManagementServer.PeriodicInformInterval",
            "600",
            "xsd:unsignedInt",
            true,
        );
        p("Device.Users.User.1.Alias", "admin", "xsd:string", true);
        p("Device.Users.User.1.Username", "root", "xsd:string", true);
        p("Device.Users.User.1.Enable", "1", "xsd:boolean", true);
        st.tables.insert(
            "Device.Users.User.".into(),
            vec![
                ("Alias".into(), "xsd:string".into()),
                ("Username".into(), "xsd:string".into()),
                ("Enable".into(), "xsd:boolean".into()),
            ],
        );
        st.committed = st.params.clone();
        FakeBbfdm {
            state: Arc::new(Mutex::new(st)),
            api,
        }
    }

    /// The shared state (poisoning ignored: tests only).
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The calls made so far to `object.method`.
    pub fn calls_to(&self, name: &str) -> Vec<Json> {
        let st = self.state();
        st.calls
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// `bbfdm`, plus `bbf.config` (current API) and `uci`.
    pub fn objects(&self) -> Vec<UbusObject> {
        let mut methods = vec![
            UbusMethod::new(
                "get",
                &[
                    ("path", T::String),
                    ("paths", T::Array),
                    ("optional", T::Table),
                ],
            ),
            UbusMethod::new(
                "schema",
                &[
                    ("path", T::String),
                    ("first_level", T::Int8),
                    ("optional", T::Table),
                ],
            ),
            UbusMethod::new(
                "instances",
                &[
                    ("path", T::String),
                    ("first_level", T::Int8),
                    ("optional", T::Table),
                ],
            ),
            UbusMethod::new(
                "set",
                &[
                    ("path", T::String),
                    ("value", T::String),
                    ("obj_path", T::Table),
                    ("optional", T::Table),
                ],
            ),
            UbusMethod::new("add", &[("path", T::String), ("optional", T::Table)]),
            UbusMethod::new("del", &[("path", T::String), ("optional", T::Table)]),
            UbusMethod::new(
                "operate",
                &[
                    ("command", T::String),
                    ("command_key", T::String),
                    ("input", T::Table),
                    ("optional", T::Table),
                ],
            ),
        ];
        if self.api == Api::Transaction {
            methods.push(UbusMethod::new(
                "transaction",
                &[
                    ("cmd", T::String),
                    ("restart_services", T::Int8),
                    ("optional", T::Table),
                ],
            ));
        }
        let me = self.clone();
        let mut objs = vec![UbusObject::new(super::OBJECT, methods, move |m, a| {
            me.bbfdm(m, a)
        })];
        if self.api == Api::BbfConfig {
            let me = self.clone();
            let cfg = ["commit", "revert", "changes"]
                .iter()
                .map(|m| UbusMethod::new(m, &[("services", T::Array), ("proto", T::String)]))
                .collect();
            objs.push(UbusObject::new(super::BBF_CONFIG, cfg, move |m, a| {
                me.bbf_config(m, a)
            }));
        }
        let me = self.clone();
        let uci = vec![UbusMethod::new("commit", &[("config", T::String)])];
        objs.push(UbusObject::new("uci", uci, move |m, a| {
            me.state().calls.push((format!("uci.{m}"), a));
            (0, None)
        }));
        objs
    }

    fn bbf_config(&self, method: &str, args: Json) -> (u32, Option<Json>) {
        let mut st = self.state();
        st.calls
            .push((format!("bbf.config.{method}"), args.clone()));
        if args.get("proto").and_then(Json::as_str) != Some("cwmp") {
            return (status::INVALID_ARGUMENT, None);
        }
        let services: Vec<String> = args
            .get("services")
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        match method {
            "commit" | "revert" => {
                st.sync(&services, method == "commit");
                (0, Some(json!({"status": "ok"})))
            }
            _ => {
                let dirty = st.dirty();
                let critical: Vec<&String> =
                    dirty.iter().filter(|c| st.critical.contains(*c)).collect();
                (
                    0,
                    Some(json!({"configs": dirty, "critical_services": critical})),
                )
            }
        }
    }

    fn bbfdm(&self, method: &str, args: Json) -> (u32, Option<Json>) {
        let hang = {
            let mut st = self.state();
            st.calls.push((format!("bbfdm.{method}"), args.clone()));
            st.hang
        };
        if let Some(d) = hang {
            std::thread::sleep(d);
        }
        let mut st = self.state();
        let opt = args.get("optional").cloned().unwrap_or(Json::Null);
        if method == "transaction" {
            return self.transaction(&mut st, &args);
        }
        // Without proto cwmp and raw format the replies would be USP-coded and nested.
        if opt.get("proto").and_then(Json::as_str) != Some("cwmp")
            || (method != "instances" && opt.get("format").and_then(Json::as_str) != Some("raw"))
        {
            return (status::INVALID_ARGUMENT, None);
        }
        let writes = matches!(method, "set" | "add" | "del");
        if writes && self.api == Api::Transaction {
            let tid = opt.get("transaction_id").and_then(Json::as_i64);
            if tid.is_none() || tid != st.transaction {
                return results(vec![fault("", 9002, "transaction not started")]);
            }
        }
        if method == "get" {
            // `path` and/or `paths`: the rows of each in turn, a fault row for one that fails.
            let Some(paths) = path_list(&args) else {
                return (status::INVALID_ARGUMENT, None);
            };
            return results(paths.iter().flat_map(|p| st.get(p)).collect());
        }
        let path = match (method, args.get("path")) {
            ("operate", _) => String::new(),
            (_, Some(Json::String(p))) => p.clone(),
            _ => return (status::INVALID_ARGUMENT, None),
        };
        match method {
            "schema" => {
                let first = args
                    .get("first_level")
                    .and_then(Json::as_bool)
                    .unwrap_or(false);
                if !st.params.contains_key(&path) && !st.objects().contains(&path) {
                    return results(vec![fault(&path, 9005, "Invalid parameter name")]);
                }
                let depth = path.matches('.').count();
                let mut rows = Vec::new();
                for o in st
                    .objects()
                    .iter()
                    .filter(|o| o.starts_with(&path) && **o != path)
                {
                    if !first || o.matches('.').count() == depth + 1 {
                        let w = if st.object_writable(o) { "1" } else { "0" };
                        rows.push(json!({"path": o, "data": w, "type": "xsd:object"}));
                    }
                }
                for (k, (_, t, w)) in st.params.iter().filter(|(k, _)| k.starts_with(&path)) {
                    if !first || k.matches('.').count() == depth {
                        rows.push(
                            json!({"path": k, "data": if *w { "1" } else { "0" }, "type": t}),
                        );
                    }
                }
                results(rows)
            }
            "instances" => {
                let rows = st
                    .objects()
                    .into_iter()
                    .filter(|o| {
                        o.starts_with(&path) && st.object_writable(o) && !st.tables.contains_key(o)
                    })
                    .map(|o| json!({"path": o.trim_end_matches('.')}))
                    .collect();
                results(rows)
            }
            "set" => st.set(&path, args.get("value"), args.get("obj_path")),
            "add" => {
                let Some(cols) = st.tables.get(&path).cloned() else {
                    return results(vec![fault(&path, 9005, "Invalid parameter name")]);
                };
                let n = (1..)
                    .find(|n| {
                        !st.params
                            .keys()
                            .any(|k| k.starts_with(&format!("{path}{n}.")))
                    })
                    .unwrap_or(1);
                for (c, t) in cols {
                    let v = if t == "xsd:boolean" { "0" } else { "" };
                    st.params
                        .insert(format!("{path}{n}.{c}"), (v.into(), t, true));
                }
                results(vec![json!({"path": path, "data": n.to_string()})])
            }
            "del" => {
                let rows: Vec<String> = st
                    .matching(&path)
                    .into_iter()
                    .map(|(k, _)| k.clone())
                    .collect();
                if rows.is_empty() || !st.object_writable(&path) {
                    return results(vec![fault(&path, 9005, "Invalid parameter name")]);
                }
                for k in rows {
                    st.params.remove(&k);
                }
                results(vec![json!({"path": path, "data": "1"})])
            }
            _ => {
                let cmd = args.get("command").and_then(Json::as_str).unwrap_or("");
                let key = args.get("command_key").and_then(Json::as_str).unwrap_or("");
                // Diagnostics commands run and keep their results (src/diag/bbfdm.rs).
                let output = crate::diag::bbfdm::fake_operate(&mut st.params, cmd, &args["input"]);
                results(vec![json!({"path": cmd, "data": key, "output": output})])
            }
        }
    }

    fn transaction(&self, st: &mut FakeState, args: &Json) -> (u32, Option<Json>) {
        let tid = args
            .pointer("/optional/transaction_id")
            .and_then(Json::as_i64);
        match args.get("cmd").and_then(Json::as_str) {
            Some("start") if st.transaction.is_none() => {
                st.transaction = Some(1243454652);
                (
                    0,
                    Some(json!({"status": true, "transaction_id": 1243454652})),
                )
            }
            Some("commit") if tid.is_some() && tid == st.transaction => {
                let updated: Vec<String> = st.dirty().into_iter().collect();
                st.sync(&[], true);
                st.transaction = None;
                (
                    0,
                    Some(json!({"status": true, "updated_services": updated})),
                )
            }
            Some("abort") if tid.is_some() && tid == st.transaction => {
                st.sync(&[], false);
                st.transaction = None;
                (0, Some(json!({"status": true})))
            }
            Some(_) => (0, Some(json!({"status": false}))),
            None => (status::INVALID_ARGUMENT, None),
        }
    }
}
