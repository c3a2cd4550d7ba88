//! Connection requests end to end: a custom path (broken in the C icwmp), query strings, and
//! a SIGHUP that changes the credentials without a restart.

mod common;

use common::acs::AcsOpts;
use common::digest;
use common::netns::{in_netns, ip};
use common::soap::value_of;
use common::Rig;

#[test]
fn custom_path_is_advertised_and_served_with_a_query_string() {
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe.push_str("\toption path 'cr/abc'\n");
    });
    let boot = rig.wait_inform("0 BOOTSTRAP", 1);
    let url = value_of(
        &boot.values(),
        "Device.ManagementServer.ConnectionRequestURL",
    )
    .unwrap_or_default()
    .to_string();
    assert!(
        url.ends_with(
            ":{}/cr/abc"
                .replace("{}", &rig.cpe.cr_port.to_string())
                .as_str()
        ),
        "{url}"
    );
    rig.wait_idle();
    let port = rig.cpe.cr_port;
    let wrong = digest::connection_request(port, "/", "cruser", "crpass").unwrap();
    assert_ne!(wrong.second, 200, "the root path is not the configured one");
    let ok = digest::connection_request(port, "/cr/abc?ts=1&id=2", "cruser", "crpass").unwrap();
    assert_eq!((ok.first, ok.second), (401, 200));
    rig.wait_inform("6 CONNECTION REQUEST", 1);
}

#[test]
fn sighup_reloads_connection_request_credentials() {
    let rig = Rig::start(&[]);
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let text = rig.cpe.config_text().replace("'crpass'", "'newpass'");
    std::fs::write(&rig.cpe.config, text).unwrap();
    let pid = rig.cpe.pid().expect("daemon running") as i32;
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let out = digest::connection_request(rig.cpe.cr_port, "/", "cruser", "newpass").unwrap();
        if out.second == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", rig.cpe.logs());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    rig.wait_inform("6 CONNECTION REQUEST", 1);
    let old = digest::connection_request(rig.cpe.cr_port, "/", "cruser", "crpass").unwrap();
    assert_eq!(old.second, 401, "the old password no longer works");
}

#[test]
fn the_challenge_offers_sha256_then_md5_and_a_sha256_answer_opens_a_session() {
    let rig = Rig::start(&[]);
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let port = rig.cpe.cr_port;
    let first = digest::http_get(port, "/", None).unwrap();
    assert_eq!(first.status, 401);
    let offered = first.all("www-authenticate");
    let algs: Vec<_> = offered
        .iter()
        .map(|c| {
            let p = digest::parse_params(c).expect("a Digest challenge");
            digest::param(&p, "algorithm").unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(algs, ["SHA-256", "MD5"], "{offered:?}");
    let bad = digest::connection_request_with(port, "/", "cruser", "nope", "SHA-256").unwrap();
    assert_eq!((bad.first, bad.second), (401, 401));
    let ok = digest::connection_request_with(port, "/", "cruser", "crpass", "SHA-256").unwrap();
    assert_eq!((ok.first, ok.second), (401, 200));
    rig.wait_inform("6 CONNECTION REQUEST", 1);
}

/// `cpe.cr_timeout` is the time a client has to send its request head: a head sent after
/// 2.7 s is answered with a 4 s timeout, a silent client is closed after 1 s with a 1 s one.
#[test]
fn cr_timeout_is_the_head_timeout() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let slow_head = |secs: &str, delay: Duration| {
        let rig = Rig::with(AcsOpts::default(), &[], |o| {
            o.extra_cpe
                .push_str(&format!("\toption cr_timeout '{secs}'\n"));
        });
        rig.wait_inform("0 BOOTSTRAP", 1);
        rig.wait_idle();
        let mut c = std::net::TcpStream::connect(("127.0.0.1", rig.cpe.cr_port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        std::thread::sleep(delay);
        let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: cpe\r\n\r\n");
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let answer = slow_head("4", Duration::from_millis(2700));
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer:?}");
    // Silent: nothing is written, the daemon closes at its deadline.
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe.push_str("\toption cr_timeout '1'\n");
    });
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", rig.cpe.cr_port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    assert_eq!(c.read_to_end(&mut Vec::new()).unwrap(), 0);
    let closed_silent = t.elapsed();
    assert!(
        closed_silent >= Duration::from_millis(900) && closed_silent < Duration::from_millis(1900),
        "{closed_silent:?}"
    );
}

/// The listener is on the address `cr_host` names (127.0.0.1 in the rig), not on every
/// address: another loopback address, or IPv6, finds the port closed.
#[test]
fn the_listener_binds_the_advertised_address() {
    let rig = Rig::start(&[]);
    let boot = rig.wait_inform("0 BOOTSTRAP", 1);
    let url = value_of(
        &boot.values(),
        "Device.ManagementServer.ConnectionRequestURL",
    )
    .unwrap_or_default()
    .to_string();
    let port = rig.cpe.cr_port;
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    rig.wait_idle();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    for other in ["127.0.0.2", "::1"] {
        let ip: std::net::IpAddr = other.parse().unwrap();
        assert!(
            std::net::TcpStream::connect((ip, port)).is_err(),
            "{other} reaches the connection-request port"
        );
    }
    rig.kick();
    rig.wait_inform("6 CONNECTION REQUEST", 1);
}

fn wait_port(port: u16, open: bool) -> bool {
    let deadline = std::time::Instant::now() + common::WAIT;
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() == open {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// `HTTPConnectionRequestEnable` false (UCI `cpe.http_cr_enable`): the port is closed and
/// ConnectionRequestURL is empty (TR-181); turned on again by a reload, the port opens.
#[test]
fn http_cr_enable_off_closes_the_port_and_empties_the_url() {
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe.push_str("\toption http_cr_enable '0'\n");
    });
    let boot = rig.wait_inform("0 BOOTSTRAP", 1);
    let values = boot.values();
    let url = value_of(&values, "Device.ManagementServer.ConnectionRequestURL");
    assert_eq!(url, Some(""), "no URL to advertise");
    rig.wait_idle();
    let port = rig.cpe.cr_port;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the connection-request port is open"
    );
    assert!(rig.cpe.logs().contains("HTTP connection requests disabled"));
    let text = rig
        .cpe
        .config_text()
        .replace("option http_cr_enable '0'", "option http_cr_enable '1'");
    std::fs::write(&rig.cpe.config, text).unwrap();
    let pid = rig.cpe.pid().expect("daemon running") as i32;
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    assert!(wait_port(port, true), "{}", rig.cpe.logs());
    rig.kick();
    rig.wait_inform("6 CONNECTION REQUEST", 1);
}

/// The ACS turns `HTTPConnectionRequestEnable` off: after that session the port closes.
#[test]
fn the_acs_turning_http_cr_off_closes_the_port() {
    let spv = common::soap::spv(
        &[(
            "Device.ManagementServer.HTTPConnectionRequestEnable",
            "false",
            "xsd:boolean",
        )],
        "off",
    );
    let rig = Rig::start(&[spv]);
    rig.wait_answer("SetParameterValues", 1);
    rig.wait_idle();
    assert!(wait_port(rig.cpe.cr_port, false), "{}", rig.cpe.logs());
    assert!(rig.cpe.config_text().contains("http_cr_enable"));
}

/// No `cr_host`, and the only interface besides `lo` has IPv6 addresses alone (a link-local
/// and a global one): ConnectionRequestURL names the global one in brackets, and the port
/// answers there.
#[test]
fn without_ipv4_the_url_names_a_global_ipv6_address() {
    in_netns(|| {
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        ip(&["link", "set", "v0", "up"]);
        ip(&["link", "set", "v1", "up"]);
        ip(&["-6", "addr", "add", "2001:db8::7/64", "dev", "v0", "nodad"]);
        let rig = Rig::with(AcsOpts::default(), &[], |o| {
            o.extra_cpe.push_str("\toption cr_host ''\n");
        });
        let boot = rig.wait_inform("0 BOOTSTRAP", 1);
        let port = rig.cpe.cr_port;
        let values = boot.values();
        let url = value_of(&values, "Device.ManagementServer.ConnectionRequestURL");
        assert_eq!(url, Some(format!("http://[2001:db8::7]:{port}/").as_str()));
        rig.wait_idle();
        let v6: std::net::IpAddr = "2001:db8::7".parse().unwrap();
        assert!(std::net::TcpStream::connect((v6, port)).is_ok());
        rig.kick();
        rig.wait_inform("6 CONNECTION REQUEST", 1);
    });
}
