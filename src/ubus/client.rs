//! The ubus client API: [`UbusThread::spawn`] starts a dedicated `ubus` thread that owns
//! one persistent connection to ubusd; the cloneable [`UbusHandle`] makes synchronous calls
//! with timeouts from any thread; events arrive on a crossbeam `Receiver<UbusEvent>`.
//!
//! Methods of our own objects are served by their [`Handler`] on the ubus thread itself, so
//! replies never wait for the main loop. When ubusd goes away, every pending request fails
//! at once, new requests fail with [`UbusError::NotConnected`], and the thread reconnects
//! with back-off and registers objects, event listeners and subscriptions again.

use super::blobmsg::{self, BlobmsgType, BlobmsgValue, Table};
use super::conn::{Actor, Cmd};
use super::UbusError;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use serde_json::Value as Json;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The default socket paths, newest first (OpenWrt 21.02+, then 19.07 and earlier).
pub const DEFAULT_SOCKETS: [&str; 2] = ["/var/run/ubus/ubus.sock", "/var/run/ubus.sock"];

/// Serves a method call on one of our objects: `(method, args) -> (status, reply body)`.
/// The reply, when given, must be a JSON object. Runs on the ubus thread: keep it short, and
/// never call a [`UbusHandle`] from it (the thread that would answer is the one waiting).
pub type Handler = Box<dyn FnMut(&str, Json) -> (u32, Option<Json>) + Send>;

/// One method of an object we register, with its argument policy (names and types, as
/// `ubus -v list` shows them).
#[derive(Clone, Debug, PartialEq)]
pub struct UbusMethod {
    /// Method name.
    pub name: String,
    /// Arguments and their blobmsg types.
    pub args: Vec<(String, BlobmsgType)>,
}

impl UbusMethod {
    /// A method called `name` taking `args`.
    pub fn new(name: &str, args: &[(&str, BlobmsgType)]) -> Self {
        UbusMethod {
            name: name.into(),
            args: args.iter().map(|(n, t)| ((*n).into(), *t)).collect(),
        }
    }
}

/// An object we register on the bus (e.g. `tr069`).
pub struct UbusObject {
    /// Object path.
    pub name: String,
    /// Its methods; calls to any other method get STATUS 3 without reaching the handler.
    pub methods: Vec<UbusMethod>,
    /// Serves the calls.
    pub handler: Handler,
    /// Reply members named here come first, in this order, at every depth (the rest follow
    /// in serde_json's sorted order): a drop-in for a C object replies in the C order.
    pub key_order: &'static [&'static str],
}

impl UbusObject {
    /// An object called `name` with `methods`, served by `handler`.
    pub fn new(
        name: &str,
        methods: Vec<UbusMethod>,
        handler: impl FnMut(&str, Json) -> (u32, Option<Json>) + Send + 'static,
    ) -> Self {
        UbusObject {
            name: name.into(),
            methods,
            handler: Box::new(handler),
            key_order: &[],
        }
    }

    /// The same object, its replies' members ordered as `order` says (see
    /// [`UbusObject::key_order`]).
    pub fn with_key_order(mut self, order: &'static [&'static str]) -> Self {
        self.key_order = order;
        self
    }

    /// The SIGNATURE attribute: one table per method, one INT32 type id per argument.
    pub(super) fn signature(&self) -> Table {
        self.methods
            .iter()
            .map(|m| {
                let args = m
                    .args
                    .iter()
                    .map(|(n, t)| (n.clone(), BlobmsgValue::Int32(i32::from(t.id()))))
                    .collect();
                (m.name.clone(), BlobmsgValue::Table(args))
            })
            .collect()
    }
}

/// An object found by [`UbusHandle::lookup`].
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectInfo {
    /// Object path.
    pub path: String,
    /// Object id (changes when its owner reconnects).
    pub id: u32,
    /// Type id (0 when ubusd sent none).
    pub type_id: u32,
    /// Method signatures: method name -> table of argument name -> INT32 type id.
    pub signature: Table,
}

impl ObjectInfo {
    /// Whether the object has a method called `name`.
    pub fn has_method(&self, name: &str) -> bool {
        blobmsg::get(&self.signature, name).is_some()
    }
}

/// What the ubus thread reports to the main loop.
#[derive(Clone, Debug, PartialEq)]
pub enum UbusEvent {
    /// Connected (or reconnected) to ubusd; registrations are under way.
    Connected {
        /// Our client id.
        client_id: u32,
    },
    /// The connection to ubusd was lost; the thread is reconnecting.
    Disconnected,
    /// An event matching one of our listener patterns.
    Event {
        /// Event name (e.g. `bbfdm.event`).
        name: String,
        /// Event data.
        data: Json,
    },
    /// A notification from an object we subscribed to.
    Notification {
        /// The object's path.
        object: String,
        /// Notification type.
        method: String,
        /// Notification data.
        data: Json,
    },
    /// The subscriber set of one of our objects became non-empty (`true`) or empty.
    Subscribers {
        /// Our object's path.
        object: String,
        /// Whether anybody is subscribed.
        active: bool,
    },
    /// An object we subscribed to went away; the subscription is forgotten.
    Unsubscribed {
        /// The object's path.
        object: String,
    },
}

/// Settings of the ubus thread.
pub struct UbusConfig {
    /// Socket path; `None` tries [`DEFAULT_SOCKETS`] in order.
    pub socket: Option<PathBuf>,
    /// Objects to register (again after every reconnect).
    pub objects: Vec<UbusObject>,
    /// Event patterns to listen to (`name`, or a prefix ending in `*`).
    pub listeners: Vec<String>,
    /// First reconnect delay; doubles after each failure.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How long to wait for ubusd's HELLO, and for internal registration requests.
    pub setup_timeout: Duration,
}

impl UbusConfig {
    /// Defaults: reconnect after 1 s doubling to 30 s, 5 s setup timeout.
    pub fn new(socket: Option<PathBuf>) -> Self {
        UbusConfig {
            socket,
            objects: Vec::new(),
            listeners: Vec::new(),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            setup_timeout: Duration::from_secs(5),
        }
    }
}

/// Starts the ubus thread.
pub struct UbusThread;

impl UbusThread {
    /// Starts the `ubus` thread on `socket` (or the default paths) with our `objects` and
    /// event `listeners`. The thread stops when the last handle is dropped.
    ///
    /// # Errors
    /// The thread could not be started. Not being able to reach ubusd is no error: the
    /// thread keeps trying.
    pub fn spawn(
        socket: Option<PathBuf>,
        objects: Vec<UbusObject>,
        listeners: Vec<String>,
    ) -> io::Result<(UbusHandle, Receiver<UbusEvent>)> {
        let mut cfg = UbusConfig::new(socket);
        cfg.objects = objects;
        cfg.listeners = listeners;
        Self::spawn_with(cfg)
    }

    /// Same as [`spawn`](Self::spawn) with every setting.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn_with(cfg: UbusConfig) -> io::Result<(UbusHandle, Receiver<UbusEvent>)> {
        let (tx, rx) = crossbeam_channel::unbounded();
        // Bounded so a main loop that stops reading cannot grow memory without limit; the
        // thread drops (and logs) events that do not fit.
        let (ev_tx, ev_rx) = bounded(1024);
        std::thread::Builder::new()
            .name("ubus".into())
            .spawn(move || Actor::new(cfg, rx, ev_tx).run())?;
        Ok((UbusHandle { tx }, ev_rx))
    }
}

/// Grace on top of a request's timeout for the ubus thread's own answer to arrive.
const GRACE: Duration = Duration::from_millis(200);

/// The main loop's side of the ubus thread: cheap to clone, `Send`.
#[derive(Clone, Debug)]
pub struct UbusHandle {
    tx: Sender<Cmd>,
}

type Reply<R> = Sender<Result<R, UbusError>>;

impl UbusHandle {
    fn request<R>(
        &self,
        timeout: Duration,
        make: impl FnOnce(Instant, Reply<R>) -> Cmd,
    ) -> Result<R, UbusError> {
        let (tx, rx) = bounded(1);
        self.tx
            .send(make(Instant::now() + timeout, tx))
            .map_err(|_| UbusError::Stopped)?;
        match rx.recv_timeout(timeout + GRACE) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(UbusError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(UbusError::Stopped),
        }
    }

    /// Calls `object.method` with a JSON object (or null) as arguments; returns the DATA
    /// replies as JSON objects. Numbers are typed as `ubus call` does (see
    /// [`BlobmsgValue::from_json`]); use [`call_blob`](Self::call_blob) for exact types.
    ///
    /// # Errors
    /// Non-zero status, timeout, no connection, or `args` not an object.
    pub fn call(
        &self,
        object: &str,
        method: &str,
        args: &Json,
        timeout: Duration,
    ) -> Result<Vec<Json>, UbusError> {
        let args = blobmsg::table_from_json(args)
            .map_err(|_| UbusError::InvalidRequest("arguments are not a JSON object"))?;
        let replies = self.call_blob(object, method, args, timeout)?;
        Ok(replies.iter().map(blobmsg::table_to_json).collect())
    }

    /// Calls `object.method` with blobmsg arguments; returns the DATA replies.
    ///
    /// # Errors
    /// Non-zero status, timeout, or no connection.
    pub fn call_blob(
        &self,
        object: &str,
        method: &str,
        args: Table,
        timeout: Duration,
    ) -> Result<Vec<Table>, UbusError> {
        self.request(timeout, |deadline, reply| Cmd::Call {
            object: object.into(),
            method: method.into(),
            args,
            deadline,
            reply,
        })
    }

    /// Looks objects up: an exact path, a prefix ending in `*`, or `""` for all of them.
    ///
    /// # Errors
    /// STATUS 4 when nothing matches, timeout, or no connection.
    pub fn lookup(&self, path: &str, timeout: Duration) -> Result<Vec<ObjectInfo>, UbusError> {
        self.request(timeout, |deadline, reply| Cmd::Lookup {
            path: path.into(),
            deadline,
            reply,
        })
    }

    /// Sends an event (`ubus send id data`); `data` must be a JSON object or null.
    ///
    /// # Errors
    /// Non-zero status (6 for names starting `ubus.`), timeout, or no connection.
    pub fn send_event(&self, id: &str, data: &Json, timeout: Duration) -> Result<(), UbusError> {
        let data = blobmsg::table_from_json(data)
            .map_err(|_| UbusError::InvalidRequest("event data is not a JSON object"))?;
        self.request(timeout, |deadline, reply| Cmd::SendEvent {
            id: id.into(),
            data,
            deadline,
            reply,
        })
    }

    /// Subscribes to the object at `path`; its notifications arrive as
    /// [`UbusEvent::Notification`]. Kept across reconnects until the object goes away.
    ///
    /// # Errors
    /// No such object, timeout, or no connection.
    pub fn subscribe(&self, path: &str, timeout: Duration) -> Result<(), UbusError> {
        self.request(timeout, |deadline, reply| Cmd::Subscribe {
            path: path.into(),
            deadline,
            reply,
        })
    }

    /// Notifies the subscribers of our object `object` (fire and forget: NO_REPLY).
    ///
    /// # Errors
    /// The object is not registered right now, or no connection.
    pub fn notify(&self, object: &str, method: &str, data: &Json) -> Result<(), UbusError> {
        let data = blobmsg::table_from_json(data)
            .map_err(|_| UbusError::InvalidRequest("notification data is not a JSON object"))?;
        self.request(Duration::from_secs(5), |_, reply| Cmd::Notify {
            object: object.into(),
            method: method.into(),
            data,
            reply,
        })
    }
}
