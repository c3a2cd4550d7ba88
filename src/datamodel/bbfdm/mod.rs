//! bbfdm backend: the [`DataModel`] over ubus calls to the IOPSYS `bbfdm` object, through
//! the daemon's one persistent ubus connection (a [`UbusHandle`]).
//!
//! Every request carries `optional: {proto: cwmp, format: raw}` and string values; per-row
//! faults become CWMP faults ([`reply::map_fault`]). Changes are atomic: the API generation
//! found at start ([`Api`]) decides how they are committed or dropped ([`commit`]). A call
//! that gets no answer within the timeout fails with 9002, so a stuck bbfdm never hangs a
//! session. Several paths or values of one RPC go in one call ([`batch`]).

mod batch;
mod commit;
pub mod fake;
pub mod reply;

#[cfg(test)]
mod tests;

use crate::datamodel::{ApplyStatus, DataModel, ParamInfo, ParamType, ParamValue, SetValue};
use crate::fault::Fault;
use crate::ubus::{status, UbusError, UbusHandle};
use reply::Row;
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The bbfdm object's path.
pub const OBJECT: &str = "bbfdm";
/// The commit/revert object of the current API.
pub const BBF_CONFIG: &str = "bbf.config";
/// Default timeout of one call (the C one waits 20 s; a session has its own limits).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How changes are made atomic, found from the object's signature at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// bbfdm 7.x: `transaction {cmd: start|commit|abort}` with a `transaction_id`.
    Transaction,
    /// Current bbfdm: changes staged per proto, applied with `bbf.config commit` or dropped
    /// with `revert`.
    BbfConfig,
    /// Current bbfdm without `bbf.config`: bbfdm commits by itself, nothing can be undone.
    Direct,
}

/// The bbfdm data model.
pub struct BbfdmDataModel {
    ubus: UbusHandle,
    timeout: Duration,
    api: Api,
    /// `cpe.instance_mode` is InstanceAlias.
    alias_mode: bool,
    /// 7.x: the open transaction.
    transaction_id: Option<i64>,
    /// Work left for the end of the session: 7.x services to `uci commit`, or current
    /// critical services to commit with `bbf.config`.
    deferred: Vec<String>,
}

impl BbfdmDataModel {
    /// Waits (up to `wait`, logging) until `bbfdm` is on the bus, then detects its API.
    ///
    /// # Errors
    /// bbfdm did not appear in time.
    pub fn connect(ubus: UbusHandle, wait: Duration) -> Result<BbfdmDataModel, String> {
        let end = Instant::now() + wait;
        let mut logged = false;
        loop {
            match ubus.lookup(OBJECT, Duration::from_secs(2)) {
                Ok(objs) if !objs.is_empty() => {
                    let api = if objs.iter().any(|o| o.has_method("transaction")) {
                        Api::Transaction
                    } else if ubus.lookup(BBF_CONFIG, Duration::from_secs(2)).is_ok() {
                        Api::BbfConfig
                    } else {
                        log::warn!("bbfdm: no bbf.config on the bus: changes cannot be reverted");
                        Api::Direct
                    };
                    log::info!("bbfdm data model on ubus ({api:?} API)");
                    return Ok(Self::new(ubus, api));
                }
                Ok(_) | Err(_) if Instant::now() >= end => {
                    return Err(format!(
                        "bbfdm did not appear on ubus within {} s",
                        wait.as_secs()
                    ));
                }
                r => {
                    if !logged {
                        let why = r.err().map_or("not registered".into(), |e| e.to_string());
                        log::info!("waiting for bbfdm on ubus ({why})");
                        logged = true;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
    }

    /// A backend for a known API generation.
    pub fn new(ubus: UbusHandle, api: Api) -> BbfdmDataModel {
        BbfdmDataModel {
            ubus,
            timeout: DEFAULT_TIMEOUT,
            api,
            alias_mode: false,
            transaction_id: None,
            deferred: Vec::new(),
        }
    }

    /// Sets the timeout of every call.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// InstanceAlias mode (`cpe.instance_mode`): new instances get an alias the ACS can use.
    pub fn set_alias_mode(&mut self, on: bool) {
        self.alias_mode = on;
    }

    /// The API generation in use.
    pub fn api(&self) -> Api {
        self.api
    }

    /// Calls `bbfdm.<method>` with `args` plus `optional`; returns the result rows.
    fn call(&self, method: &str, mut args: Map<String, Json>) -> Result<Vec<Row>, Fault> {
        let mut optional = json!({"proto": "cwmp", "format": "raw"});
        if let Some(id) = self.transaction_id {
            optional["transaction_id"] = json!(id);
        }
        args.insert("optional".into(), optional);
        let replies = self.raw_call(OBJECT, method, Json::Object(args))?;
        Ok(reply::rows(&replies))
    }

    /// One ubus call with the backend's timeout; any failure is 9002.
    fn raw_call(&self, object: &str, method: &str, args: Json) -> Result<Vec<Json>, Fault> {
        self.ubus
            .call(object, method, &args, self.timeout)
            .map_err(|e| {
                if e == UbusError::Timeout {
                    log::error!("{object} {method}: no answer within {:?}", self.timeout);
                } else if e == UbusError::Status(status::NOT_FOUND) {
                    log::error!("{object} is not on ubus");
                }
                reply::ubus_fault(method, &e)
            })
    }

    /// Replaces every `[alias]` instance segment by its instance number, looked up with a
    /// `get` of `<table>.*.Alias`. An unknown alias is 9005.
    fn resolve(&self, path: &str) -> Result<String, Fault> {
        let mut path = path.to_string();
        while let Some((table, alias, rest)) = reply::first_alias(&path) {
            let mut args = Map::new();
            args.insert("path".into(), json!(format!("{table}*.Alias")));
            let rows = self.call("get", args)?;
            let found = rows.iter().find(|r| r.fault.is_none() && r.data == alias);
            let Some(n) = found.and_then(|r| {
                r.path
                    .strip_prefix(table)
                    .and_then(|p| p.strip_suffix(".Alias"))
            }) else {
                return Err(Fault::invalid_name(&path));
            };
            path = format!("{table}{n}{rest}");
        }
        Ok(path)
    }

    /// InstanceAlias mode: writes `[alias]` in place of every instance number whose row has
    /// an Alias, in names the ACS gets back (the reference's rename of results).
    fn to_alias_form<'a>(&self, names: impl Iterator<Item = &'a mut String>) {
        let mut cache: HashMap<String, HashMap<String, String>> = HashMap::new();
        for name in names {
            let mut out = String::with_capacity(name.len());
            let mut prefix = String::new();
            for seg in name.split_inclusive('.') {
                let bare = seg.trim_end_matches('.');
                let numeric = !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit());
                if numeric && !prefix.is_empty() {
                    let aliases = cache
                        .entry(prefix.clone())
                        .or_insert_with(|| self.aliases(&prefix));
                    if let Some(a) = aliases.get(bare).filter(|a| !a.is_empty()) {
                        out.push('[');
                        out.push_str(a);
                        out.push(']');
                        out.push_str(&seg[bare.len()..]);
                        prefix.push_str(seg);
                        continue;
                    }
                }
                out.push_str(seg);
                prefix.push_str(seg);
            }
            *name = out;
        }
    }

    /// Instance number -> Alias of the rows of `table` (empty when it has no Alias column).
    fn aliases(&self, table: &str) -> HashMap<String, String> {
        let mut args = Map::new();
        args.insert("path".into(), json!(format!("{table}*.Alias")));
        let rows = self.call("get", args).unwrap_or_default();
        rows.into_iter()
            .filter(|r| r.fault.is_none())
            .filter_map(|r| {
                let n = r
                    .path
                    .strip_prefix(table)?
                    .strip_suffix(".Alias")?
                    .to_string();
                Some((n, r.data))
            })
            .collect()
    }

    /// A `get` reply of one (resolved) path as GPV values: its fault, 9005 for a parameter
    /// with no row, the rows otherwise (named by alias in InstanceAlias mode).
    fn values_of(&self, path: &str, rows: Vec<Row>) -> Result<Vec<ParamValue>, Fault> {
        if let Some(f) = reply::first_fault(&rows) {
            return Err(f);
        }
        if rows.is_empty() && !path.ends_with('.') {
            return Err(Fault::invalid_name(path));
        }
        let mut values: Vec<ParamValue> = rows
            .into_iter()
            .filter(|r| !r.path.is_empty() && !r.path.ends_with('.'))
            .map(|r| ParamValue {
                ty: ParamType::from_xsd(&r.ty).unwrap_or(ParamType::String),
                name: r.path,
                value: r.data,
            })
            .collect();
        if self.alias_mode {
            self.to_alias_form(values.iter_mut().map(|v| &mut v.name));
        }
        Ok(values)
    }

    fn one(&self, method: &str, path: &str) -> Result<Vec<Row>, Fault> {
        let rows = self.call(method, path_arg(path))?;
        match reply::first_fault(&rows) {
            Some(f) => Err(f),
            None => Ok(rows),
        }
    }

    fn set_one(&self, path: &str, value: &str) -> Result<(), Fault> {
        let mut args = Map::new();
        args.insert("path".into(), json!(path));
        args.insert("value".into(), json!(value));
        let rows = self.call("set", args)?;
        reply::first_fault(&rows).map_or(Ok(()), Err)
    }

    /// Runs `op` atomically: everything it changed is committed, or dropped on any fault.
    fn atomic<T>(
        &mut self,
        op: impl FnOnce(&Self) -> Result<T, Fault>,
    ) -> Result<(T, ApplyStatus), Fault> {
        self.begin()?;
        match op(self) {
            Ok(v) => Ok((v, self.commit()?)),
            Err(f) => {
                self.abort();
                Err(f)
            }
        }
    }
}

/// `{"path": path}`.
fn path_arg(path: &str) -> Map<String, Json> {
    let mut args = Map::new();
    args.insert("path".into(), json!(path));
    args
}

/// The root as bbfdm wants it.
fn root(path: &str) -> &str {
    if path.is_empty() {
        "Device."
    } else {
        path
    }
}

impl DataModel for BbfdmDataModel {
    fn is_bbfdm(&self) -> bool {
        true
    }

    fn batches_reads(&self) -> bool {
        true
    }

    fn get_values(&mut self, path: &str) -> Result<Vec<ParamValue>, Fault> {
        let path = self.resolve(root(path))?;
        let rows = self.call("get", path_arg(&path))?;
        self.values_of(&path, rows)
    }

    fn get_values_many(&mut self, paths: &[&str]) -> Vec<Result<Vec<ParamValue>, Fault>> {
        let resolved: Vec<Result<String, Fault>> =
            paths.iter().map(|p| self.resolve(root(p))).collect();
        let asked: Vec<String> = resolved.iter().filter_map(|r| r.clone().ok()).collect();
        let mut rows = match asked.is_empty() {
            true => Ok(Vec::new()),
            false => self.get_rows_many(&asked),
        }
        .map(Vec::into_iter);
        resolved
            .into_iter()
            .map(|r| {
                let path = r?;
                let mine = match &mut rows {
                    Ok(it) => it.next().unwrap_or_default(),
                    Err(f) => return Err(f.clone()),
                };
                self.values_of(&path, mine)
            })
            .collect()
    }

    fn get_names(&mut self, path: &str, next_level: bool) -> Result<Vec<ParamInfo>, Fault> {
        let path = self.resolve(root(path))?;
        let partial = path.ends_with('.');
        if next_level && !partial {
            self.get_names(&path, false)?;
            return Err(Fault::invalid_args(
                "NextLevel is true but ParameterPath is a parameter name",
            ));
        }
        let mut args = Map::new();
        args.insert("path".into(), json!(path));
        args.insert("first_level".into(), json!(next_level));
        let rows = self.call("schema", args)?;
        if let Some(f) = reply::first_fault(&rows) {
            return Err(f);
        }
        let mut out: Vec<ParamInfo> = rows
            .into_iter()
            .filter(|r| !r.path.is_empty())
            .filter(|r| !(next_level && r.path == path))
            .map(|r| ParamInfo {
                writable: r.data == "1",
                name: r.path,
            })
            .collect();
        if out.is_empty() && !partial {
            return Err(Fault::invalid_name(&path));
        }
        if !next_level && partial && !out.iter().any(|i| i.name == path) {
            // GPN lists the object itself first; bbfdm may leave it out.
            out.insert(
                0,
                ParamInfo {
                    name: path,
                    writable: false,
                },
            );
        }
        if self.alias_mode {
            self.to_alias_form(out.iter_mut().map(|i| &mut i.name));
        }
        Ok(out)
    }

    fn set_values(&mut self, values: &[SetValue]) -> Result<ApplyStatus, Fault> {
        let ((), status) = self.atomic(|dm| dm.set_values_batched(values))?;
        Ok(status)
    }

    fn add_object(&mut self, path: &str) -> Result<(u32, ApplyStatus), Fault> {
        let (table, alias) = reply::split_new_alias(path);
        let alias_mode = self.alias_mode;
        self.atomic(|dm| {
            let table = dm.resolve(&table)?;
            let rows = dm.one("add", &table)?;
            let n: u32 = rows
                .first()
                .and_then(|r| r.data.trim().parse().ok())
                .ok_or_else(|| Fault::internal("bbfdm add: no instance number in the reply"))?;
            let alias = alias.or_else(|| alias_mode.then(|| format!("cpe-{n}")));
            if let Some(alias) = alias {
                dm.set_one(&format!("{table}{n}.Alias"), &alias)?;
            }
            Ok(n)
        })
    }

    fn delete_object(&mut self, path: &str) -> Result<ApplyStatus, Fault> {
        let ((), status) = self.atomic(|dm| {
            let path = dm.resolve(path)?;
            if !path.ends_with('.') {
                return Err(Fault::invalid_name(&path));
            }
            dm.one("del", &path).map(|_| ())
        })?;
        Ok(status)
    }

    fn end_of_session(&mut self) {
        self.apply_deferred();
    }
}
