//! bbfdm replies (`{"results":[{path, data, type, fault, fault_msg}...]}`) and their faults,
//! pure.

use crate::fault::{Fault, FaultCode};
use crate::ubus::UbusError;
use serde_json::Value as Json;

/// One row of a `results` array.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    /// `path`.
    pub path: String,
    /// `data` (value, writable flag, new instance number... depending on the method).
    pub data: String,
    /// `type` (`xsd:string`, `xsd:object`...).
    pub ty: String,
    /// `fault` and `fault_msg`, mapped to CWMP.
    pub fault: Option<Fault>,
}

/// Maps a bbfdm fault code to CWMP: 9xxx as given, the USP codes bbfdm uses with another
/// proto by its `bbf_fault_map` table, anything else 9002.
pub fn map_fault(code: i64, msg: &str) -> Fault {
    let cwmp = match code {
        9000..=9032 | 9800..=9899 => code as u32,
        7001 => 9000,
        7002 => 9001,
        7000 | 7003 => 9002,
        7004 => 9003,
        7005 => 9004,
        7026 => 9005,
        7011 => 9006,
        7012 => 9007,
        7013 => 9008,
        _ => 9002,
    };
    let code = FaultCode(cwmp);
    if msg.is_empty() {
        Fault::new(code)
    } else {
        Fault::with_message(code, msg)
    }
}

/// A ubus failure as a CWMP fault: always 9002 (the data model could not be reached or
/// refused the request's shape).
pub fn ubus_fault(method: &str, e: &UbusError) -> Fault {
    Fault::internal(format!("bbfdm {method}: {e}"))
}

fn text(v: Option<&Json>) -> String {
    match v {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        Some(Json::Bool(b)) => if *b { "1" } else { "0" }.into(),
        _ => String::new(),
    }
}

/// The rows of the replies of one call (normally one DATA message). A reply without
/// `results` gives no rows; a row that is not an object is skipped.
pub fn rows(replies: &[Json]) -> Vec<Row> {
    let mut out = Vec::new();
    for r in replies {
        let Some(results) = r.get("results").and_then(Json::as_array) else {
            continue;
        };
        for row in results.iter().filter(|r| r.is_object()) {
            let fault = row.get("fault").map(|f| {
                let code = f
                    .as_i64()
                    .or_else(|| f.as_str().and_then(|s| s.parse().ok()))
                    .unwrap_or(9002);
                map_fault(code, &text(row.get("fault_msg")))
            });
            out.push(Row {
                path: text(row.get("path")),
                data: text(row.get("data")),
                ty: text(row.get("type")),
                fault,
            });
        }
    }
    out
}

/// The first fault among `rows`, if any.
pub fn first_fault(rows: &[Row]) -> Option<Fault> {
    rows.iter().find_map(|r| r.fault.clone())
}

/// Splits an AddObject path `Table.[alias].` into the table and the alias the new instance
/// gets; `Table.` gives no alias.
pub fn split_new_alias(path: &str) -> (String, Option<String>) {
    if let Some((table, last)) = path.strip_suffix('.').and_then(|p| p.rsplit_once('.')) {
        if let Some(alias) = last.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
            return (format!("{table}."), Some(alias.to_string()));
        }
    }
    (path.to_string(), None)
}

/// The first `[alias]` segment of `path`: (the table before it, ending with `.`, the alias,
/// the rest after the segment).
pub fn first_alias(path: &str) -> Option<(&str, &str, &str)> {
    let start = path.find(".[")? + 1;
    let len = path[start..].find(']')?;
    let alias = &path[start + 1..start + len];
    Some((&path[..start], alias, &path[start + len + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_and_faults_are_read_from_results() {
        let r = rows(&[json!({"results": [
            {"path": "Device.A", "data": "1", "type": "xsd:boolean"},
            {"path": "Device.B", "fault": 9007, "fault_msg": "bad"},
            {"path": "Device.C", "fault": 7026},
            {"path": "Device.D", "fault": 1234},
            "garbage",
        ]})]);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].data, "1");
        assert_eq!(r[0].ty, "xsd:boolean");
        assert!(r[0].fault.is_none());
        assert_eq!(
            r[1].fault,
            Some(Fault::with_message(FaultCode(9007), "bad"))
        );
        assert_eq!(r[2].fault.as_ref().map(|f| f.code), Some(FaultCode(9005)));
        assert_eq!(r[3].fault.as_ref().map(|f| f.code), Some(FaultCode(9002)));
        assert_eq!(first_fault(&r).map(|f| f.code), Some(FaultCode(9007)));
        assert!(rows(&[json!({"nothing": 1})]).is_empty());
    }

    #[test]
    fn alias_segments_are_found() {
        assert_eq!(
            first_alias("Device.X.[a b].Name"),
            Some(("Device.X.", "a b", ".Name"))
        );
        assert_eq!(first_alias("Device.X.1.Name"), None);
        assert_eq!(first_alias("Device.X.[open"), None);
        assert_eq!(
            split_new_alias("Device.X.[new]."),
            ("Device.X.".to_string(), Some("new".to_string()))
        );
        assert_eq!(
            split_new_alias("Device.X."),
            ("Device.X.".to_string(), None)
        );
    }
}
