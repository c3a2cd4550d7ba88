//! One bbfdm call per RPC where bbfdm takes a list (both API generations): `get {paths}` for
//! several paths, `set {path, obj_path}` for several values. The replies are split back per
//! path so that every path keeps the result and the fault it would have had alone.
//!
//! bbfdm answers a `paths` get with the rows of each path in turn and, for a path that fails,
//! one row `{path: <that path>, fault}`; a `set` with `obj_path` refuses the whole request
//! with one fault under its `path` when a name does not resolve, otherwise it sets each
//! parameter and gives one row per parameter (`get.c`, `set.c` of bbfdmd).

use super::reply::Row;
use super::BbfdmDataModel;
use crate::fault::{Fault, ParamFault};
use serde_json::{json, Map, Value as Json};

/// Whether the row `name` belongs to what `asked` names: the parameter itself, or anything
/// below a partial path; a `*` segment stands for any instance.
pub fn covers(asked: &str, name: &str) -> bool {
    if !asked.contains('*') {
        return if asked.ends_with('.') {
            name.starts_with(asked) && name.len() > asked.len()
        } else {
            name == asked
        };
    }
    let partial = asked.ends_with('.');
    let pat: Vec<&str> = asked.trim_end_matches('.').split('.').collect();
    let segs: Vec<&str> = name.split('.').collect();
    let long_enough = if partial {
        segs.len() > pat.len()
    } else {
        segs.len() == pat.len()
    };
    long_enough && pat.iter().zip(&segs).all(|(p, s)| *p == "*" || p == s)
}

/// Splits a `paths` reply into the rows of each path (`asked` without duplicates, in the
/// order sent). bbfdm answers path after path, so each path's rows are the run at the cursor:
/// its fault row, or the rows it covers (a run may take a later path's rows that it covers
/// too: same names, dropped as duplicates). A path whose run is elsewhere (overlaps) takes
/// the first rows it covers anywhere.
pub fn split_rows(asked: &[&String], rows: &[Row]) -> Vec<Vec<Row>> {
    let mut cursor = 0;
    let mut out = Vec::with_capacity(asked.len());
    for path in asked {
        let at = rows.get(cursor);
        if let Some(r) = at.filter(|r| r.fault.is_some() && r.path == **path) {
            out.push(vec![r.clone()]);
            cursor += 1;
            continue;
        }
        let start = cursor;
        while rows
            .get(cursor)
            .is_some_and(|r| r.fault.is_none() && covers(path, &r.path))
        {
            cursor += 1;
        }
        out.push(if cursor > start {
            dedup(rows[start..cursor].iter())
        } else {
            rows_of(path, rows)
        });
    }
    out
}

/// `rows` without the repeats of a name.
fn dedup<'a>(rows: impl Iterator<Item = &'a Row>) -> Vec<Row> {
    let mut seen = std::collections::HashSet::new();
    rows.filter(|r| seen.insert(r.path.as_str()))
        .cloned()
        .collect()
}

/// The rows of one path anywhere in a `paths` reply: its own fault row, or the rows it
/// covers (once each).
pub fn rows_of(asked: &str, rows: &[Row]) -> Vec<Row> {
    if let Some(f) = rows.iter().find(|r| r.fault.is_some() && r.path == asked) {
        return vec![f.clone()];
    }
    dedup(
        rows.iter()
            .filter(|r| r.fault.is_none() && covers(asked, &r.path)),
    )
}

/// The longest object path (ending with `.`) that every name is below, if any.
pub fn common_object(names: &[&str]) -> Option<String> {
    let first = names.first()?;
    let mut end = first.rfind('.')? + 1;
    for n in &names[1..] {
        let same = first
            .bytes()
            .zip(n.bytes())
            .take(end)
            .take_while(|(a, b)| a == b)
            .count();
        end = first[..same].rfind('.').map_or(0, |i| i + 1);
    }
    (end > 0).then(|| first[..end].to_string())
}

/// Whether a fault is about the parameter (listed in SetParameterValuesFault) rather than
/// the whole RPC (9002 from a dead bbfdm...).
fn is_param_fault(f: &Fault) -> bool {
    (9005..=9008).contains(&f.code.0)
}

impl BbfdmDataModel {
    /// `get` of several (resolved) paths in one call; each path's rows, or the call's fault
    /// for all of them.
    pub(super) fn get_rows_many(&self, paths: &[String]) -> Result<Vec<Vec<Row>>, Fault> {
        let mut unique: Vec<&String> = Vec::with_capacity(paths.len());
        for p in paths {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        let mut args = Map::new();
        if let [one] = unique.as_slice() {
            args.insert("path".into(), json!(one));
        } else {
            args.insert("paths".into(), json!(unique));
        }
        let rows = self.call("get", args)?;
        let split = split_rows(&unique, &rows);
        Ok(paths
            .iter()
            .map(|p| {
                let i = unique.iter().position(|u| *u == p).unwrap_or(0);
                split.get(i).cloned().unwrap_or_default()
            })
            .collect())
    }

    /// Sets (resolved path, value) pairs, one call when there are several; the fault of each
    /// pair (`None`: set), or a fault for the whole RPC.
    pub(super) fn set_many(&self, pairs: &[(String, &str)]) -> Result<Vec<Option<Fault>>, Fault> {
        let names: Vec<&str> = pairs.iter().map(|(p, _)| p.as_str()).collect();
        let distinct = names.iter().collect::<std::collections::HashSet<_>>().len() == names.len();
        let batch = common_object(&names).filter(|_| pairs.len() > 1 && distinct);
        if let Some(object) = batch {
            let obj_path: Map<String, Json> = pairs
                .iter()
                .map(|(p, v)| (p[object.len()..].to_string(), json!(v)))
                .collect();
            let mut args = Map::new();
            args.insert("path".into(), json!(object));
            args.insert("obj_path".into(), Json::Object(obj_path));
            let rows = self.call("set", args)?;
            let stray = rows
                .iter()
                .any(|r| r.fault.is_some() && !names.contains(&r.path.as_str()));
            if !stray {
                return Ok(names
                    .iter()
                    .map(|n| {
                        rows.iter()
                            .find(|r| r.path == *n && r.fault.is_some())
                            .and_then(|r| r.fault.clone())
                    })
                    .collect());
            }
            // A fault under the common path (a name that does not resolve): nothing was set;
            // one call per parameter says which one.
        }
        Ok(pairs
            .iter()
            .map(|(p, v)| self.set_one(p, v).err())
            .collect())
    }

    /// SetParameterValues in one batch: every name resolved (aliases), set together, the
    /// faults listed per parameter in request order; a fault that is not a parameter's own
    /// fails the whole RPC as it is.
    pub(super) fn set_values_batched(
        &self,
        values: &[crate::datamodel::SetValue],
    ) -> Result<(), Fault> {
        let mut results: Vec<Option<Fault>> = vec![None; values.len()];
        let mut pairs = Vec::with_capacity(values.len());
        let mut index = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            match self.resolve(&v.name) {
                Ok(p) => {
                    pairs.push((p, v.value.as_str()));
                    index.push(i);
                }
                Err(f) => results[i] = Some(f),
            }
        }
        if !pairs.is_empty() {
            for (i, f) in index.into_iter().zip(self.set_many(&pairs)?) {
                results[i] = f;
            }
        }
        let mut faults = Vec::new();
        for (v, f) in values.iter().zip(results) {
            match f {
                None => {}
                Some(f) if is_param_fault(&f) => faults.push(ParamFault {
                    name: v.name.clone(),
                    code: f.code,
                    message: f.message,
                }),
                Some(f) => return Err(f),
            }
        }
        if faults.is_empty() {
            Ok(())
        } else {
            Err(Fault::set_values(faults))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &str, fault: bool) -> Row {
        Row {
            path: path.into(),
            fault: fault.then(|| Fault::invalid_name(path)),
            ..Row::default()
        }
    }

    #[test]
    fn rows_go_to_the_paths_that_cover_them() {
        assert!(covers("Device.A.", "Device.A.B"));
        assert!(!covers("Device.A.", "Device.A."));
        assert!(!covers("Device.A.", "Device.AB.C"));
        assert!(covers("Device.A.B", "Device.A.B"));
        assert!(!covers("Device.A.B", "Device.A.BC"));
        assert!(covers("Device.U.*.Alias", "Device.U.3.Alias"));
        assert!(!covers("Device.U.*.Alias", "Device.U.3.Name"));
        assert!(covers("Device.U.*.", "Device.U.3.Name"));
        assert!(!covers("Device.U.*.", "Device.V.3.Name"));
        let rows = [
            row("Device.A.X", false),
            row("Device.A.Y", false),
            row("Device.A.Nope", true),
            row("Device.A.X", false),
        ];
        let of = |p| rows_of(p, &rows);
        assert_eq!(
            of("Device.A.").len(),
            2,
            "fault rows and duplicates left out"
        );
        assert_eq!(of("Device.A.X").len(), 1);
        assert!(of("Device.A.Nope")[0].fault.is_some());
        assert!(of("Device.B.").is_empty());
    }

    #[test]
    fn each_path_gets_its_own_run_in_bbfdms_order() {
        let rows = [
            row("Device.B.2", false),
            row("Device.B.1", false),
            row("Device.Nope", true),
            row("Device.A.1", false),
            row("Device.B.1", false),
        ];
        let (b, nope, all, b1) = (
            "Device.B.".to_string(),
            "Device.Nope".to_string(),
            "Device.".to_string(),
            "Device.B.1".to_string(),
        );
        let split = split_rows(&[&b, &nope, &all, &b1], &rows);
        let names = |i: usize| -> Vec<&str> { split[i].iter().map(|r| r.path.as_str()).collect() };
        assert_eq!(names(0), ["Device.B.2", "Device.B.1"], "bbfdm's order kept");
        assert!(split[1][0].fault.is_some());
        assert_eq!(names(2), ["Device.A.1", "Device.B.1"]);
        assert_eq!(names(3), ["Device.B.1"]);
    }

    #[test]
    fn the_common_object_ends_at_a_segment() {
        let c = |n: &[&str]| common_object(n);
        assert_eq!(
            c(&["Device.A.B", "Device.A.C"]).as_deref(),
            Some("Device.A.")
        );
        assert_eq!(
            c(&["Device.A.Bx", "Device.A.By"]).as_deref(),
            Some("Device.A.")
        );
        assert_eq!(
            c(&["Device.AB.X", "Device.AC.X"]).as_deref(),
            Some("Device.")
        );
        assert_eq!(c(&["Device.A.B"]).as_deref(), Some("Device.A."));
        assert_eq!(c(&["Device.A", "Other.A"]), None);
        assert_eq!(c(&[]), None);
    }
}
