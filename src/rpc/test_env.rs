//! A test harness: an agent state around [`FakeDm`] that requests are driven through.

use super::fake::FakeDm;
use super::{handle, Action, RpcContext};
use crate::datamodel::SetValue;
use crate::fault::Fault;
use crate::notify::NotifyAttributes;
use crate::soap::{AcsRequest, CpeResponse, ParamAttribute, SetAttribute};

pub(crate) const NOW: i64 = 1_700_000_000;

/// The agent state a test drives requests through.
pub(crate) struct Env {
    pub dm: FakeDm,
    pub attrs: NotifyAttributes,
    pub amd: u8,
    pub forced: Vec<String>,
    pub queued: usize,
    pub transfers: Vec<crate::soap::QueuedTransfer>,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dm: FakeDm::new(),
            attrs: NotifyAttributes::new(),
            amd: 5,
            forced: crate::agent::inform::FORCED_INFORM
                .iter()
                .map(|s| s.to_string())
                .collect(),
            queued: 0,
            transfers: Vec::new(),
        }
    }

    pub fn call(&mut self, req: AcsRequest) -> (CpeResponse, Vec<Action>) {
        let mut ctx = RpcContext {
            dm: &mut self.dm,
            attrs: &mut self.attrs,
            amd_version: self.amd,
            now: NOW,
            forced_inform: &self.forced,
            queued_schedule_informs: self.queued,
            transfers: &self.transfers,
            du_jobs: 0,
        };
        handle(&req, &mut ctx)
    }

    /// The fault `req` answers with; fails the test if it succeeds.
    pub fn fault(&mut self, req: AcsRequest) -> Fault {
        match self.call(req) {
            (CpeResponse::Fault(f), actions) => {
                assert!(actions.is_empty(), "a fault carries no actions");
                f
            }
            (other, _) => panic!("expected a fault, got {other:?}"),
        }
    }

    pub fn gpv(&mut self, names: &[&str]) -> CpeResponse {
        let names = names.iter().map(|s| s.to_string()).collect();
        self.call(AcsRequest::GetParameterValues { names }).0
    }

    /// GPA of `names`, as (name, notification, access list).
    pub fn gpa(&mut self, names: &[&str]) -> Vec<ParamAttribute> {
        let names = names.iter().map(|s| s.to_string()).collect();
        match self.call(AcsRequest::GetParameterAttributes { names }).0 {
            CpeResponse::GetParameterAttributes { attributes } => attributes,
            other => panic!("GPA failed: {other:?}"),
        }
    }

    pub fn notification(&mut self, name: &str) -> u8 {
        let a = self.gpa(&[name]);
        assert_eq!(a.len(), 1, "{a:?}");
        a[0].notification
    }
}

pub(crate) fn notify(name: &str, level: u8) -> SetAttribute {
    SetAttribute {
        name: name.into(),
        notification_change: true,
        notification: level,
        access_list_change: false,
        access_list: Vec::new(),
    }
}

pub(crate) fn spa(attributes: Vec<SetAttribute>) -> AcsRequest {
    AcsRequest::SetParameterAttributes { attributes }
}

pub(crate) fn code(f: &Fault) -> u32 {
    f.code.0
}

/// A SetParameterValues request.
pub(crate) fn spv(values: &[(&str, &str)], key: &str) -> AcsRequest {
    AcsRequest::SetParameterValues {
        values: values
            .iter()
            .map(|(n, v)| SetValue {
                name: n.to_string(),
                value: v.to_string(),
                type_hint: None,
            })
            .collect(),
        parameter_key: key.into(),
    }
}
