//! A ubusd-compatible broker on a unix socket, for the unit tests: HELLO, PING,
//! LOOKUP, ADD/REMOVE_OBJECT, INVOKE forwarding with DATA/STATUS relay, the event object
//! (`register`, `send`, `ubus.object.add/remove`), SUBSCRIBE/UNSUBSCRIBE/NOTIFY.
//!
//! Replies follow ubusd's shapes (checked against the recorded vectors in the tests). Test
//! hooks: [`Broker::inject`] writes raw bytes (garbage, absurd lengths) to every client, and
//! [`Broker::stop`] closes the socket and every connection, so a test can start a new
//! broker on the same path. No ACLs: every client is root.
//!
//! Compiled for the library's unit tests only (`cfg(test)`): nothing of it ships in the
//! daemon, and the integration tests use OpenWrt's real ubusd (benches/common/ubusd.rs).

use super::blobmsg::{self, BlobmsgValue, Table};
use super::msg::{self, Attr, MsgType, UbusMsg};
use super::status;
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const EVENT_OBJECT: u32 = 1;

enum In {
    Accept(UnixStream),
    Msg(u32, UbusMsg),
    Gone(u32),
    Inject(Vec<u8>),
    Objects(Sender<Vec<(String, u32)>>),
    Stop,
}

/// A running broker; stops on drop.
pub struct Broker {
    path: PathBuf,
    tx: Sender<In>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Broker {
    /// Listens on `path` (a stale socket file there is removed first).
    ///
    /// # Errors
    /// The socket cannot be bound, or a thread not started.
    pub fn start(path: &Path) -> io::Result<Broker> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let (atx, astop) = (tx.clone(), stop.clone());
        let acceptor = std::thread::Builder::new()
            .name("broker-accept".into())
            .spawn(move || {
                for s in listener.incoming() {
                    if astop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(s) = s {
                        if atx.send(In::Accept(s)).is_err() {
                            break;
                        }
                    }
                }
            })?;
        let btx = tx.clone();
        let central = std::thread::Builder::new()
            .name("broker".into())
            .spawn(move || State::new(btx).run(&rx))?;
        Ok(Broker {
            path: path.to_path_buf(),
            tx,
            stop,
            threads: vec![acceptor, central],
        })
    }

    /// Writes `bytes` as they are to every connected client.
    pub fn inject(&self, bytes: Vec<u8>) {
        let _ = self.tx.send(In::Inject(bytes));
    }

    /// The named objects registered now: (path, id).
    pub fn objects(&self) -> Vec<(String, u32)> {
        let (tx, rx) = bounded(1);
        let _ = self.tx.send(In::Objects(tx));
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
    }

    /// Closes the listening socket and every client connection ("kills ubusd").
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor blocked in accept() (tiny_http's trick).
        let _ = UnixStream::connect(&self.path);
        let _ = self.tx.send(In::Stop);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Object {
    path: Option<String>,
    type_id: Option<u32>,
    owner: u32,
    /// Subscriber object ids.
    subscribers: Vec<u32>,
}

struct State {
    tx: Sender<In>,
    clients: HashMap<u32, UnixStream>,
    objects: BTreeMap<u32, Object>,
    types: HashMap<u32, Table>,
    /// (listener object id, pattern).
    listeners: Vec<(u32, String)>,
    rng: u32,
    event_seq: u16,
}

fn status_msg(req: &UbusMsg, code: u32) -> UbusMsg {
    UbusMsg::new(MsgType::Status, req.seq, req.peer, vec![Attr::Status(code)])
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl State {
    fn new(tx: Sender<In>) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() | 1);
        State {
            tx,
            clients: HashMap::new(),
            objects: BTreeMap::new(),
            types: HashMap::new(),
            listeners: Vec::new(),
            rng: seed,
            event_seq: 0,
        }
    }

    fn run(mut self, rx: &Receiver<In>) {
        while let Ok(m) = rx.recv() {
            match m {
                In::Accept(s) => self.accept(s),
                In::Msg(c, m) => {
                    if self.clients.contains_key(&c) {
                        self.handle(c, m);
                    }
                }
                In::Gone(c) => self.gone(c),
                In::Inject(bytes) => {
                    for s in self.clients.values_mut() {
                        let _ = s.write_all(&bytes);
                    }
                }
                In::Objects(reply) => {
                    let list = self
                        .objects
                        .iter()
                        .filter_map(|(id, o)| Some((o.path.clone()?, *id)))
                        .collect();
                    let _ = reply.send(list);
                }
                In::Stop => break,
            }
        }
        for s in self.clients.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// A random-looking id >= 1024 not in use (ubusd's ids are random too).
    fn new_id(&mut self) -> u32 {
        loop {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 17;
            self.rng ^= self.rng << 5;
            let id = self.rng;
            let used = self.clients.contains_key(&id)
                || self.objects.contains_key(&id)
                || self.types.contains_key(&id);
            if id >= 1024 && !used {
                return id;
            }
        }
    }

    fn accept(&mut self, s: UnixStream) {
        let id = self.new_id();
        let (Ok(mut reader), Ok(())) = (
            s.try_clone(),
            s.set_write_timeout(Some(Duration::from_secs(5))),
        ) else {
            return;
        };
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("broker-rx".into())
            .spawn(move || loop {
                match msg::read_frame(&mut reader) {
                    Ok(b) => match UbusMsg::parse(&b) {
                        Ok(m) => {
                            if tx.send(In::Msg(id, m)).is_err() {
                                break;
                            }
                        }
                        Err(e) => log::debug!("broker: dropped a message from {id:08x}: {e}"),
                    },
                    Err(_) => {
                        let _ = tx.send(In::Gone(id));
                        break;
                    }
                }
            });
        if spawned.is_ok() {
            self.clients.insert(id, s);
            self.send(id, &UbusMsg::new(MsgType::Hello, 0, id, vec![]));
        }
    }

    fn send(&mut self, client: u32, m: &UbusMsg) {
        if let Some(s) = self.clients.get_mut(&client) {
            if let Err(e) = s.write_all(&m.to_bytes()) {
                log::debug!("broker: write to {client:08x} failed: {e}");
            }
        }
    }

    fn handle(&mut self, c: u32, m: UbusMsg) {
        match m.typ {
            MsgType::Ping => {
                let echo = UbusMsg::new(MsgType::Data, m.seq, m.peer, m.attrs.clone());
                self.send(c, &echo);
                self.send(c, &status_msg(&m, status::OK));
            }
            MsgType::Lookup => self.lookup(c, &m),
            MsgType::AddObject => self.add_object(c, &m),
            MsgType::RemoveObject => {
                let code = match m.objid().map(|id| (id, self.objects.get(&id))) {
                    Some((id, Some(o))) if o.owner == c => {
                        let data =
                            UbusMsg::new(MsgType::Data, m.seq, m.peer, vec![Attr::ObjId(id)]);
                        self.send(c, &data);
                        self.remove_object(id);
                        status::OK
                    }
                    Some((_, Some(_))) => status::PERMISSION_DENIED,
                    Some((_, None)) => status::NOT_FOUND,
                    None => status::INVALID_ARGUMENT,
                };
                self.send(c, &status_msg(&m, code));
            }
            MsgType::Invoke => self.invoke(c, m),
            MsgType::Data | MsgType::Status => self.relay(c, m),
            MsgType::Subscribe | MsgType::Unsubscribe => {
                let code = self.subscribe(c, &m);
                self.send(c, &status_msg(&m, code));
            }
            MsgType::Notify => self.notify(c, m),
            _ => self.send(c, &status_msg(&m, status::INVALID_COMMAND)),
        }
    }

    fn lookup(&mut self, c: u32, m: &UbusMsg) {
        let path = m.objpath();
        if path.as_deref() == Some("") {
            return self.send(c, &status_msg(m, status::INVALID_ARGUMENT));
        }
        let mut found = Vec::new();
        for (id, o) in &self.objects {
            let (Some(p), Some(t)) = (&o.path, o.type_id) else {
                continue;
            };
            if path.as_deref().is_none_or(|want| matches(want, p)) {
                let attrs = vec![
                    Attr::ObjPath(p.clone()),
                    Attr::ObjId(*id),
                    Attr::ObjType(t),
                    Attr::Signature(self.types.get(&t).cloned().unwrap_or_default()),
                ];
                found.push(UbusMsg::new(MsgType::Data, m.seq, m.peer, attrs));
            }
        }
        let code = if found.is_empty() {
            status::NOT_FOUND
        } else {
            status::OK
        };
        for d in &found {
            self.send(c, d);
        }
        self.send(c, &status_msg(m, code));
    }

    fn add_object(&mut self, c: u32, m: &UbusMsg) {
        let path = m.objpath();
        if path
            .as_ref()
            .is_some_and(|p| self.objects.values().any(|o| o.path.as_ref() == Some(p)))
        {
            return self.send(c, &status_msg(m, status::INVALID_ARGUMENT));
        }
        let (type_id, new_type) = match (m.objtype(), m.signature()) {
            (Some(t), _) if self.types.contains_key(&t) => (Some(t), false),
            (Some(_), _) => return self.send(c, &status_msg(m, status::INVALID_ARGUMENT)),
            (None, Some(sig)) => {
                let t = self.new_id();
                self.types.insert(t, sig.clone());
                (Some(t), true)
            }
            (None, None) => (None, false),
        };
        let id = self.new_id();
        let mut attrs = vec![Attr::ObjId(id)];
        if let (Some(t), true) = (type_id, new_type) {
            attrs.push(Attr::ObjType(t));
        }
        let object = Object {
            path: path.clone(),
            type_id,
            owner: c,
            subscribers: Vec::new(),
        };
        self.objects.insert(id, object);
        self.send(c, &UbusMsg::new(MsgType::Data, m.seq, m.peer, attrs));
        self.send(c, &status_msg(m, status::OK));
        if let Some(p) = path {
            self.system_event("ubus.object.add", id, &p);
        }
    }

    fn remove_object(&mut self, id: u32) {
        let Some(o) = self.objects.remove(&id) else {
            return;
        };
        self.listeners.retain(|(l, _)| *l != id);
        for sub in o.subscribers {
            if let Some(owner) = self.objects.get(&sub).map(|s| s.owner) {
                let attrs = vec![Attr::ObjId(sub), Attr::Target(id)];
                self.send(owner, &UbusMsg::new(MsgType::Unsubscribe, 0, 0, attrs));
            }
        }
        let targets: Vec<u32> = self
            .objects
            .iter()
            .filter(|(_, t)| t.subscribers.contains(&id))
            .map(|(t, _)| *t)
            .collect();
        for t in targets {
            self.unsubscribe(t, id);
        }
        if let Some(p) = o.path {
            self.system_event("ubus.object.remove", id, &p);
        }
    }

    fn gone(&mut self, c: u32) {
        let Some(s) = self.clients.remove(&c) else {
            return;
        };
        let _ = s.shutdown(Shutdown::Both);
        let owned: Vec<u32> = self
            .objects
            .iter()
            .filter(|(_, o)| o.owner == c)
            .map(|(id, _)| *id)
            .collect();
        owned.into_iter().for_each(|id| self.remove_object(id));
    }

    fn system_event(&mut self, name: &str, id: u32, path: &str) {
        let data = vec![
            ("id".into(), BlobmsgValue::Int32(id as i32)),
            ("path".into(), BlobmsgValue::String(path.into())),
        ];
        self.deliver_event(None, name, &data);
    }

    /// Delivers an event to every matching listener, except those of the sender.
    fn deliver_event(&mut self, from: Option<u32>, name: &str, data: &Table) {
        let targets: Vec<(u32, u32)> = self
            .listeners
            .iter()
            .filter(|(_, p)| matches(p, name))
            .filter_map(|(l, _)| Some((*l, self.objects.get(l)?.owner)))
            .filter(|(_, owner)| Some(*owner) != from)
            .collect();
        for (obj, owner) in targets {
            self.event_seq = self.event_seq.wrapping_add(1);
            let attrs = vec![
                Attr::ObjId(obj),
                Attr::Method(name.into()),
                Attr::Data(data.clone()),
            ];
            self.send(
                owner,
                &UbusMsg::new(MsgType::Invoke, self.event_seq, 0, attrs),
            );
        }
    }

    fn invoke(&mut self, c: u32, m: UbusMsg) {
        let (Some(id), Some(method)) = (m.objid(), m.method().map(String::from)) else {
            return self.send(c, &status_msg(&m, status::INVALID_ARGUMENT));
        };
        if id == EVENT_OBJECT {
            let code = self.event_object(c, &method, m.data());
            return self.send(c, &status_msg(&m, code));
        }
        let Some(owner) = self.objects.get(&id).map(|o| o.owner) else {
            return self.send(c, &status_msg(&m, status::NOT_FOUND));
        };
        let attrs = vec![
            Attr::ObjId(id),
            Attr::Method(method),
            Attr::User("root".into()),
            Attr::Group("root".into()),
            Attr::Data(m.data().cloned().unwrap_or_default()),
        ];
        self.send(owner, &UbusMsg::new(MsgType::Invoke, m.seq, c, attrs));
    }

    /// Methods of the built-in event object; returns the status.
    fn event_object(&mut self, c: u32, method: &str, data: Option<&Table>) -> u32 {
        let data = data.cloned().unwrap_or_default();
        match method {
            "register" => {
                // ubusd's policy wants exactly INT32 and STRING.
                let obj = match blobmsg::get(&data, "object") {
                    Some(BlobmsgValue::Int32(v)) => *v as u32,
                    _ => return status::INVALID_ARGUMENT,
                };
                let Some(pattern) = blobmsg::get(&data, "pattern").and_then(|p| p.as_str()) else {
                    return status::INVALID_ARGUMENT;
                };
                if self.objects.get(&obj).is_none_or(|o| o.owner != c) {
                    return status::PERMISSION_DENIED;
                }
                self.listeners.push((obj, pattern.to_string()));
                status::OK
            }
            "send" => {
                let id = blobmsg::get(&data, "id")
                    .and_then(|v| v.as_str())
                    .map(String::from);
                let (Some(id), Some(BlobmsgValue::Table(body))) = (id, blobmsg::get(&data, "data"))
                else {
                    return status::INVALID_ARGUMENT;
                };
                if id.starts_with("ubus.") {
                    return status::PERMISSION_DENIED;
                }
                let body = body.clone();
                self.deliver_event(Some(c), &id, &body);
                status::OK
            }
            _ => status::METHOD_NOT_FOUND,
        }
    }

    /// Relays an object's DATA/STATUS to the caller named by `peer`, with peer = object id;
    /// malformed or foreign replies are dropped as ubusd does.
    fn relay(&mut self, c: u32, mut m: UbusMsg) {
        let Some(id) = m.objid() else { return };
        if self.objects.get(&id).is_none_or(|o| o.owner != c) {
            return;
        }
        let complete = match m.typ {
            MsgType::Data => m.data().is_some(),
            _ => m.status().is_some(),
        };
        if !complete {
            return;
        }
        let caller = m.peer;
        m.peer = id;
        self.send(caller, &m);
    }

    fn subscribe(&mut self, c: u32, m: &UbusMsg) -> u32 {
        let (Some(sub), Some(target)) = (m.objid(), m.target()) else {
            return status::INVALID_ARGUMENT;
        };
        if self.objects.get(&sub).is_none_or(|o| o.owner != c) {
            return status::PERMISSION_DENIED;
        }
        if m.typ == MsgType::Unsubscribe {
            self.unsubscribe(target, sub);
            return status::OK;
        }
        let Some(t) = self.objects.get_mut(&target) else {
            return status::NOT_FOUND;
        };
        if !t.subscribers.contains(&sub) {
            t.subscribers.push(sub);
            if t.subscribers.len() == 1 {
                let owner = t.owner;
                self.active(owner, target, true);
            }
        }
        status::OK
    }

    fn unsubscribe(&mut self, target: u32, sub: u32) {
        let Some(t) = self.objects.get_mut(&target) else {
            return;
        };
        let before = t.subscribers.len();
        t.subscribers.retain(|s| *s != sub);
        if before > 0 && t.subscribers.is_empty() {
            let owner = t.owner;
            self.active(owner, target, false);
        }
    }

    fn active(&mut self, owner: u32, target: u32, active: bool) {
        self.event_seq = self.event_seq.wrapping_add(1);
        let attrs = vec![Attr::ObjId(target), Attr::Active(active)];
        self.send(
            owner,
            &UbusMsg::new(MsgType::Notify, self.event_seq, 0, attrs),
        );
    }

    fn notify(&mut self, c: u32, m: UbusMsg) {
        let (Some(id), Some(method)) = (m.objid(), m.method().map(String::from)) else {
            return self.send(c, &status_msg(&m, status::INVALID_ARGUMENT));
        };
        let subs = match self.objects.get(&id) {
            Some(o) if o.owner == c => o.subscribers.clone(),
            _ => return self.send(c, &status_msg(&m, status::PERMISSION_DENIED)),
        };
        let data = m.data().cloned().unwrap_or_default();
        for sub in &subs {
            let Some(owner) = self.objects.get(sub).map(|o| o.owner) else {
                continue;
            };
            let attrs = vec![
                Attr::ObjId(*sub),
                Attr::Method(method.clone()),
                Attr::User("root".into()),
                Attr::Group("root".into()),
                Attr::Data(data.clone()),
            ];
            self.send(owner, &UbusMsg::new(MsgType::Invoke, m.seq, c, attrs));
        }
        if m.no_reply() != Some(true) {
            let attrs = vec![
                Attr::ObjId(id),
                Attr::Subscribers(subs),
                Attr::Status(status::OK),
            ];
            self.send(c, &UbusMsg::new(MsgType::Status, m.seq, m.peer, attrs));
        }
    }
}
