//! The ubus thread's actor: owns the socket (writes), a reader thread per connection
//! (`ubus-rx`, reads and parses frames), the table of pending requests keyed by (seq, peer),
//! our registered objects, and the reconnect back-off.

mod jobs;

use super::blobmsg::{self, Table};
use super::client::{ObjectInfo, UbusConfig, UbusEvent, UbusObject, DEFAULT_SOCKETS};
use super::msg::{self, Attr, MsgType, UbusMsg};
use super::{status, UbusError};
use crossbeam_channel::{select, Receiver, Sender, TrySendError};
use std::collections::HashMap;
use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The built-in event object.
const EVENT_OBJECT: u32 = 1;
/// How long a write to ubusd may block before the connection is declared dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

type Reply<R> = Sender<Result<R, UbusError>>;

/// A request from a [`UbusHandle`](super::UbusHandle).
pub(super) enum Cmd {
    Call {
        object: String,
        method: String,
        args: Table,
        deadline: Instant,
        reply: Reply<Vec<Table>>,
    },
    Lookup {
        path: String,
        deadline: Instant,
        reply: Reply<Vec<ObjectInfo>>,
    },
    SendEvent {
        id: String,
        data: Table,
        deadline: Instant,
        reply: Reply<()>,
    },
    Subscribe {
        path: String,
        deadline: Instant,
        reply: Reply<()>,
    },
    Notify {
        object: String,
        method: String,
        data: Table,
        reply: Reply<()>,
    },
}

/// What a pending request is for, and who waits for its result.
enum Job {
    /// A call: LOOKUP the path first unless its id is cached, then INVOKE.
    Call {
        object: String,
        method: String,
        args: Table,
        /// Set while INVOKE-ing an id; `from_cache` allows one fresh LOOKUP on STATUS 4.
        objid: Option<u32>,
        from_cache: bool,
        reply: Reply<Vec<Table>>,
    },
    Lookup(Reply<Vec<ObjectInfo>>),
    /// Only the status matters.
    Status(Reply<()>),
    /// Registration of `objects[i]`.
    AddObject(usize),
    /// The anonymous object our event listeners hang on.
    AddListener,
    Register(String),
    /// Subscription to an object path: LOOKUP, anonymous object, SUBSCRIBE.
    Subscribe {
        path: String,
        stage: SubStage,
        reply: Option<Reply<()>>,
    },
    Ignore,
}

#[derive(Clone, Copy)]
enum SubStage {
    Lookup,
    AddAnon { target: u32 },
    Subscribe { anon: u32, target: u32 },
}

impl Job {
    /// Reports `err` to whoever waits (internal jobs just log).
    fn fail(self, err: UbusError) {
        match self {
            Job::Call { reply, .. } => drop(reply.try_send(Err(err))),
            Job::Lookup(reply) => drop(reply.try_send(Err(err))),
            Job::Status(reply) => drop(reply.try_send(Err(err))),
            Job::Subscribe { reply, .. } => {
                if let Some(r) = reply {
                    drop(r.try_send(Err(err)));
                } else {
                    log::warn!("ubus: re-subscription failed: {err}");
                }
            }
            Job::AddObject(_) | Job::AddListener | Job::Register(_) => {
                log::warn!("ubus: registration failed: {err}")
            }
            Job::Ignore => {}
        }
    }
}

struct Pending {
    deadline: Instant,
    datas: Vec<UbusMsg>,
    job: Job,
}

struct Obj {
    obj: UbusObject,
    id: Option<u32>,
}

struct Sub {
    path: String,
    anon: Option<u32>,
}

/// What the reader thread passes on.
enum Incoming {
    Msg(UbusMsg),
    Closed(String),
}

pub(super) struct Actor {
    socket: Option<PathBuf>,
    backoff_min: Duration,
    backoff_max: Duration,
    setup_timeout: Duration,
    objects: Vec<Obj>,
    listeners: Vec<String>,
    listener_obj: Option<u32>,
    subs: Vec<Sub>,
    cmd_rx: Receiver<Cmd>,
    ev_tx: Sender<UbusEvent>,
    in_tx: Sender<(u64, Incoming)>,
    in_rx: Receiver<(u64, Incoming)>,
    stream: Option<UnixStream>,
    /// Connection generation: messages of an older reader are ignored.
    gen: u64,
    backoff: Duration,
    next_attempt: Instant,
    seq: u16,
    pending: HashMap<(u16, u32), Pending>,
    /// Object ids found by LOOKUP, dropped on reconnect or when an INVOKE says STATUS 4.
    ids: HashMap<String, u32>,
}

impl Actor {
    pub(super) fn new(cfg: UbusConfig, cmd_rx: Receiver<Cmd>, ev_tx: Sender<UbusEvent>) -> Self {
        let (in_tx, in_rx) = crossbeam_channel::unbounded();
        Actor {
            socket: cfg.socket,
            backoff_min: cfg.backoff_min,
            backoff_max: cfg.backoff_max.max(cfg.backoff_min),
            setup_timeout: cfg.setup_timeout,
            objects: cfg
                .objects
                .into_iter()
                .map(|obj| Obj { obj, id: None })
                .collect(),
            listeners: cfg.listeners,
            listener_obj: None,
            subs: Vec::new(),
            cmd_rx,
            ev_tx,
            in_tx,
            in_rx,
            stream: None,
            gen: 0,
            backoff: cfg.backoff_min,
            next_attempt: Instant::now(),
            seq: 0,
            pending: HashMap::new(),
            ids: HashMap::new(),
        }
    }

    /// Runs until every handle is dropped.
    pub(super) fn run(mut self) {
        loop {
            if self.stream.is_none() && Instant::now() >= self.next_attempt {
                self.connect();
            }
            let wait = self.next_wake().map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(Instant::now())
            });
            select! {
                recv(self.cmd_rx) -> cmd => match cmd {
                    Ok(cmd) => self.on_cmd(cmd),
                    Err(_) => break,
                },
                recv(self.in_rx) -> inc => {
                    // Never disconnected: we hold a sender.
                    if let Ok((gen, inc)) = inc {
                        if gen == self.gen {
                            self.on_incoming(inc);
                        }
                    }
                }
                default(wait) => {}
            }
            self.expire(Instant::now());
        }
        if let Some(s) = self.stream.take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        log::debug!("ubus: thread stopped");
    }

    fn next_wake(&self) -> Option<Instant> {
        let p = self.pending.values().map(|p| p.deadline).min();
        let c = self.stream.is_none().then_some(self.next_attempt);
        p.into_iter().chain(c).min()
    }

    fn emit(&self, ev: UbusEvent) {
        match self.ev_tx.try_send(ev) {
            Err(TrySendError::Full(ev)) => log::warn!("ubus: event queue full, dropped {ev:?}"),
            // Nobody listens (the receiver was dropped): nothing to report.
            Err(TrySendError::Disconnected(_)) | Ok(()) => {}
        }
    }

    fn expire(&mut self, now: Instant) {
        let late: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in late {
            if let Some(p) = self.pending.remove(&k) {
                log::debug!("ubus: request seq {} peer {:08x} timed out", k.0, k.1);
                p.job.fail(UbusError::Timeout);
            }
        }
    }

    // ---- connection ----

    fn connect(&mut self) {
        let paths: Vec<PathBuf> = match &self.socket {
            Some(p) => vec![p.clone()],
            None => DEFAULT_SOCKETS.iter().map(PathBuf::from).collect(),
        };
        let mut last = String::new();
        for path in &paths {
            match self.open(path) {
                Ok(client_id) => {
                    log::info!("ubus: connected to {} as {client_id:08x}", path.display());
                    self.backoff = self.backoff_min;
                    self.emit(UbusEvent::Connected { client_id });
                    self.register_all();
                    return;
                }
                Err(e) => last = format!("{}: {e}", path.display()),
            }
        }
        log::debug!("ubus: cannot connect ({last}); retry in {:?}", self.backoff);
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.backoff_max);
    }

    /// Connects, reads HELLO, starts the reader thread; returns our client id.
    fn open(&mut self, path: &PathBuf) -> Result<u32, String> {
        let mut s = UnixStream::connect(path).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(self.setup_timeout))
            .and_then(|_| s.set_write_timeout(Some(WRITE_TIMEOUT)))
            .map_err(|e| e.to_string())?;
        let hello = msg::read_frame(&mut s).map_err(|e| format!("no HELLO: {e}"))?;
        let hello = UbusMsg::parse(&hello).map_err(|e| e.to_string())?;
        if hello.typ != MsgType::Hello {
            return Err(format!("expected HELLO, got {hello}"));
        }
        s.set_read_timeout(None).map_err(|e| e.to_string())?;
        let mut reader = s.try_clone().map_err(|e| e.to_string())?;
        self.gen += 1;
        let (gen, tx) = (self.gen, self.in_tx.clone());
        std::thread::Builder::new()
            .name("ubus-rx".into())
            .spawn(move || loop {
                let inc = match msg::read_frame(&mut reader) {
                    Ok(bytes) => match UbusMsg::parse(&bytes) {
                        Ok(m) => Incoming::Msg(m),
                        Err(e) => {
                            log::warn!("ubus: dropped a message: {e}");
                            continue;
                        }
                    },
                    Err(e) => Incoming::Closed(e.to_string()),
                };
                let end = matches!(inc, Incoming::Closed(_));
                if tx.send((gen, inc)).is_err() || end {
                    break;
                }
            })
            .map_err(|e| e.to_string())?;
        self.stream = Some(s);
        Ok(hello.peer)
    }

    /// Forgets the connection: every pending request fails now, ids are forgotten, and a
    /// reconnect is planned after the back-off.
    fn disconnect(&mut self, why: &str) {
        let Some(s) = self.stream.take() else { return };
        log::warn!("ubus: connection lost ({why}); reconnecting");
        let _ = s.shutdown(Shutdown::Both);
        self.gen += 1;
        for (_, p) in self.pending.drain() {
            p.job.fail(UbusError::Disconnected);
        }
        self.objects.iter_mut().for_each(|o| o.id = None);
        self.subs.iter_mut().for_each(|s| s.anon = None);
        self.listener_obj = None;
        self.ids.clear();
        self.emit(UbusEvent::Disconnected);
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.backoff_max);
    }

    fn register_all(&mut self) {
        let deadline = Instant::now() + self.setup_timeout;
        for i in 0..self.objects.len() {
            let o = &self.objects[i].obj;
            let attrs = vec![
                Attr::ObjPath(o.name.clone()),
                Attr::Signature(o.signature()),
            ];
            self.start(MsgType::AddObject, 0, attrs, deadline, Job::AddObject(i));
        }
        if !self.listeners.is_empty() {
            self.start(MsgType::AddObject, 0, vec![], deadline, Job::AddListener);
        }
        let paths: Vec<String> = self.subs.iter().map(|s| s.path.clone()).collect();
        for path in paths {
            self.subscribe_step(path, SubStage::Lookup, deadline, None);
        }
    }

    /// Writes a message; a failed write ends the connection.
    fn write(&mut self, m: &UbusMsg) -> Result<(), UbusError> {
        let bytes = m.to_bytes();
        if bytes.len() > msg::HEADER_LEN + msg::MAX_MSGLEN {
            return Err(UbusError::TooLarge);
        }
        let Some(s) = self.stream.as_mut() else {
            return Err(UbusError::NotConnected);
        };
        if let Err(e) = s.write_all(&bytes) {
            self.disconnect(&format!("write: {e}"));
            return Err(UbusError::Disconnected);
        }
        Ok(())
    }

    /// Sends a request and records it as pending under a fresh (seq, peer).
    fn start(&mut self, typ: MsgType, peer: u32, attrs: Vec<Attr>, deadline: Instant, job: Job) {
        if self.stream.is_none() {
            return job.fail(UbusError::NotConnected);
        }
        let free = (0..=u16::MAX).find(|_| {
            self.seq = self.seq.wrapping_add(1);
            !self.pending.contains_key(&(self.seq, peer))
        });
        if free.is_none() {
            return job.fail(UbusError::InvalidRequest("every sequence number is in use"));
        }
        let seq = self.seq;
        match self.write(&UbusMsg::new(typ, seq, peer, attrs)) {
            Ok(()) => {
                let p = Pending {
                    deadline,
                    datas: Vec::new(),
                    job,
                };
                self.pending.insert((seq, peer), p);
            }
            Err(e) => job.fail(e),
        }
    }

    // ---- traffic from ubusd ----

    fn on_incoming(&mut self, inc: Incoming) {
        let m = match inc {
            Incoming::Closed(why) => return self.disconnect(&why),
            Incoming::Msg(m) => m,
        };
        match m.typ {
            MsgType::Data | MsgType::Status => self.on_reply(m),
            MsgType::Invoke => self.on_invoke(m),
            MsgType::Notify => {
                let (Some(id), Some(active)) = (m.objid(), m.active()) else {
                    return;
                };
                if let Some(o) = self.objects.iter().find(|o| o.id == Some(id)) {
                    let object = o.obj.name.clone();
                    self.emit(UbusEvent::Subscribers { object, active });
                }
            }
            MsgType::Unsubscribe => {
                let Some(id) = m.objid() else { return };
                if let Some(i) = self.subs.iter().position(|s| s.anon == Some(id)) {
                    let object = self.subs.remove(i).path;
                    log::info!("ubus: subscription to {object} ended");
                    let deadline = Instant::now() + self.setup_timeout;
                    let attrs = vec![Attr::ObjId(id)];
                    self.start(MsgType::RemoveObject, 0, attrs, deadline, Job::Ignore);
                    self.emit(UbusEvent::Unsubscribed { object });
                }
            }
            _ => log::debug!("ubus: ignored {m}"),
        }
    }

    fn on_reply(&mut self, m: UbusMsg) {
        let key = (m.seq, m.peer);
        let Some(p) = self.pending.get_mut(&key) else {
            log::debug!("ubus: dropped {m}: nobody waits for it");
            return;
        };
        if m.typ == MsgType::Data {
            p.datas.push(m);
            return;
        }
        let code = m.status().unwrap_or(status::UNKNOWN_ERROR);
        if let Some(p) = self.pending.remove(&key) {
            self.on_status(p, code);
        }
    }

    /// A request ended with `code`: answer its waiter or start its next step.
    fn on_invoke(&mut self, mut m: UbusMsg) {
        let Some(objid) = m.objid() else {
            return log::debug!("ubus: dropped {m}: no object id");
        };
        let method = m.method().unwrap_or_default().to_string();
        let data = m.take_data().unwrap_or_default();
        if Some(objid) == self.listener_obj {
            // Event delivery (peer 0): ubusd drops any reply, so none is sent.
            let data = blobmsg::table_to_json(&data);
            return self.emit(UbusEvent::Event { name: method, data });
        }
        if let Some(sub) = self.subs.iter().find(|s| s.anon == Some(objid)) {
            let (object, data) = (sub.path.clone(), blobmsg::table_to_json(&data));
            self.emit(UbusEvent::Notification {
                object,
                method,
                data,
            });
            return self.reply(m.seq, m.peer, objid, status::OK, None);
        }
        let Some(o) = self.objects.iter_mut().find(|o| o.id == Some(objid)) else {
            return self.reply(m.seq, m.peer, objid, status::NOT_FOUND, None);
        };
        if !o.obj.methods.iter().any(|x| x.name == method) {
            return self.reply(m.seq, m.peer, objid, status::METHOD_NOT_FOUND, None);
        }
        let (code, body) = (o.obj.handler)(&method, blobmsg::table_to_json(&data));
        let body = body.and_then(|b| match blobmsg::table_from_json(&b) {
            Ok(mut t) => {
                blobmsg::order_table(&mut t, o.obj.key_order);
                Some(t)
            }
            Err(_) => {
                log::warn!(
                    "ubus: {}.{method} replied with a non-object; dropped",
                    o.obj.name
                );
                None
            }
        });
        self.reply(m.seq, m.peer, objid, code, body);
    }

    /// Answers an incoming call: DATA (when there is a body) then STATUS, same seq and
    /// peer as the INVOKE, our OBJID in both.
    fn reply(&mut self, seq: u16, peer: u32, objid: u32, code: u32, body: Option<Table>) {
        if let Some(body) = body {
            let m = UbusMsg::new(
                MsgType::Data,
                seq,
                peer,
                vec![Attr::ObjId(objid), Attr::Data(body)],
            );
            if let Err(e) = self.write(&m) {
                log::warn!("ubus: reply not sent: {e}");
                if e == UbusError::TooLarge {
                    // Still end the call, so the caller does not wait for its timeout.
                    return self.reply(seq, peer, objid, status::UNKNOWN_ERROR, None);
                }
                return;
            }
        }
        let m = UbusMsg::new(
            MsgType::Status,
            seq,
            peer,
            vec![Attr::Status(code), Attr::ObjId(objid)],
        );
        if let Err(e) = self.write(&m) {
            log::warn!("ubus: reply not sent: {e}");
        }
    }
}
