//! The writable tables (and a few writable singletons) kept in `<state_dir>/dm.json`.
//!
//! Format (version 1):
//! `{"version":1,"tables":{"Device.NAT.PortMapping.":{"next":3,"rows":{"1":{"Enable":"true",..}}}},
//!   "values":{"Device.Time.LocalTimeZone":"CET-1"}}`. Only writable columns are stored;
//! missing ones take their schema default when loaded.

use super::schema::{Kind, Tree, SCHEMA};
use super::sources::Src;
use crate::datamodel::ParamType;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One stored table: next instance number and the rows (columns as in the schema tree).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Table {
    /// The next instance number to hand out; numbers are never reused.
    pub next: u32,
    /// Instance number -> column values (parameter children of the table node, in order).
    pub rows: BTreeMap<u32, Vec<String>>,
}

/// Everything dm.json holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Persisted {
    /// Table node -> its instances.
    pub tables: BTreeMap<usize, Table>,
    /// Schema path -> value of writable singletons (`Device.Time.Enable`...).
    pub values: BTreeMap<String, String>,
}

/// The wire name of a table node (`Device.NAT.PortMapping.`).
fn table_name(node: usize) -> String {
    let p = SCHEMA[node].path;
    p.strip_suffix("{i}.").unwrap_or(p).to_string()
}

/// The default of a parameter: the XML default, else the first enumeration value, else the
/// type's zero value.
pub(crate) fn default_value(node: usize) -> String {
    let e = &SCHEMA[node];
    if let Some(d) = e.default() {
        return d.to_string();
    }
    if let Some(first) = e.enums().first() {
        return first.to_string();
    }
    match e.ty {
        ParamType::Boolean => "false".into(),
        ParamType::DateTime => crate::time::UNKNOWN_TIME.into(),
        ParamType::String | ParamType::Base64 | ParamType::HexBinary => String::new(),
        _ => "0".into(),
    }
}

/// The parameter columns of a table node.
pub(crate) fn columns(tree: &Tree, table: usize) -> impl Iterator<Item = usize> + '_ {
    tree.nodes[table]
        .children
        .iter()
        .copied()
        .filter(|&c| SCHEMA[c].kind == Kind::Param)
}

/// A new row with defaults; the Alias column (if any) is `alias`.
pub(crate) fn default_row(tree: &Tree, table: usize, alias: &str) -> Vec<String> {
    columns(tree, table)
        .map(|c| {
            if tree.nodes[c].seg == "Alias" {
                alias.to_string()
            } else {
                default_value(c)
            }
        })
        .collect()
}

impl Persisted {
    /// Loads dm.json; a missing file is empty, a corrupt one is logged and ignored.
    pub(crate) fn load(path: &Path, tree: &Tree, src: &[Src]) -> Persisted {
        let bytes = match crate::store::read_optional(path) {
            Ok(Some(b)) => b,
            Ok(None) => return Persisted::default(),
            Err(e) => {
                log::warn!("cannot read {}: {e}; starting empty", path.display());
                return Persisted::default();
            }
        };
        match crate::store::parse_json(&bytes) {
            Ok(v) if v.is_object() => Persisted::from_json(&v, tree, src),
            Ok(_) | Err(_) => {
                log::warn!("{} is corrupt; starting empty", path.display());
                Persisted::default()
            }
        }
    }

    fn from_json(v: &Value, tree: &Tree, src: &[Src]) -> Persisted {
        let mut out = Persisted::default();
        let tables = v.get("tables").and_then(Value::as_object);
        for (node, _) in src
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == Src::StoredTable)
        {
            let Some(t) = tables.and_then(|t| t.get(&table_name(node))) else {
                continue;
            };
            let mut table = Table::default();
            let rows = t.get("rows").and_then(Value::as_object);
            for (num, row) in rows.into_iter().flatten() {
                let Ok(n) = num.parse::<u32>() else { continue };
                if n == 0 {
                    continue;
                }
                let cols = columns(tree, node)
                    .map(|c| {
                        row.get(tree.nodes[c].seg)
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .unwrap_or_else(|| {
                                if tree.nodes[c].seg == "Alias" {
                                    format!("cpe-{n}")
                                } else {
                                    default_value(c)
                                }
                            })
                    })
                    .collect();
                table.rows.insert(n, cols);
            }
            let last = table.rows.keys().next_back().copied().unwrap_or(0);
            let next = t.get("next").and_then(Value::as_u64).unwrap_or(0);
            table.next = u32::try_from(next)
                .unwrap_or(u32::MAX)
                .max(last.saturating_add(1));
            out.tables.insert(node, table);
        }
        if let Some(vals) = v.get("values").and_then(Value::as_object) {
            for (k, val) in vals {
                if let (Some(s), true) = (val.as_str(), SCHEMA.iter().any(|e| e.path == k)) {
                    out.values.insert(k.clone(), s.to_string());
                }
            }
        }
        out
    }

    /// The dm.json bytes, written straight out: building a `serde_json::Value` of every row
    /// first cost thousands of short-lived allocations per save, which left glibc's heap
    /// fragmented (megabytes kept after a few hundred AddObjects).
    pub(crate) fn to_json(&self, tree: &Tree) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"{\"version\":1,\"tables\":{");
        for (i, (&node, t)) in self.tables.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(&mut out, &table_name(node));
            out.extend_from_slice(format!(":{{\"next\":{},\"rows\":{{", t.next).as_bytes());
            let cols: Vec<usize> = columns(tree, node).collect();
            for (j, (n, row)) in t.rows.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(format!("\"{n}\":{{").as_bytes());
                let stored = cols.iter().zip(row).filter(|(c, _)| SCHEMA[**c].writable);
                for (k, (c, val)) in stored.enumerate() {
                    if k > 0 {
                        out.push(b',');
                    }
                    json_str(&mut out, tree.nodes[*c].seg);
                    out.push(b':');
                    json_str(&mut out, val);
                }
                out.push(b'}');
            }
            out.extend_from_slice(b"}}");
        }
        out.extend_from_slice(b"},\"values\":{");
        for (i, (k, v)) in self.values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(&mut out, k);
            out.push(b':');
            json_str(&mut out, v);
        }
        out.extend_from_slice(b"}}");
        out
    }
}

/// Appends `s` as a JSON string (quoted and escaped by serde_json).
fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}
