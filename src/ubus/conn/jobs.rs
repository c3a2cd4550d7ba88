//! The request side of the ubus actor: commands from handles, and the multi-step jobs
//! (LOOKUP then INVOKE, listener registration, subscriptions) driven by each STATUS.

use super::{Actor, Cmd, Job, Pending, Reply, Sub, SubStage, EVENT_OBJECT};
use crate::ubus::blobmsg::{BlobmsgValue, Table};
use crate::ubus::client::ObjectInfo;
use crate::ubus::msg::{Attr, MsgType, UbusMsg};
use crate::ubus::{status, UbusError};
use std::time::Instant;

impl Actor {
    // ---- requests from handles ----

    pub(super) fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Call {
                object,
                method,
                args,
                deadline,
                reply,
            } => {
                let objid = self.ids.get(&object).copied();
                let job = Job::Call {
                    object,
                    method,
                    args,
                    objid,
                    from_cache: objid.is_some(),
                    reply,
                };
                self.call_step(job, deadline);
            }
            Cmd::Lookup {
                path,
                deadline,
                reply,
            } => {
                let attrs = if path.is_empty() {
                    vec![]
                } else {
                    vec![Attr::ObjPath(path)]
                };
                self.start(MsgType::Lookup, 0, attrs, deadline, Job::Lookup(reply));
            }
            Cmd::SendEvent {
                id,
                data,
                deadline,
                reply,
            } => {
                let body = vec![
                    ("id".into(), BlobmsgValue::String(id)),
                    ("data".into(), BlobmsgValue::Table(data)),
                ];
                self.invoke_event_object("send", body, deadline, Job::Status(reply));
            }
            Cmd::Subscribe {
                path,
                deadline,
                reply,
            } => {
                if !self.subs.iter().any(|s| s.path == path) {
                    let anon = None;
                    self.subs.push(Sub {
                        path: path.clone(),
                        anon,
                    });
                }
                self.subscribe_step(path, SubStage::Lookup, deadline, Some(reply));
            }
            Cmd::Notify {
                object,
                method,
                data,
                reply,
            } => {
                let id = self
                    .objects
                    .iter()
                    .find(|o| o.obj.name == object)
                    .and_then(|o| o.id);
                let r = match id {
                    None if self.stream.is_none() => Err(UbusError::NotConnected),
                    None => Err(UbusError::Status(status::NOT_FOUND)),
                    Some(id) => {
                        self.seq = self.seq.wrapping_add(1);
                        let attrs = vec![
                            Attr::ObjId(id),
                            Attr::Method(method),
                            Attr::Data(data),
                            Attr::NoReply(true),
                        ];
                        self.write(&UbusMsg::new(MsgType::Notify, self.seq, id, attrs))
                    }
                };
                let _ = reply.try_send(r);
            }
        }
    }

    fn invoke_event_object(&mut self, method: &str, body: Table, deadline: Instant, job: Job) {
        let attrs = vec![
            Attr::ObjId(EVENT_OBJECT),
            Attr::Method(method.into()),
            Attr::Data(body),
        ];
        self.start(MsgType::Invoke, EVENT_OBJECT, attrs, deadline, job);
    }

    /// Sends the next request of a call: LOOKUP when the id is unknown, else INVOKE with the
    /// object id as header peer and an always-present DATA.
    fn call_step(&mut self, job: Job, deadline: Instant) {
        let Job::Call {
            object,
            method,
            args,
            objid,
            ..
        } = &job
        else {
            return;
        };
        match *objid {
            None => {
                let attrs = vec![Attr::ObjPath(object.clone())];
                self.start(MsgType::Lookup, 0, attrs, deadline, job);
            }
            Some(id) => {
                let attrs = vec![
                    Attr::ObjId(id),
                    Attr::Method(method.clone()),
                    Attr::Data(args.clone()),
                ];
                self.start(MsgType::Invoke, id, attrs, deadline, job);
            }
        }
    }

    pub(super) fn subscribe_step(
        &mut self,
        path: String,
        stage: SubStage,
        deadline: Instant,
        reply: Option<Reply<()>>,
    ) {
        let (typ, attrs) = match stage {
            SubStage::Lookup => (MsgType::Lookup, vec![Attr::ObjPath(path.clone())]),
            SubStage::AddAnon { .. } => (MsgType::AddObject, vec![]),
            SubStage::Subscribe { anon, target } => (
                MsgType::Subscribe,
                vec![Attr::ObjId(anon), Attr::Target(target)],
            ),
        };
        let job = Job::Subscribe { path, stage, reply };
        self.start(typ, 0, attrs, deadline, job);
    }

    pub(super) fn on_status(&mut self, p: Pending, code: u32) {
        let Pending {
            deadline,
            mut datas,
            job,
        } = p;
        let first_id = datas.first().and_then(UbusMsg::objid);
        match job {
            Job::Call {
                object,
                method,
                args,
                objid: None,
                from_cache,
                reply,
            } => match (code, first_id) {
                (status::OK, Some(id)) => {
                    self.ids.insert(object.clone(), id);
                    let job = Job::Call {
                        object,
                        method,
                        args,
                        objid: Some(id),
                        from_cache,
                        reply,
                    };
                    self.call_step(job, deadline);
                }
                (status::OK, None) => {
                    drop(reply.try_send(Err(UbusError::Status(status::NOT_FOUND))))
                }
                _ => drop(reply.try_send(Err(UbusError::Status(code)))),
            },
            Job::Call {
                object,
                method,
                args,
                objid: Some(_),
                from_cache,
                reply,
            } => {
                if code == status::NOT_FOUND && from_cache {
                    // The object was re-registered under a new id: look it up once more.
                    self.ids.remove(&object);
                    let job = Job::Call {
                        object,
                        method,
                        args,
                        objid: None,
                        from_cache: false,
                        reply,
                    };
                    return self.call_step(job, deadline);
                }
                let r = match code {
                    status::OK => Ok(datas.iter_mut().filter_map(UbusMsg::take_data).collect()),
                    c => Err(UbusError::Status(c)),
                };
                let _ = reply.try_send(r);
            }
            Job::Lookup(reply) => {
                let r = match code {
                    status::OK => Ok(datas.iter().filter_map(object_info).collect()),
                    c => Err(UbusError::Status(c)),
                };
                let _ = reply.try_send(r);
            }
            Job::Status(reply) => {
                let _ = reply.try_send(if code == status::OK {
                    Ok(())
                } else {
                    Err(UbusError::Status(code))
                });
            }
            Job::AddObject(i) => match (code, first_id) {
                (status::OK, Some(id)) => {
                    log::info!(
                        "ubus: registered object {} ({id:08x})",
                        self.objects[i].obj.name
                    );
                    self.objects[i].id = Some(id);
                }
                _ => log::error!(
                    "ubus: cannot register object {}: status {code}",
                    self.objects[i].obj.name
                ),
            },
            Job::AddListener => match (code, first_id) {
                (status::OK, Some(id)) => {
                    self.listener_obj = Some(id);
                    for pattern in self.listeners.clone() {
                        let body = vec![
                            // Must be INT32 even above 0x7fffffff (ubusd's policy is exact).
                            ("object".into(), BlobmsgValue::Int32(id as i32)),
                            ("pattern".into(), BlobmsgValue::String(pattern.clone())),
                        ];
                        self.invoke_event_object(
                            "register",
                            body,
                            deadline,
                            Job::Register(pattern),
                        );
                    }
                }
                _ => log::error!("ubus: cannot create the event listener object: status {code}"),
            },
            Job::Register(pattern) => {
                if code != status::OK {
                    log::error!("ubus: cannot listen to events {pattern}: status {code}");
                }
            }
            Job::Subscribe { path, stage, reply } => {
                self.on_subscribe_status(path, stage, code, first_id, deadline, reply)
            }
            Job::Ignore => {}
        }
    }

    fn on_subscribe_status(
        &mut self,
        path: String,
        stage: SubStage,
        code: u32,
        id: Option<u32>,
        deadline: Instant,
        reply: Option<Reply<()>>,
    ) {
        // Gone meanwhile (its target disappeared): nothing more to do.
        let Some(index) = self.subs.iter().position(|s| s.path == path) else {
            return;
        };
        let next = match (stage, code, id) {
            (SubStage::Lookup, status::OK, Some(target)) => SubStage::AddAnon { target },
            (SubStage::AddAnon { target }, status::OK, Some(anon)) => {
                self.subs[index].anon = Some(anon);
                SubStage::Subscribe { anon, target }
            }
            (SubStage::Subscribe { .. }, status::OK, _) => {
                log::info!("ubus: subscribed to {path}");
                if let Some(r) = reply {
                    let _ = r.try_send(Ok(()));
                }
                return;
            }
            (_, c, _) => {
                let c = if c == status::OK {
                    status::NOT_FOUND
                } else {
                    c
                };
                let job = Job::Subscribe { path, stage, reply };
                return job.fail(UbusError::Status(c));
            }
        };
        self.subscribe_step(path, next, deadline, reply);
    }
}

fn object_info(m: &UbusMsg) -> Option<ObjectInfo> {
    Some(ObjectInfo {
        path: m.objpath()?,
        id: m.objid()?,
        type_id: m.objtype().unwrap_or(0),
        signature: m.signature().cloned().unwrap_or_default(),
    })
}
