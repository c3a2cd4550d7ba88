//! STUN and UDP connection requests (TR-069 Annex G) against a real STUN server: coturn's
//! `turnserver`, started by the test on loopback (skipped with a message when not installed;
//! `make test-deps` installs it). The daemon learns its UDPConnectionRequestAddress from it,
//! serves it by GPV and `icwmpd -c get`, and opens a `6 CONNECTION REQUEST` session for a
//! valid UDP connection request only: replayed, stale and badly signed ones are refused and
//! logged.

mod common;

use common::acs::AcsOpts;
use common::netns::{in_netns, ip};
use common::soap::{gpv, value_of};
use common::{free_port, Rig, WAIT};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MS: &str = "Device.ManagementServer.";

/// A throw-away coturn on 127.0.0.1; killed on drop.
struct Turn {
    child: Child,
    port: u16,
}

impl Turn {
    fn start(dir: &std::path::Path) -> Option<Turn> {
        Turn::start_in(dir, None, "127.0.0.1", free_port())
    }

    /// coturn listening on `ip`:`port`, in network namespace `netns` when given.
    fn start_in(dir: &std::path::Path, netns: Option<&str>, ip: &str, port: u16) -> Option<Turn> {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "turnserver"]);
                c
            }
            None => Command::new("turnserver"),
        };
        let child = cmd
            .args(["-n", "--listening-ip", ip, "--listening-port"])
            .arg(port.to_string())
            .args([
                "--no-auth",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--log-file",
                "stdout",
                "--pidfile",
            ])
            .arg(dir.join("turnserver.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(Turn { child, port })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hmac_hex(key: &str, text: &str) -> String {
    use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
    let key = PKey::hmac(key.as_bytes()).expect("hmac key");
    let mut s = Signer::new(MessageDigest::sha1(), &key).expect("signer");
    s.update(text.as_bytes()).expect("update");
    s.sign_to_vec()
        .expect("sign")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A UDP connection request as GenieACS builds it, signed with `pass`.
fn udp_cr(port: u16, ts: u64, id: u32, user: &str, pass: &str) -> String {
    let cn = format!("cn{id}x");
    let sig = hmac_hex(pass, &format!("{ts}{id}{user}{cn}"));
    format!(
        "GET http://127.0.0.1:{port}?ts={ts}&id={id}&un={user}&cn={cn}&sig={sig} HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\r\n"
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn stun_binding_and_udp_connection_requests() {
    if Command::new("turnserver").arg("--help").output().is_err() {
        eprintln!("SKIPPED: coturn's turnserver is not installed (make test-deps installs it)");
        return;
    }
    let dir = common::temp_dir("turn");
    let turn = Turn::start(&dir).expect("start turnserver");
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe.push_str(&format!(
            "\toption stun_enable '1'\n\toption stun_server_address '127.0.0.1'\n\
             \toption stun_server_port '{}'\n",
            turn.port
        ));
    });
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let port = rig.cpe.cr_port;

    // The binding: coturn saw our CR socket on loopback, so no NAT.
    let addr = format!("{MS}UDPConnectionRequestAddress");
    let deadline = Instant::now() + WAIT;
    while rig.cpe.cli_get(&addr).is_empty() {
        assert!(Instant::now() < deadline, "no binding\n{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rig.cpe.cli_get(&addr), format!("127.0.0.1:{port}"));
    assert_eq!(rig.cpe.cli_get(&format!("{MS}NATDetected")), "false");

    // The ACS reads it by GPV (in a session opened by an HTTP connection request).
    let msgs = rig.session(&[gpv(&[
        &addr,
        &format!("{MS}NATDetected"),
        &format!("{MS}SupportedConnReqMethods"),
    ])]);
    let vals = rig.answer(&msgs, "GetParameterValues").values();
    let expected_addr = format!("127.0.0.1:{port}");
    assert_eq!(value_of(&vals, &addr), Some(expected_addr.as_str()));
    assert_eq!(
        value_of(&vals, &format!("{MS}SupportedConnReqMethods")),
        Some("HTTP,STUN")
    );
    let before = rig.informs_with("6 CONNECTION REQUEST");

    // A valid UDP connection request, sent three times as an ACS does: one session.
    let acs = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let valid = udp_cr(port, now(), 4242, "cruser", "crpass");
    let sent = Instant::now();
    for _ in 0..3 {
        acs.send_to(valid.as_bytes(), ("127.0.0.1", port)).unwrap();
    }
    rig.wait_inform("6 CONNECTION REQUEST", before + 1);
    eprintln!("UDP CR -> Inform: {:?}", sent.elapsed());
    rig.wait_idle();

    // Replayed, stale, badly signed, wrong user: refused, logged, no session.
    let bad = [
        (valid.clone(), "replayed id"),
        (
            udp_cr(port, now() - 3600, 7, "cruser", "crpass"),
            "stale timestamp",
        ),
        (udp_cr(port, now(), 8, "cruser", "wrong"), "bad signature"),
        (
            udp_cr(port, now(), 9, "intruder", "crpass"),
            "wrong username",
        ),
    ];
    for (msg, why) in &bad {
        acs.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
        let deadline = Instant::now() + WAIT;
        while !rig.cpe.logs().contains(&format!("refused: {why}")) {
            assert!(
                Instant::now() < deadline,
                "{why} not logged\n{}",
                rig.cpe.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        rig.informs_with("6 CONNECTION REQUEST"),
        before + 1,
        "a refused request opened a session"
    );
    rig.assert_xsd_valid();
    drop(turn);
}

/// A STUN server scripted by the test: it sees every request and answers as told.
struct FakeStun {
    sock: UdpSocket,
}

type Attrs = Vec<(u16, Vec<u8>)>;

impl FakeStun {
    fn new() -> FakeStun {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
        sock.set_read_timeout(Some(WAIT)).unwrap();
        FakeStun { sock }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// Drops what queued up, then returns the next request, its attributes and its sender.
    fn fresh(&self) -> (Vec<u8>, Attrs, std::net::SocketAddr) {
        self.sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 2048];
        while self.sock.recv_from(&mut buf).is_ok() {}
        self.sock.set_nonblocking(false).unwrap();
        self.next()
    }

    fn next(&self) -> (Vec<u8>, Attrs, std::net::SocketAddr) {
        let mut buf = [0u8; 2048];
        let (n, from) = self.sock.recv_from(&mut buf).expect("a binding request");
        let msg = buf[..n].to_vec();
        assert_eq!(&msg[..2], &[0, 1], "a Binding Request");
        assert_eq!(usize::from(u16::from_be_bytes([msg[2], msg[3]])), n - 20);
        let mut attrs = vec![];
        let mut at = 20;
        while at + 4 <= n {
            let ty = u16::from_be_bytes([msg[at], msg[at + 1]]);
            let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
            attrs.push((ty, msg[at + 4..at + 4 + len].to_vec()));
            at += 4 + len.div_ceil(4) * 4;
        }
        (msg, attrs, from)
    }

    fn answer(&self, req: &[u8], to: std::net::SocketAddr, ty: u16, attr: (u16, &[u8])) {
        let mut out = ty.to_be_bytes().to_vec();
        out.extend_from_slice(&((4 + attr.1.len()) as u16).to_be_bytes());
        out.extend_from_slice(&req[4..20]);
        out.extend_from_slice(&attr.0.to_be_bytes());
        out.extend_from_slice(&(attr.1.len() as u16).to_be_bytes());
        out.extend_from_slice(attr.1);
        self.sock.send_to(&out, to).unwrap();
    }

    fn mapped(&self, req: &[u8], to: std::net::SocketAddr, ip: [u8; 4], port: u16) {
        let mut v = vec![0, 1];
        v.extend_from_slice(&(port ^ 0x2112).to_be_bytes());
        let cookie = [0x21, 0x12, 0xa4, 0x42];
        v.extend((0..4).map(|i| ip[i] ^ cookie[i]));
        self.answer(req, to, 0x0101, (0x0020, &v));
    }
}

fn attr(attrs: &Attrs, ty: u16) -> Option<&[u8]> {
    attrs
        .iter()
        .find(|(t, _)| *t == ty)
        .map(|(_, v)| v.as_slice())
}

/// MESSAGE-INTEGRITY checked with OpenSSL's HMAC (RFC 5389 §15.4).
fn integrity_valid(msg: &[u8], key: &str) -> bool {
    let mut at = 20;
    while at + 4 <= msg.len() {
        let ty = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        if ty == 0x0008 {
            let mut head = msg[..at].to_vec();
            head[2..4].copy_from_slice(&((at + 24 - 20) as u16).to_be_bytes());
            use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
            let k = PKey::hmac(key.as_bytes()).unwrap();
            let mut s = Signer::new(MessageDigest::sha1(), &k).unwrap();
            s.update(&head).unwrap();
            return s.sign_to_vec().unwrap() == msg[at + 4..at + 24];
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    false
}

#[test]
fn nat_detected_integrity_and_binding_change_reported() {
    let stun = FakeStun::new();
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe.push_str(&format!(
            "\toption stun_enable '1'\n\toption stun_server_address '127.0.0.1'\n\
             \toption stun_server_port '{}'\n\toption stun_username 'stunuser'\n\
             \toption stun_password 'stunpass'\n\toption stun_max_keepalive '1'\n\
             \toption periodic_notify_interval '1'\n",
            stun.port()
        ));
    });
    let port = rig.cpe.cr_port;
    // First request: from the CR port, CONNECTION-REQUEST-BINDING, no credentials.
    let (req, attrs, from) = stun.next();
    assert_eq!(from.port(), port, "sent from the connection-request socket");
    assert_eq!(attr(&attrs, 0xC001), Some(&b"dslforum.org/TR-111 "[..]));
    assert_eq!(attr(&attrs, 0xC002), None);
    assert_eq!(attr(&attrs, 0x0008), None);
    stun.answer(&req, from, 0x0111, (0x0009, &[0, 0, 4, 1]));
    // After the 401: USERNAME and a valid MESSAGE-INTEGRITY.
    let (req, attrs, from) = stun.next();
    assert_eq!(attr(&attrs, 0x0006), Some(&b"stunuser"[..]));
    assert!(integrity_valid(&req, "stunpass"));
    assert!(!integrity_valid(&req, "other"));
    stun.mapped(&req, from, [198, 51, 100, 7], 40000);

    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let addr = format!("{MS}UDPConnectionRequestAddress");
    let deadline = Instant::now() + WAIT;
    while rig.cpe.cli_get(&addr) != "198.51.100.7:40000" {
        assert!(Instant::now() < deadline, "no binding\n{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rig.cpe.cli_get(&format!("{MS}NATDetected")), "true");

    // The ACS asks for active notification; then the NAT moves the binding.
    rig.session(&[common::soap::spa(&[(&addr, 2)])]);
    let (req, _, from) = stun.fresh();
    stun.mapped(&req, from, [198, 51, 100, 7], 40001);
    // The change is announced to the server at once with BINDING-CHANGE...
    let (req, attrs, from) = stun.next();
    assert_eq!(attr(&attrs, 0xC002), Some(&[][..]), "BINDING-CHANGE");
    stun.mapped(&req, from, [198, 51, 100, 7], 40001);
    // ...and to the ACS as a value change.
    let inform = rig.wait_inform("4 VALUE CHANGE", 1);
    assert_eq!(
        value_of(&inform.values(), &addr),
        Some("198.51.100.7:40001"),
        "{}",
        rig.cpe.logs()
    );
    rig.assert_xsd_valid();
}

#[test]
fn acs_switches_stun_on_and_off_without_a_restart() {
    let stun = FakeStun::new();
    let rig = Rig::start(&[]);
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let port = rig.cpe.cr_port;
    let methods = format!("{MS}SupportedConnReqMethods");
    assert_eq!(rig.cpe.cli_get(&methods), "HTTP");
    let sport = stun.port().to_string();
    rig.session(&[common::soap::spv(
        &[
            (&format!("{MS}STUNServerAddress"), "127.0.0.1", "xsd:string"),
            (&format!("{MS}STUNServerPort"), &sport, "xsd:unsignedInt"),
            (&format!("{MS}STUNEnable"), "true", "xsd:boolean"),
        ],
        "k1",
    )]);
    // The agent nudges the thread when it reloads: it does not wait for its own (60 s)
    // look at the config.
    let spv_done = Instant::now();
    let (req, _, from) = stun.next();
    assert!(
        spv_done.elapsed() < Duration::from_secs(3),
        "{:?}",
        spv_done.elapsed()
    );
    assert_eq!(from.port(), port);
    stun.mapped(&req, from, [127, 0, 0, 1], port);
    let addr = format!("{MS}UDPConnectionRequestAddress");
    let deadline = Instant::now() + WAIT;
    while rig.cpe.cli_get(&addr) != format!("127.0.0.1:{port}") {
        assert!(Instant::now() < deadline, "no binding\n{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rig.cpe.cli_get(&methods), "HTTP,STUN");

    rig.session(&[common::soap::spv(
        &[(&format!("{MS}STUNEnable"), "false", "xsd:boolean")],
        "k2",
    )]);
    // The UDP port is released and the address withdrawn.
    let deadline = Instant::now() + WAIT;
    while UdpSocket::bind(("0.0.0.0", port)).is_err() {
        assert!(Instant::now() < deadline, "port kept\n{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rig.cpe.cli_get(&addr), "");
    assert_eq!(rig.cpe.cli_get(&methods), "HTTP");

    // `icwmpd -c set` writes the config file behind the daemon's back: the file watcher's
    // hint nudges the thread, which binds at once.
    let out = rig
        .cpe
        .cli(&["set", &format!("{MS}STUNEnable"), "true", "xsd:boolean"]);
    assert!(out.status.success(), "{out:?}");
    let set_done = Instant::now();
    let (_, _, from) = stun.next();
    assert!(
        set_done.elapsed() < Duration::from_secs(3),
        "{:?}",
        set_done.elapsed()
    );
    assert_eq!(from.port(), port);
}

/// A named network namespace (`ip netns add`), deleted on drop.
struct NamedNetns(String);

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// NAT detection behind a real NAT: the daemon (and its ACS) in a network namespace of the
/// test whose packets toward a second namespace, where coturn runs, are source-NATed by
/// nftables to another address and port. coturn reports the translated address, which is not
/// the local one: NATDetected is true and UDPConnectionRequestAddress is the public side.
#[test]
fn nat_detected_behind_a_real_nat() {
    let have = |c: &str| Command::new(c).arg("--help").output().is_ok();
    if !have("turnserver") || !have("nft") {
        eprintln!("SKIPPED: coturn or nftables not installed (make test-deps installs them)");
        return;
    }
    in_netns(|| {
        let inet = NamedNetns(format!("icwmp-inet-{}", std::process::id()));
        ip(&["netns", "add", &inet.0]);
        ip(&[
            "link", "add", "vcpe", "type", "veth", "peer", "name", "vinet",
        ]);
        ip(&["link", "set", "vinet", "netns", &inet.0]);
        // 10.99.0.1 is the CPE's own address, 10.99.0.5 the NAT's public one.
        ip(&["addr", "add", "10.99.0.1/24", "dev", "vcpe"]);
        ip(&["addr", "add", "10.99.0.5/24", "dev", "vcpe"]);
        ip(&["link", "set", "vcpe", "up"]);
        ip(&["-n", &inet.0, "link", "set", "lo", "up"]);
        ip(&["-n", &inet.0, "addr", "add", "10.99.0.2/24", "dev", "vinet"]);
        ip(&["-n", &inet.0, "link", "set", "vinet", "up"]);
        let rules = "table ip nat {\n chain post {\n  type nat hook postrouting priority 100;\n  \
                     oifname \"vcpe\" ip saddr 10.99.0.1 udp dport 3478 snat to 10.99.0.5:40000-40100\n }\n}\n";
        let mut nft = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft");
        use std::io::Write;
        nft.stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .unwrap();
        assert!(nft.wait().unwrap().success(), "nft rules");

        let dir = common::temp_dir("turn-nat");
        let _turn = Turn::start_in(&dir, Some(&inet.0), "10.99.0.2", 3478).expect("turnserver");
        let rig = Rig::with(AcsOpts::default(), &[], |o| {
            o.extra_cpe.push_str(
                "\toption stun_enable '1'\n\toption stun_server_address '10.99.0.2'\n\
                 \toption stun_server_port '3478'\n",
            );
        });
        rig.wait_inform("0 BOOTSTRAP", 1);
        let addr = format!("{MS}UDPConnectionRequestAddress");
        let deadline = Instant::now() + WAIT;
        while rig.cpe.cli_get(&addr).is_empty() {
            assert!(Instant::now() < deadline, "no binding\n{}", rig.cpe.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
        let mapped = rig.cpe.cli_get(&addr);
        let (host, port) = mapped.rsplit_once(':').expect("host:port");
        assert_eq!(host, "10.99.0.5", "{mapped}");
        let port: u16 = port.parse().unwrap();
        assert!((40000..=40100).contains(&port), "{mapped}");
        assert_eq!(rig.cpe.cli_get(&format!("{MS}NATDetected")), "true");
        assert!(
            rig.cpe.logs().contains("NAT detected: true"),
            "{}",
            rig.cpe.logs()
        );
    });
}
