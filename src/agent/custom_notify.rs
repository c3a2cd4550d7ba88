//! Notification attributes set from outside the ACS: `cpe.custom_notify_json`, applied at
//! start-up once per firmware version (the C daemon's semantics, icwmp-c.md section 10), and
//! the attributes file rewritten by `icwmpd -c set_notif` while the daemon runs.

use super::Agent;
use crate::rpc::{self, Action, RpcContext};
use crate::soap::{AcsRequest, CpeResponse, SetAttribute};
use serde_json::Value;

/// File in the state directory naming the firmware version the custom JSON was applied for.
pub const MARKER: &str = "custom_notify.applied";

/// The `(parameter, level)` pairs of a custom notification file:
/// `{"custom_notification":[{"parameter":"Device.Users.","notify_type":"2"}, ...]}`.
/// `notify_type` is a string `"0"`..`"6"` (a number is accepted too); entries without both
/// fields or with another level are skipped with a warning. `Err` when the text is not
/// JSON or has no such list.
pub fn parse(text: &str) -> Result<Vec<(String, u8)>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(list) = v.get("custom_notification").and_then(Value::as_array) else {
        return Err("no \"custom_notification\" list".into());
    };
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let name = item.get("parameter").and_then(Value::as_str);
        let level = match item.get("notify_type") {
            Some(Value::String(s)) => s.trim().parse::<u8>().ok(),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
            _ => None,
        };
        match (name, level) {
            (Some(name), Some(level @ 0..=6)) => out.push((name.to_string(), level)),
            _ => log::warn!(
                "custom_notify_json: entry {item} skipped (needs parameter and notify_type 0-6)"
            ),
        }
    }
    Ok(out)
}

impl Agent {
    /// Applies `cpe.custom_notify_json` unless it was already applied for this firmware
    /// version. Each entry goes through the SetParameterAttributes rules (an unknown name or
    /// a refused level is logged and skipped). A file that does not parse is not retried
    /// until the next firmware, as in C; a missing one is looked for again at the next start.
    pub(super) fn apply_custom_notify(&mut self) {
        let file = self.config.cpe.custom_notify_json.trim().to_string();
        if file.is_empty() {
            return;
        }
        let version = self
            .dm
            .get_values("Device.DeviceInfo.SoftwareVersion")
            .ok()
            .and_then(|mut v| v.pop())
            .map(|p| p.value)
            .unwrap_or_default();
        let marker = self.opts.state_dir.join(MARKER);
        if std::fs::read_to_string(&marker).is_ok_and(|m| m == version) {
            return;
        }
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                log::warn!("custom_notify_json {file}: {e}");
                return;
            }
        };
        let entries = parse(&text).unwrap_or_else(|e| {
            log::warn!("custom_notify_json {file}: {e}");
            Vec::new()
        });
        let mut changed = false;
        for (name, level) in &entries {
            match self.set_notification_locally(name, *level) {
                Ok(c) => changed |= c,
                Err(e) => log::warn!("custom_notify_json: {name} = {level}: {e}"),
            }
        }
        if changed {
            if let Err(e) = self.attrs.save(&self.opts.state_dir) {
                // No marker: tried again at the next start.
                log::error!("custom_notify_json: cannot store notification attributes: {e}");
                return;
            }
        }
        match crate::store::write_atomic(&marker, version.as_bytes()) {
            Ok(()) => log::info!(
                "custom_notify_json {file}: {} entries applied for firmware '{version}'",
                entries.len()
            ),
            Err(e) => log::error!("custom_notify_json: cannot write {}: {e}", marker.display()),
        }
    }

    /// One SetParameterAttributes of our own, with the ACS's validation; whether the stored
    /// attributes changed.
    pub(super) fn set_notification_locally(
        &mut self,
        name: &str,
        level: u8,
    ) -> Result<bool, String> {
        self.set_notifications_locally(&[name], level)
    }

    /// [`Agent::set_notification_locally`] for several names in one SetParameterAttributes
    /// (one data-model read for all): all are set, or none when one is refused.
    pub(super) fn set_notifications_locally(
        &mut self,
        names: &[&str],
        level: u8,
    ) -> Result<bool, String> {
        let attributes = names
            .iter()
            .map(|name| SetAttribute {
                name: name.to_string(),
                notification_change: true,
                notification: level,
                access_list_change: false,
                access_list: vec![],
            })
            .collect();
        let req = AcsRequest::SetParameterAttributes { attributes };
        let mut ctx = RpcContext {
            dm: self.dm.as_mut(),
            attrs: &mut self.attrs,
            amd_version: self.config.cpe.amd_version,
            now: crate::time::now_unix(),
            forced_inform: &[],
            queued_schedule_informs: 0,
            transfers: &[],
            du_jobs: 0,
        };
        match rpc::handle(&req, &mut ctx) {
            (CpeResponse::Fault(f), _) => Err(f.to_string()),
            (_, actions) => Ok(actions.contains(&Action::AttributesChanged)),
        }
    }

    /// Picks up the attributes file when another process (`icwmpd -c set_notif`) rewrote it:
    /// called on every turn of the loop, so the change takes effect without a restart. The
    /// parameters it newly notifies get their baseline value now.
    pub(super) fn refresh_attrs(&mut self) {
        if !self.attrs.reload_if_changed(&self.opts.state_dir) {
            return;
        }
        log::info!("notification attributes reloaded (changed on disk)");
        let now = self.clock.now();
        self.check_changes(now);
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_the_c_format_and_skips_bad_entries() {
        let text = r#"{"custom_notification":[
            {"parameter":"Device.Users.","notify_type":"2"},
            {"parameter":"Device.Time.Enable","notify_type":1},
            {"parameter":"Device.X","notify_type":"7"},
            {"parameter":"Device.Y","notify_type":"two"},
            {"notify_type":"1"},
            "junk"
        ]}"#;
        assert_eq!(
            parse(text).unwrap(),
            [
                ("Device.Users.".to_string(), 2),
                ("Device.Time.Enable".to_string(), 1)
            ]
        );
        for bad in [
            "",
            "{",
            "[]",
            r#"{"custom_notification":{}}"#,
            r#"{"x":[]}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
