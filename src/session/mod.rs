//! One CWMP session with the ACS as a sans-IO state machine (digest section 6.1).
//!
//! No sockets, threads or clock here. The driver (the agent) calls, in this order:
//! 1. [`Session::poll`] until it returns `None`, acting on each [`Output`]:
//!    `Post` → send the body (empty = empty POST) and feed the reply to
//!    [`Session::handle_reply`] (or [`Session::handle_transport_error`]);
//!    `Request` → run the RPC and give the answer to [`Session::answer`];
//!    `Delivered` → persist what the ACS has now acknowledged;
//!    `Done` → the session is over.
//! 2. Repeat after each input.

#[cfg(test)]
mod tests;

use crate::fault::FaultCode;
use crate::soap::{
    self, AcsMessage, AcsRequest, AcsResponse, CpeRequest, CpeResponse, CwmpNs, HeaderOpts,
};
use std::collections::VecDeque;
use std::fmt;

/// How many times a request answered with ACS fault 8005 is sent again.
const MAX_8005_RETRIES: u32 = 5;

/// Settings of one session.
#[derive(Clone, Debug)]
pub struct SessionOpts {
    /// Namespace of the Inform (`cwmp-1-2` normally, `cwmp-1-0` after an 8006 fallback).
    pub ns: CwmpNs,
    /// Header extras of the Inform (SessionTimeout, SupportedCWMPVersions).
    pub inform_header: HeaderOpts,
    /// Prefix of our own `cwmp:ID`s (e.g. the pid), made unique with a counter.
    pub id_prefix: String,
    /// Decoding budgets for the ACS's messages (a request over them gets fault 9004).
    pub limits: soap::Limits,
}

/// Why a session failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The HTTP exchange failed (connect, TLS, timeout, auth...).
    Transport(String),
    /// The ACS answered an HTTP status other than 200/204.
    HttpStatus(u16),
    /// The ACS sent something that is not a usable envelope.
    Malformed(String),
    /// The ACS faulted the Inform.
    InformFault(FaultCode, String),
    /// The ACS sent a message that does not fit the session's state.
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// What arrived.
        got: String,
    },
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Transport(e) => write!(f, "transport error: {e}"),
            SessionError::HttpStatus(s) => write!(f, "ACS answered HTTP {s}"),
            SessionError::Malformed(e) => write!(f, "malformed message from ACS: {e}"),
            SessionError::InformFault(c, m) => write!(f, "ACS faulted the Inform: {c} {m}"),
            SessionError::Unexpected { expected, got } => {
                write!(f, "expected {expected}, ACS sent {got}")
            }
        }
    }
}

/// What the ACS has acknowledged, for the driver to persist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// The InformResponse arrived: the Inform's plain events are delivered.
    Inform {
        /// The cwmp version the ACS chose (`UseCWMPVersion`), if it said.
        use_version: Option<String>,
        /// The namespace the ACS answered in.
        ns: CwmpNs,
    },
    /// The ACS answered one of our requests (`index` in the order given to [`Session::new`]).
    CpeRequest {
        /// Position of the request.
        index: usize,
        /// The response (a TransferCompleteResponse...).
        response: AcsResponse,
    },
    /// The ACS faulted one of our requests other than the Inform; it is dropped for this session.
    CpeRequestFaulted {
        /// Position of the request.
        index: usize,
        /// The fault code.
        code: FaultCode,
    },
}

/// What the driver must do next.
#[derive(Debug, PartialEq)]
#[must_use]
pub enum Output {
    /// POST this body to the ACS (empty = empty POST).
    Post(Vec<u8>),
    /// The ACS asks this; answer with [`Session::answer`].
    Request(AcsRequest),
    /// Something was acknowledged; persist it before going on.
    Delivered(Delivered),
    /// The session is over.
    Done(Result<(), SessionError>),
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum State {
    /// The Inform is ready to be posted.
    Start,
    /// Waiting for the InformResponse.
    InformSent,
    /// Waiting for the response to our request number `usize`.
    CpeRequestSent(usize),
    /// Our empty POST or an answer is out; the ACS may send a request or end.
    AcsTurn,
    /// An ACS request is with the driver.
    Answering,
    /// Finished.
    Ended,
}

/// A session in progress. See the module docs for the calling order.
#[derive(Debug)]
pub struct Session {
    state: State,
    opts: SessionOpts,
    inform: Option<CpeRequest>,
    /// Our requests after the Inform, with their original index.
    cpe_requests: VecDeque<(usize, CpeRequest)>,
    hold_requests: bool,
    ns: CwmpNs,
    next_id: u32,
    /// The ID of the ACS request being answered.
    acs_id: Option<String>,
    /// Body of our last request, for 8005 retries (answers are never resent, and a large
    /// GetParameterValuesResponse is not worth a second copy).
    last_request: Vec<u8>,
    retries_8005: u32,
    outputs: VecDeque<Output>,
}

impl Session {
    /// A session that will send `inform` and then `requests` (TransferComplete, GetRPCMethods...).
    pub fn new(inform: soap::Inform, requests: Vec<CpeRequest>, opts: SessionOpts) -> Session {
        Session {
            state: State::Start,
            ns: opts.ns,
            opts,
            inform: Some(CpeRequest::Inform(inform)),
            cpe_requests: requests.into_iter().enumerate().collect(),
            hold_requests: false,
            next_id: 0,
            acs_id: None,
            last_request: Vec::new(),
            retries_8005: 0,
            outputs: VecDeque::new(),
        }
    }

    /// The namespace in use (negotiated once the InformResponse arrived).
    pub fn ns(&self) -> CwmpNs {
        self.ns
    }

    /// True once the session is over.
    pub fn is_done(&self) -> bool {
        self.state == State::Ended
    }

    /// The next thing to do, if any.
    pub fn poll(&mut self) -> Option<Output> {
        if self.state == State::Start {
            if let Some(inform) = self.inform.take() {
                let id = self.new_id();
                let body = soap::encode_request(&inform, &id, self.ns, &self.opts.inform_header);
                self.state = State::InformSent;
                self.post(body);
            }
        }
        self.outputs.pop_front()
    }

    /// Feeds the ACS's HTTP reply to the last POST (status 200 or 204, body maybe empty).
    pub fn handle_reply(&mut self, status: u16, body: &[u8]) {
        if matches!(self.state, State::Ended | State::Answering | State::Start) {
            return;
        }
        if status != 200 && status != 204 {
            return self.fail(SessionError::HttpStatus(status));
        }
        let empty = status == 204 || body.iter().all(u8::is_ascii_whitespace);
        if empty {
            // HoldRequests holds for one message only; an empty reply carries none.
            self.hold_requests = false;
            return self.on_empty_reply();
        }
        match soap::decode_with(body, &self.opts.limits) {
            Ok(env) => {
                self.hold_requests = env.header.hold_requests;
                self.on_message(env.ns, env.header, env.body);
            }
            Err(e) if e.is_request && self.state == State::AcsTurn => {
                // A request we cannot serve: answer with its fault, the session goes on.
                let body = soap::encode_response(
                    &CpeResponse::Fault(e.fault),
                    e.id.as_deref(),
                    self.ns.for_output(),
                );
                self.post(body);
            }
            Err(e) => self.fail(SessionError::Malformed(e.to_string())),
        }
    }

    /// The HTTP exchange failed.
    pub fn handle_transport_error(&mut self, err: String) {
        if self.state != State::Ended {
            self.fail(SessionError::Transport(err));
        }
    }

    /// The answer to the ACS request last returned as [`Output::Request`].
    pub fn answer(&mut self, resp: CpeResponse) {
        if self.state != State::Answering {
            return;
        }
        let id = self.acs_id.take();
        let body = soap::encode_response(&resp, id.as_deref(), self.ns.for_output());
        self.state = State::AcsTurn;
        self.post(body);
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}.{}", self.opts.id_prefix, self.next_id)
    }

    fn post(&mut self, body: Vec<u8>) {
        self.outputs.push_back(Output::Post(body));
    }

    fn fail(&mut self, err: SessionError) {
        self.state = State::Ended;
        self.outputs.push_back(Output::Done(Err(err)));
    }

    fn finish(&mut self) {
        self.state = State::Ended;
        self.outputs.push_back(Output::Done(Ok(())));
    }

    /// Our turn to talk: send the next request of ours, or an empty POST.
    fn cpe_turn(&mut self) {
        if !self.hold_requests {
            if let Some((index, req)) = self.cpe_requests.front().cloned() {
                let id = self.new_id();
                let body =
                    soap::encode_request(&req, &id, self.ns.for_output(), &HeaderOpts::default());
                self.retries_8005 = 0;
                self.state = State::CpeRequestSent(index);
                self.last_request.clone_from(&body);
                return self.post(body);
            }
        }
        self.state = State::AcsTurn;
        self.post(Vec::new());
    }

    fn on_empty_reply(&mut self) {
        match self.state {
            State::AcsTurn => {
                // The ACS has nothing more. If we still have requests (and may send them), go
                // on; otherwise the session is over.
                if !self.cpe_requests.is_empty() && !self.hold_requests {
                    self.cpe_turn();
                } else {
                    self.finish();
                }
            }
            State::InformSent => self.fail(SessionError::Unexpected {
                expected: "InformResponse",
                got: "an empty reply".into(),
            }),
            _ => self.fail(SessionError::Unexpected {
                expected: "a response to our request",
                got: "an empty reply".into(),
            }),
        }
    }

    fn on_message(&mut self, ns: CwmpNs, header: soap::Header, msg: AcsMessage) {
        match (self.state, msg) {
            (State::InformSent, AcsMessage::Response(AcsResponse::InformResponse { .. })) => {
                // The ACS's UseCWMPVersion picks the version of the rest of the session;
                // without it (or with one we cannot read) its namespace does (digest 2.4).
                let chosen = header
                    .use_cwmp_version
                    .as_deref()
                    .and_then(CwmpNs::from_version)
                    .unwrap_or(ns);
                self.ns = chosen.for_output();
                self.outputs.push_back(Output::Delivered(Delivered::Inform {
                    use_version: header.use_cwmp_version,
                    ns,
                }));
                self.cpe_turn();
            }
            (State::InformSent, AcsMessage::Fault(f)) => {
                self.fail(SessionError::InformFault(f.code, f.message))
            }
            (State::CpeRequestSent(index), AcsMessage::Response(response)) => {
                self.cpe_requests.pop_front();
                self.outputs
                    .push_back(Output::Delivered(Delivered::CpeRequest { index, response }));
                self.cpe_turn();
            }
            (State::CpeRequestSent(index), AcsMessage::Fault(f)) => {
                if f.code == FaultCode::ACS_RETRY_REQUEST && self.retries_8005 < MAX_8005_RETRIES {
                    self.retries_8005 += 1;
                    let body = self.last_request.clone();
                    return self.post(body);
                }
                self.cpe_requests.pop_front();
                self.outputs
                    .push_back(Output::Delivered(Delivered::CpeRequestFaulted {
                        index,
                        code: f.code,
                    }));
                self.cpe_turn();
            }
            (State::AcsTurn, AcsMessage::Request(req)) => {
                if let Some(h) = header.not_understood {
                    // SOAP 1.1: the request is not processed; the session goes on.
                    let body = soap::encode_must_understand_fault(
                        &h,
                        header.id.as_deref(),
                        self.ns.for_output(),
                    );
                    return self.post(body);
                }
                self.acs_id = header.id;
                self.state = State::Answering;
                self.outputs.push_back(Output::Request(req));
            }
            (state, msg) => {
                let got = match msg {
                    AcsMessage::Request(r) => r.method_name().to_string(),
                    AcsMessage::Response(r) => format!("{r:?}"),
                    AcsMessage::Fault(f) => format!("fault {}", f.code),
                };
                let expected = match state {
                    State::InformSent => "InformResponse",
                    State::CpeRequestSent(_) => "a response to our request",
                    _ => "an ACS request or an empty reply",
                };
                self.fail(SessionError::Unexpected { expected, got });
            }
        }
    }
}
