//! A small in-memory [`DataModel`] for the RPC and notification tests.

use crate::datamodel::{
    ActiveNotify, ApplyStatus, DataModel, ParamInfo, ParamType, ParamValue, SetValue,
};
use crate::fault::{Fault, FaultCode, ParamFault};
use std::collections::{BTreeMap, BTreeSet};

/// One parameter: value, type, writable.
type Param = (String, ParamType, bool);

/// A BTreeMap data model: a few DeviceInfo/ManagementServer parameters, two tables.
/// Like bbfdm, `get_values` expands `*` whatever `InstanceWildcardsSupported` says, so the
/// RPC layer's own check is what the tests see.
pub(crate) struct FakeDm {
    pub params: BTreeMap<String, Param>,
    /// Tables that allow AddObject, with the leaf parameters of a new instance.
    pub tables: BTreeMap<String, Vec<(&'static str, ParamType, bool)>>,
    pub policies: BTreeMap<String, ActiveNotify>,
    /// What set/add/delete report.
    pub status: ApplyStatus,
    /// Number of successful set_values calls.
    pub sets: usize,
    /// Say that reads are batched (as bbfdm does): the RPCs then ask every path at once.
    pub batch: bool,
}

fn segs(p: &str) -> Vec<&str> {
    p.split('.').filter(|s| !s.is_empty()).collect()
}

/// `pattern` (with `*` segments) matches `name`, as a prefix when `prefix`.
fn matches(pattern: &str, name: &str, prefix: bool) -> bool {
    let p = segs(pattern);
    let n = segs(name);
    let len_ok = if prefix {
        p.len() <= n.len()
    } else {
        p.len() == n.len()
    };
    len_ok && p.iter().zip(&n).all(|(a, b)| a == b || *a == "*")
}

impl FakeDm {
    pub fn new() -> FakeDm {
        use ParamType::*;
        let mut dm = FakeDm {
            params: BTreeMap::new(),
            tables: BTreeMap::new(),
            policies: BTreeMap::new(),
            status: ApplyStatus::Applied,
            sets: 0,
            batch: false,
        };
        for (name, value, ty, w) in [
            ("Device.DeviceInfo.Manufacturer", "Acme", String, false),
            ("Device.DeviceInfo.SoftwareVersion", "1.0", String, false),
            ("Device.DeviceInfo.HardwareVersion", "hw1", String, false),
            ("Device.DeviceInfo.ProvisioningCode", "", String, true),
            ("Device.DeviceInfo.UpTime", "100", UnsignedInt, false),
            ("Device.ManagementServer.URL", "http://acs", String, true),
            (
                "Device.ManagementServer.PeriodicInformInterval",
                "60",
                UnsignedInt,
                true,
            ),
            ("Device.ManagementServer.ParameterKey", "", String, false),
            (
                "Device.ManagementServer.InstanceWildcardsSupported",
                "false",
                Boolean,
                false,
            ),
            (
                "Device.ManagementServer.InformParameter.1.Enable",
                "true",
                Boolean,
                true,
            ),
            (
                "Device.ManagementServer.InformParameter.1.ParameterName",
                "",
                String,
                true,
            ),
            ("Device.Time.Enable", "true", Boolean, true),
            ("Device.Hosts.Host.1.IPAddress", "10.0.0.1", String, false),
            ("Device.Hosts.Host.1.Active", "true", Boolean, true),
            ("Device.Hosts.Host.2.IPAddress", "10.0.0.2", String, false),
            ("Device.Hosts.Host.2.Active", "false", Boolean, true),
        ] {
            dm.params.insert(name.into(), (value.into(), ty, w));
        }
        dm.tables.insert(
            "Device.Hosts.Host.".into(),
            vec![("IPAddress", String, false), ("Active", Boolean, true)],
        );
        dm.tables.insert(
            "Device.ManagementServer.InformParameter.".into(),
            vec![("Enable", Boolean, true), ("ParameterName", String, true)],
        );
        dm.policies
            .insert("Device.DeviceInfo.UpTime".into(), ActiveNotify::CanDeny);
        dm.policies.insert(
            "Device.DeviceInfo.HardwareVersion".into(),
            ActiveNotify::ForceEnabled,
        );
        dm
    }

    /// Turns instance wildcards on (`InstanceWildcardsSupported = true`).
    pub fn with_wildcards(mut self) -> FakeDm {
        if let Some(p) = self
            .params
            .get_mut("Device.ManagementServer.InstanceWildcardsSupported")
        {
            p.0 = "true".into();
        }
        self
    }

    /// The current value of a parameter.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(|p| p.0.as_str())
    }

    /// Every object path (ending with `.`) and parameter name, with its writable flag.
    fn nodes(&self) -> BTreeMap<String, bool> {
        let mut out = BTreeMap::new();
        let mut objects = BTreeSet::new();
        let names = self.params.keys().map(String::as_str);
        for name in names.chain(self.tables.keys().map(String::as_str)) {
            let s = segs(name);
            for i in 1..s.len() {
                objects.insert(format!("{}.", s[..i].join(".")));
            }
        }
        objects.extend(self.tables.keys().cloned());
        for o in objects {
            let s = segs(&o);
            let parent = format!("{}.", s[..s.len() - 1].join("."));
            let w = self.tables.contains_key(&o) || self.tables.contains_key(&parent);
            out.insert(o, w);
        }
        for (n, p) in &self.params {
            out.insert(n.clone(), p.2);
        }
        out
    }
}

impl DataModel for FakeDm {
    fn batches_reads(&self) -> bool {
        self.batch
    }

    fn get_values(&mut self, path: &str) -> Result<Vec<ParamValue>, Fault> {
        let partial = path.is_empty() || path.ends_with('.');
        let found: Vec<ParamValue> = self
            .params
            .iter()
            .filter(|(n, _)| matches(path, n, partial))
            .map(|(n, p)| ParamValue {
                name: n.clone(),
                value: p.0.clone(),
                ty: p.1,
            })
            .collect();
        let known = !found.is_empty() || self.nodes().keys().any(|n| matches(path, n, false));
        if known {
            Ok(found)
        } else {
            Err(Fault::invalid_name(path))
        }
    }

    fn get_names(&mut self, path: &str, next_level: bool) -> Result<Vec<ParamInfo>, Fault> {
        let nodes = self.nodes();
        let info = |(n, w): (&String, &bool)| ParamInfo {
            name: n.clone(),
            writable: *w,
        };
        if path.is_empty() && next_level {
            return Ok(vec![ParamInfo {
                name: "Device.".into(),
                writable: false,
            }]);
        }
        if !path.is_empty() && !nodes.contains_key(path) {
            return Err(Fault::invalid_name(path));
        }
        if !path.is_empty() && !path.ends_with('.') {
            if next_level {
                return Err(Fault::invalid_args("NextLevel on a parameter"));
            }
            return Ok(vec![ParamInfo {
                name: path.into(),
                writable: nodes[path],
            }]);
        }
        let depth = segs(path).len();
        Ok(nodes
            .iter()
            .filter(|(n, _)| n.starts_with(path))
            .filter(|(n, _)| !next_level || segs(n).len() == depth + 1)
            .map(info)
            .collect())
    }

    fn set_values(&mut self, values: &[SetValue]) -> Result<ApplyStatus, Fault> {
        let mut faults = Vec::new();
        let mut checked = Vec::new();
        for v in values {
            let fault = |code: FaultCode| ParamFault {
                name: v.name.clone(),
                code,
                message: code.default_string().into(),
            };
            match self.params.get(&v.name) {
                None => faults.push(fault(FaultCode::INVALID_PARAMETER_NAME)),
                Some((_, _, false)) => faults.push(fault(FaultCode::NON_WRITABLE_PARAMETER)),
                Some((_, ty, true)) => match ty.check_value(&v.value) {
                    Ok(val) => checked.push((v.name.clone(), val)),
                    Err(_) => faults.push(fault(FaultCode::INVALID_PARAMETER_VALUE)),
                },
            }
        }
        if !faults.is_empty() {
            return Err(Fault::set_values(faults));
        }
        for (n, val) in checked {
            if let Some(p) = self.params.get_mut(&n) {
                p.0 = val;
            }
        }
        self.sets += 1;
        Ok(self.status)
    }

    fn add_object(&mut self, path: &str) -> Result<(u32, ApplyStatus), Fault> {
        let Some(leaves) = self.tables.get(path).cloned() else {
            return Err(Fault::invalid_name(path));
        };
        let used: BTreeSet<u32> = self
            .params
            .keys()
            .filter_map(|n| n.strip_prefix(path))
            .filter_map(|rest| rest.split('.').next()?.parse().ok())
            .collect();
        let n = used.last().map_or(1, |m| m + 1);
        for (leaf, ty, w) in leaves {
            let default = if ty == ParamType::Boolean {
                "false"
            } else {
                ""
            };
            self.params
                .insert(format!("{path}{n}.{leaf}"), (default.into(), ty, w));
        }
        Ok((n, self.status))
    }

    fn delete_object(&mut self, path: &str) -> Result<ApplyStatus, Fault> {
        let s = segs(path);
        let parent = format!("{}.", s[..s.len().saturating_sub(1)].join("."));
        let exists = self.params.keys().any(|n| n.starts_with(path));
        if !path.ends_with('.') || !self.tables.contains_key(&parent) || !exists {
            return Err(Fault::invalid_name(path));
        }
        self.params.retain(|n, _| !n.starts_with(path));
        Ok(self.status)
    }

    fn active_notify(&mut self, name: &str) -> ActiveNotify {
        self.policies.get(name).copied().unwrap_or_default()
    }
}
