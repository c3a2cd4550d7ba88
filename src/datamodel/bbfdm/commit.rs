//! Atomic changes for both bbfdm API generations.
//!
//! - 7.x: `transaction start` gives a `transaction_id` that every change carries; `commit`
//!   (with `restart_services: false`) returns the `updated_services`, which are `uci commit`ted
//!   at the end of the session as the C icwmp does; `abort` drops everything.
//! - current: bbfdm stages cwmp changes itself; `bbf.config commit {proto: cwmp}` applies
//!   them, `revert` drops them. Configs whose services are critical (`bbf.config changes`)
//!   are committed at the end of the session, so restarting them cannot cut the session.

use super::{Api, BbfdmDataModel, BBF_CONFIG, OBJECT};
use crate::datamodel::ApplyStatus;
use crate::fault::Fault;
use serde_json::{json, Value as Json};

fn strings(v: Option<&Json>) -> Vec<String> {
    v.and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `{"status":"ok"}` / `{"status":true}` is success; `{"error":..}` or `false` is not.
fn ok_reply(replies: &[Json]) -> Result<&Json, String> {
    let r = replies.first().ok_or("empty reply")?;
    if let Some(e) = r.get("error") {
        return Err(e.to_string());
    }
    match r.get("status") {
        Some(Json::Bool(false)) => Err("status false".into()),
        Some(Json::String(s)) if s != "ok" => Err(s.clone()),
        _ => Ok(r),
    }
}

impl BbfdmDataModel {
    fn transaction(&self, cmd: &str) -> Result<Json, Fault> {
        let mut args = json!({"cmd": cmd, "restart_services": false});
        if let Some(id) = self.transaction_id {
            args["optional"] = json!({"transaction_id": id});
        }
        let replies = self.raw_call(OBJECT, "transaction", args)?;
        ok_reply(&replies)
            .cloned()
            .map_err(|e| Fault::internal(format!("bbfdm transaction {cmd}: {e}")))
    }

    /// The configs with staged cwmp changes and the critical services among them.
    fn changes(&self) -> (Vec<String>, Vec<String>) {
        match self.raw_call(BBF_CONFIG, "changes", json!({"proto": "cwmp"})) {
            Ok(r) => {
                let r = r.first().cloned().unwrap_or(Json::Null);
                (
                    strings(r.get("configs")),
                    strings(r.get("critical_services")),
                )
            }
            Err(e) => {
                log::warn!("bbf.config changes: {e}");
                (Vec::new(), Vec::new())
            }
        }
    }

    fn bbf_config(&self, method: &str, services: &[String]) -> Result<(), Fault> {
        let mut args = json!({"proto": "cwmp"});
        if !services.is_empty() {
            args["services"] = json!(services);
        }
        let replies = self.raw_call(BBF_CONFIG, method, args)?;
        ok_reply(&replies)
            .map(|_| ())
            .map_err(|e| Fault::internal(format!("bbf.config {method}: {e}")))
    }

    /// Opens an atomic change.
    pub(super) fn begin(&mut self) -> Result<(), Fault> {
        if self.api != Api::Transaction {
            return Ok(());
        }
        if self.transaction_id.is_some() {
            // A previous one was left open (its abort failed): drop it first.
            self.abort();
        }
        let r = self.transaction("start")?;
        let id = r.get("transaction_id").and_then(Json::as_i64);
        self.transaction_id = Some(id.ok_or_else(|| Fault::internal("bbfdm: no transaction_id"))?);
        Ok(())
    }

    /// Commits what the change did.
    pub(super) fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        match self.api {
            Api::Transaction => {
                let r = self.transaction("commit");
                self.transaction_id = None;
                let r = r?;
                for s in strings(r.get("updated_services")) {
                    if !self.deferred.contains(&s) {
                        self.deferred.push(s);
                    }
                }
                Ok(ApplyStatus::Pending)
            }
            Api::BbfConfig => {
                let (configs, critical) = self.changes();
                let now: Vec<String> = configs
                    .iter()
                    .filter(|c| !critical.contains(c))
                    .cloned()
                    .collect();
                let later: Vec<String> = configs
                    .into_iter()
                    .filter(|c| critical.contains(c))
                    .collect();
                if later.is_empty() {
                    self.bbf_config("commit", &[])?;
                    return Ok(ApplyStatus::Applied);
                }
                if !now.is_empty() {
                    self.bbf_config("commit", &now)?;
                }
                for c in later {
                    if !self.deferred.contains(&c) {
                        self.deferred.push(c);
                    }
                }
                Ok(ApplyStatus::Pending)
            }
            Api::Direct => Ok(ApplyStatus::Applied),
        }
    }

    /// Drops what the change did (errors are logged: there is nothing better to do).
    pub(super) fn abort(&mut self) {
        let r = match self.api {
            Api::Transaction => {
                let r = self.transaction("abort").map(|_| ());
                self.transaction_id = None;
                r
            }
            Api::BbfConfig if self.deferred.is_empty() => self.bbf_config("revert", &[]),
            Api::BbfConfig => {
                // Keep the critical configs an earlier RPC of this session left staged.
                let (configs, _) = self.changes();
                let drop: Vec<String> = configs
                    .into_iter()
                    .filter(|c| !self.deferred.contains(c))
                    .collect();
                if drop.is_empty() {
                    Ok(())
                } else {
                    self.bbf_config("revert", &drop)
                }
            }
            Api::Direct => {
                log::warn!("bbfdm: change failed half-way and cannot be reverted");
                Ok(())
            }
        };
        if let Err(f) = r {
            log::error!("bbfdm: revert failed: {f}");
        }
    }

    /// End of session: commit what was deferred.
    pub(super) fn apply_deferred(&mut self) {
        let deferred = std::mem::take(&mut self.deferred);
        if deferred.is_empty() {
            return;
        }
        match self.api {
            Api::Transaction => {
                for config in deferred {
                    let r = self.raw_call("uci", "commit", json!({"config": config}));
                    if let Err(f) = r {
                        log::error!("uci commit {config}: {f}");
                    }
                }
            }
            _ => {
                log::info!("committing critical services: {}", deferred.join(", "));
                if let Err(f) = self.bbf_config("commit", &deferred) {
                    log::error!("{f}");
                }
            }
        }
    }
}
