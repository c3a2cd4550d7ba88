//! Composing the Inform: DeviceId, events and the ParameterList (digest section 5.3).

use crate::datamodel::{DataModel, ParamValue};
use crate::events::PendingEvent;
use crate::soap::{DeviceId, Inform};

/// Parameters every Device:2 Inform carries (those the data model has).
pub const FORCED_INFORM: [&str; 7] = [
    "Device.RootDataModelVersion",
    "Device.DeviceInfo.HardwareVersion",
    "Device.DeviceInfo.SoftwareVersion",
    "Device.DeviceInfo.ProvisioningCode",
    "Device.ManagementServer.ParameterKey",
    "Device.ManagementServer.ConnectionRequestURL",
    "Device.ManagementServer.AliasBasedAddressing",
];

/// An InformParameter entry: a parameter (or partial path) to add when one of its events is
/// being delivered (empty list: every event but `4 VALUE CHANGE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InformParameter {
    /// Parameter name or partial path.
    pub name: String,
    /// Event codes (`2 PERIODIC`...) that trigger it.
    pub events: Vec<String>,
}

impl InformParameter {
    fn applies(&self, events: &[PendingEvent]) -> bool {
        if self.events.is_empty() {
            return events
                .iter()
                .any(|e| e.code != crate::events::EventCode::ValueChange);
        }
        events
            .iter()
            .any(|e| self.events.iter().any(|c| c.trim() == e.code.to_string()))
    }
}

/// Reads the DeviceId from the data model (empty strings where it has no value).
pub fn device_id(dm: &mut dyn DataModel) -> DeviceId {
    device_id_of(dm.get_values_many(&DEVICE_ID))
}

/// The parameters of the DeviceId, in [`DeviceId`]'s order.
const DEVICE_ID: [&str; 4] = [
    "Device.DeviceInfo.Manufacturer",
    "Device.DeviceInfo.ManufacturerOUI",
    "Device.DeviceInfo.ProductClass",
    "Device.DeviceInfo.SerialNumber",
];

/// The DeviceId from the values of [`DEVICE_ID`].
fn device_id_of(found: Vec<Result<Vec<ParamValue>, crate::fault::Fault>>) -> DeviceId {
    let mut values = found.into_iter().map(|r| {
        r.ok()
            .and_then(|v| v.into_iter().next())
            .map(|p| p.value)
            .unwrap_or_default()
    });
    let mut next = || values.next().unwrap_or_default();
    DeviceId {
        manufacturer: next(),
        oui: next(),
        product_class: next(),
        serial_number: next(),
    }
}

/// Reads the enabled rows of `Device.ManagementServer.InformParameter.{i}.` from the data model.
pub fn inform_parameter_table(dm: &mut dyn DataModel) -> Vec<InformParameter> {
    match dm.get_values(INFORM_PARAMETER_TABLE) {
        Ok(values) => table_rows(values),
        Err(_) => Vec::new(),
    }
}

/// The InformParameter table of the data model.
const INFORM_PARAMETER_TABLE: &str = "Device.ManagementServer.InformParameter.";

/// The enabled rows of the InformParameter table from its values.
fn table_rows(values: Vec<ParamValue>) -> Vec<InformParameter> {
    let mut rows: std::collections::BTreeMap<String, (bool, String, String)> = Default::default();
    for v in values {
        let Some(rest) = v
            .name
            .strip_prefix("Device.ManagementServer.InformParameter.")
        else {
            continue;
        };
        let Some((inst, leaf)) = rest.split_once('.') else {
            continue;
        };
        let row = rows.entry(inst.to_string()).or_default();
        match leaf {
            "Enable" => row.0 = v.value == "true" || v.value == "1",
            "ParameterName" => row.1 = v.value,
            "EventList" => row.2 = v.value,
            _ => {}
        }
    }
    rows.into_values()
        .filter(|(enabled, name, _)| *enabled && !name.is_empty())
        .map(|(_, name, events)| InformParameter {
            name,
            events: events
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        })
        .collect()
}

/// What an Inform is built from besides the data model: the `events` being delivered,
/// `extra_forced` names (`forced_inform_json`), the InformParameter entries, the `changed`
/// values (value-change notifications), the time and the retry count.
#[derive(Clone, Copy, Debug, Default)]
pub struct InformInput<'a> {
    /// The events the Inform delivers.
    pub events: &'a [PendingEvent],
    /// Names forced in besides [`FORCED_INFORM`].
    pub extra_forced: &'a [String],
    /// InformParameter entries (added when one of their events is delivered).
    pub inform_params: &'a [InformParameter],
    /// Changed values to report.
    pub changed: &'a [ParamValue],
    /// CurrentTime (Unix seconds).
    pub now: i64,
    /// RetryCount.
    pub retry_count: u32,
}

/// Builds the Inform for `input`: the forced parameters, the extra forced names, the
/// InformParameter entries that apply, and the changed values. Names are never listed twice;
/// unknown ones are skipped.
pub fn build(dm: &mut dyn DataModel, input: &InformInput<'_>) -> Inform {
    build_from(dm, input, false)
}

/// [`build`] with the data model's InformParameter table ([`inform_parameter_table`]) added
/// to `input.inform_params`, read in the same data-model request as the values (a second one
/// only for table entries that apply).
pub fn build_with_table(dm: &mut dyn DataModel, input: &InformInput<'_>) -> Inform {
    build_from(dm, input, true)
}

fn build_from(dm: &mut dyn DataModel, input: &InformInput<'_>, read_table: bool) -> Inform {
    let InformInput {
        events,
        extra_forced,
        inform_params,
        changed,
        now,
        retry_count,
    } = *input;
    let mut params: Vec<ParamValue> = Vec::new();
    let push = |params: &mut Vec<ParamValue>, v: ParamValue| {
        if !params.iter().any(|p| p.name == v.name) {
            params.push(v);
        }
    };
    let names: Vec<&str> = FORCED_INFORM
        .iter()
        .copied()
        .chain(extra_forced.iter().map(String::as_str))
        .chain(
            inform_params
                .iter()
                .filter(|p| p.applies(events))
                .map(|p| p.name.as_str()),
        )
        .collect();
    // The parameters, the DeviceId (and the table) in one data-model request (one bbfdm call).
    let table = read_table.then_some(INFORM_PARAMETER_TABLE);
    let asked: Vec<&str> = names
        .iter()
        .copied()
        .chain(DEVICE_ID)
        .chain(table)
        .collect();
    let mut found = dm.get_values_many(&asked);
    let table = match read_table {
        true => found.pop().and_then(Result::ok).map(table_rows),
        false => None,
    };
    let id = found.split_off(names.len().min(found.len()));
    let mut names: Vec<String> = names.into_iter().map(String::from).collect();
    let from_table: Vec<String> = table
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.applies(events) && !names.contains(&p.name))
        .map(|p| p.name)
        .collect();
    if !from_table.is_empty() {
        let more: Vec<&str> = from_table.iter().map(String::as_str).collect();
        found.extend(dm.get_values_many(&more));
        names.extend(from_table);
    }
    for (name, r) in names.iter().zip(found) {
        match r {
            Ok(values) => values.into_iter().for_each(|v| push(&mut params, v)),
            Err(f) => log::debug!("inform parameter {name} skipped: {f}"),
        }
    }
    for v in changed {
        push(&mut params, v.clone());
    }
    Inform {
        device_id: device_id_of(id),
        events: events.iter().map(PendingEvent::to_struct).collect(),
        current_time: now,
        retry_count,
        parameters: params,
    }
}

/// Parses `cpe.forced_inform_json`: either a path to a JSON file or inline JSON, of the form
/// `{"forced_inform": ["Device.DeviceInfo.UpTime", ...]}`. Problems are logged and give `[]`.
pub fn parse_forced_inform_json(setting: &str) -> Vec<String> {
    let setting = setting.trim();
    if setting.is_empty() {
        return Vec::new();
    }
    let text = if setting.starts_with('{') {
        setting.to_string()
    } else {
        match std::fs::read_to_string(setting) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("forced_inform_json {setting}: {e}");
                return Vec::new();
            }
        }
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => v["forced_inform"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str())
            .filter(|s| !s.ends_with('.'))
            .map(String::from)
            .collect(),
        Err(e) => {
            log::warn!("forced_inform_json {setting}: invalid JSON: {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventCode;

    fn ev(code: EventCode) -> PendingEvent {
        PendingEvent {
            code,
            command_key: String::new(),
        }
    }

    /// An Inform delivering `events` and nothing else asked.
    fn only(events: &[PendingEvent]) -> InformInput<'_> {
        InformInput {
            events,
            ..InformInput::default()
        }
    }

    #[test]
    fn the_inform_parameter_table_is_read_with_the_values() {
        use crate::datamodel::embedded::EmbeddedDataModel;
        use crate::datamodel::{MemConfigStore, SetValue};
        let dir = std::env::temp_dir().join(format!("icwmp-inform-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut dm = EmbeddedDataModel::new(&dir, Box::new(MemConfigStore::default()));
        dm.add_object("Device.ManagementServer.InformParameter.")
            .unwrap();
        let set = |n: &str, v: &str| SetValue {
            name: format!("Device.ManagementServer.InformParameter.1.{n}"),
            value: v.into(),
            type_hint: None,
        };
        dm.set_values(&[
            set("Enable", "1"),
            set("ParameterName", "Device.DeviceInfo.UpTime"),
            set("EventList", "1 BOOT"),
        ])
        .unwrap();
        let has_uptime = |i: &Inform| {
            i.parameters
                .iter()
                .any(|p| p.name == "Device.DeviceInfo.UpTime")
        };
        let boot = [ev(EventCode::Boot)];
        let with = build_with_table(&mut dm, &only(&boot));
        assert!(has_uptime(&with), "{:?}", with.parameters);
        assert_eq!(
            with.parameters.last().map(|p| p.name.as_str()),
            Some("Device.DeviceInfo.UpTime"),
            "table entries come after the forced ones"
        );
        assert!(!has_uptime(&build(&mut dm, &only(&boot))));
        let periodic = [ev(EventCode::Periodic)];
        let other = build_with_table(&mut dm, &only(&periodic));
        assert!(!has_uptime(&other), "the entry's events only");
        assert_eq!(
            with.parameters.len(),
            other.parameters.len() + 1,
            "the same forced parameters"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn inform_parameter_event_matching() {
        let any = InformParameter {
            name: "x".into(),
            events: vec![],
        };
        assert!(any.applies(&[ev(EventCode::Periodic)]));
        assert!(!any.applies(&[ev(EventCode::ValueChange)]));
        let periodic = InformParameter {
            name: "x".into(),
            events: vec!["2 PERIODIC".into()],
        };
        assert!(periodic.applies(&[ev(EventCode::Boot), ev(EventCode::Periodic)]));
        assert!(!periodic.applies(&[ev(EventCode::Boot)]));
    }

    #[test]
    fn forced_inform_json_inline_and_bad() {
        assert_eq!(
            parse_forced_inform_json(
                r#"{"forced_inform":["Device.DeviceInfo.UpTime","Device.X."]}"#
            ),
            ["Device.DeviceInfo.UpTime"]
        );
        assert!(parse_forced_inform_json("{nope").is_empty());
        assert!(parse_forced_inform_json("/nonexistent/file.json").is_empty());
    }
}
