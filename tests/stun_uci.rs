//! The C-era STUN UCI (`/etc/config/stunc`, as the iopsys stunc package and LuCI keep it)
//! against a real STUN server (coturn's `turnserver` on loopback) and OpenWrt's real `uci`
//! (target/openwrt-tools; both skipped with a message when missing, `make test-deps` installs
//! them): its options drive the daemon's STUN client with no `cpe.stun_*` option in `cwmp`,
//! the ACS's SetParameterValues reach both files, an edit of the stunc file takes effect
//! without a restart, and the learnt address is in the UCI state (`uci -P`) where the C-era
//! bbfdm plugin reads it.

mod common;

use common::acs::{Acs, AcsOpts};
use common::daemon::{Cpe, CpeOpts};
use common::soap::{gpv, spv, value_of};
use common::{free_port, Rig, WAIT};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MS: &str = "Device.ManagementServer.";

/// A throw-away coturn on 127.0.0.1; killed on drop.
struct Turn {
    child: Child,
    port: u16,
}

impl Turn {
    fn start(dir: &Path) -> Turn {
        let port = free_port();
        let child = Command::new("turnserver")
            .args(["-n", "--listening-ip", "127.0.0.1", "--listening-port"])
            .arg(port.to_string())
            .args(["--no-auth", "--no-tls", "--no-dtls", "--no-cli"])
            .args(["--log-file", "stdout", "--pidfile"])
            .arg(dir.join("turnserver.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        Turn { child, port }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// OpenWrt's `uci` CLI built by `make test-deps`.
fn real_uci() -> Option<PathBuf> {
    let dir = std::env::var_os("ICWMP_OPENWRT_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/openwrt-tools"));
    let uci = dir.join("bin/uci");
    uci.is_file().then_some(uci)
}

/// Both tools, or `None` after saying why the test is skipped.
fn tools() -> Option<PathBuf> {
    if Command::new("turnserver").arg("--help").output().is_err() {
        eprintln!("SKIPPED: coturn's turnserver is not installed (make test-deps installs it)");
        return None;
    }
    let uci = real_uci();
    if uci.is_none() {
        eprintln!("SKIPPED: OpenWrt's uci is not built (make test-deps builds it)");
    }
    uci
}

/// A daemon whose only STUN settings are the stunc file `stunc` next to its `cwmp`, with
/// the UCI state directory `<dir>/varstate`.
fn rig_with_stunc(stunc: &str) -> Rig {
    let acs = Acs::start(AcsOpts::default());
    let mut cpe = Cpe::prepare(CpeOpts::new(&acs.url()));
    let varstate = cpe.dir.join("varstate");
    let mut text = std::fs::read_to_string(&cpe.config).unwrap();
    assert!(!text.contains("stun_"), "no STUN option in cwmp:\n{text}");
    // Appended to the last section, `cpe`: where the UCI state goes (not STUN settings).
    text.push_str(&format!(
        "\toption stun_varstate_dir '{}'\n",
        varstate.display()
    ));
    std::fs::write(&cpe.config, text).unwrap();
    std::fs::write(cpe.dir.join("stunc"), stunc).unwrap();
    // What an earlier run (or the C client) left: a stale address, and a line of another
    // writer that must be kept.
    std::fs::create_dir_all(&varstate).unwrap();
    std::fs::write(
        varstate.join("stunc"),
        "stunc.stunc.crudp_address='203.0.113.1:1'\nstunc.stunc.nat_detected='1'\n\
         stunc.stunc.other='kept'\n",
    )
    .unwrap();
    cpe.spawn();
    Rig { acs, cpe }
}

/// `uci -c <config dir> -P <state dir> get <key>`: the value, or `None` when uci finds none.
fn uci_state_get(uci: &Path, cpe: &Cpe, key: &str) -> Option<String> {
    let out = Command::new(uci)
        .arg("-c")
        .arg(&cpe.dir)
        .arg("-P")
        .arg(cpe.dir.join("varstate"))
        .args(["get", key])
        .output()
        .expect("run uci");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `uci -c <config dir> set <assignment>` then commit: an edit as LuCI makes it.
fn uci_set(uci: &Path, cpe: &Cpe, assignment: &str) {
    for args in [vec!["set", assignment], vec!["commit", "stunc"]] {
        let out = Command::new(uci)
            .arg("-c")
            .arg(&cpe.dir)
            .args(&args)
            .output()
            .expect("run uci");
        assert!(out.status.success(), "uci {args:?}: {out:?}");
    }
}

/// Waits until `f` holds.
fn wait_for(rig: &Rig, what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "{what}\n{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stunc(enabled: &str, port: u16) -> String {
    format!(
        "config stunc 'stunc'\n\toption enabled '{enabled}'\n\
         \toption server_address '127.0.0.1'\n\toption server_port '{port}'\n"
    )
}

#[test]
fn the_stunc_file_alone_drives_stun_and_gets_its_uci_state() {
    let Some(uci) = tools() else { return };
    let dir = common::temp_dir("turn-stunc");
    let turn = Turn::start(&dir);
    let rig = rig_with_stunc(&stunc("1", turn.port));
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let port = rig.cpe.cr_port;
    let addr = format!("{MS}UDPConnectionRequestAddress");
    let expected = format!("127.0.0.1:{port}");
    wait_for(&rig, "no binding", || rig.cpe.cli_get(&addr) == expected);

    // The ACS sees the binding and the stunc settings as the STUN parameters.
    let msgs = rig.session(&[gpv(&[
        &addr,
        &format!("{MS}NATDetected"),
        &format!("{MS}STUNEnable"),
        &format!("{MS}STUNServerAddress"),
        &format!("{MS}STUNServerPort"),
        &format!("{MS}SupportedConnReqMethods"),
    ])]);
    let vals = rig.answer(&msgs, "GetParameterValues").values();
    let turn_port = turn.port.to_string();
    for (name, want) in [
        (addr.clone(), expected.as_str()),
        (format!("{MS}NATDetected"), "false"),
        (format!("{MS}STUNEnable"), "true"),
        (format!("{MS}STUNServerAddress"), "127.0.0.1"),
        (format!("{MS}STUNServerPort"), turn_port.as_str()),
        (format!("{MS}SupportedConnReqMethods"), "HTTP,STUN"),
    ] {
        assert_eq!(value_of(&vals, &name), Some(want), "{name}");
    }

    // What bbfdm's plugin reads, through the real uci: the address, no NAT.
    wait_for(&rig, "no UCI state", || {
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.crudp_address").as_deref()
            == Some(expected.as_str())
    });
    assert_eq!(
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.nat_detected"),
        None
    );
    assert_eq!(
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.enabled").as_deref(),
        Some("1"),
        "the state overlays the config, which is kept"
    );
    assert_eq!(
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.other").as_deref(),
        Some("kept")
    );

    // LuCI disables stunc: the port is released, the address and its state withdrawn.
    uci_set(&uci, &rig.cpe, "stunc.stunc.enabled=0");
    wait_for(&rig, "port kept", || {
        UdpSocket::bind(("0.0.0.0", port)).is_ok()
    });
    wait_for(&rig, "address kept", || rig.cpe.cli_get(&addr).is_empty());
    wait_for(&rig, "UCI state kept", || {
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.crudp_address").is_none()
    });
    assert_eq!(rig.cpe.cli_get(&format!("{MS}STUNEnable")), "false");
    assert!(
        !rig.cpe.config_text().contains("stun_enable"),
        "cwmp untouched by a stunc edit\n{}",
        rig.cpe.config_text()
    );

    // And enables it again: bound at once (the file watcher nudges the STUN thread).
    let t = Instant::now();
    uci_set(&uci, &rig.cpe, "stunc.stunc.enabled=1");
    wait_for(&rig, "no binding again", || {
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.crudp_address").as_deref()
            == Some(expected.as_str())
    });
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // The package removed: STUN off (cwmp does not enable it), its state withdrawn, the
    // other writer's line kept.
    std::fs::remove_file(rig.cpe.dir.join("stunc")).unwrap();
    wait_for(&rig, "port kept", || {
        UdpSocket::bind(("0.0.0.0", port)).is_ok()
    });
    let state = rig.cpe.dir.join("varstate/stunc");
    wait_for(&rig, "UCI state kept", || {
        std::fs::read_to_string(&state).unwrap_or_default() == "stunc.stunc.other='kept'\n"
    });
    rig.assert_xsd_valid();
    drop(turn);
}

/// A STUN server of the test: answers each Binding Request with a fixed mapped address.
fn fake_stun_answer(sock: &UdpSocket, ip: [u8; 4], mapped_port: u16) {
    let mut buf = [0u8; 2048];
    let (n, from) = sock.recv_from(&mut buf).expect("a binding request");
    assert!(n >= 20 && buf[..2] == [0, 1], "a Binding Request");
    let cookie = [0x21, 0x12, 0xa4, 0x42];
    let mut v = vec![0, 1];
    v.extend_from_slice(&(mapped_port ^ 0x2112).to_be_bytes());
    v.extend((0..4).map(|i| ip[i] ^ cookie[i]));
    // Binding Success with XOR-MAPPED-ADDRESS, same transaction.
    let mut out = vec![0x01, 0x01];
    out.extend_from_slice(&((4 + v.len()) as u16).to_be_bytes());
    out.extend_from_slice(&buf[4..20]);
    out.extend_from_slice(&[0x00, 0x20]);
    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    out.extend_from_slice(&v);
    sock.send_to(&out, from).unwrap();
}

#[test]
fn acs_writes_of_stun_parameters_reach_cwmp_and_stunc() {
    let Some(uci) = tools() else { return };
    let dir = common::temp_dir("turn-stunc-spv");
    let turn = Turn::start(&dir);
    let rig = rig_with_stunc(&stunc("1", turn.port));
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let addr = format!("{MS}UDPConnectionRequestAddress");
    let local = format!("127.0.0.1:{}", rig.cpe.cr_port);
    wait_for(&rig, "no binding", || rig.cpe.cli_get(&addr) == local);

    // The ACS moves the client to another server (by port): both files say so...
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    other.set_read_timeout(Some(WAIT)).unwrap();
    let other_port = other.local_addr().unwrap().port().to_string();
    let msgs = rig.session(&[spv(
        &[(
            &format!("{MS}STUNServerPort"),
            &other_port,
            "xsd:unsignedInt",
        )],
        "k1",
    )]);
    let answer = rig.answer(&msgs, "SetParameterValues").body;
    assert!(answer.contains("SetParameterValuesResponse"), "{answer}");
    let cwmp = rig.cpe.config_text();
    assert!(
        cwmp.contains(&format!("option stun_server_port '{other_port}'")),
        "{cwmp}"
    );
    let stunc_text = std::fs::read_to_string(rig.cpe.dir.join("stunc")).unwrap();
    assert!(
        stunc_text.contains(&format!("option server_port '{other_port}'")),
        "{stunc_text}"
    );
    assert!(stunc_text.contains("option enabled '1'"), "{stunc_text}");
    // ...the client uses it (stunc's value wins: without the write there, the old server
    // would still be asked)...
    fake_stun_answer(&other, [198, 51, 100, 7], 40000);
    // ...and what it learns there, behind a "NAT", is the UCI state.
    wait_for(&rig, "no new UCI state", || {
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.crudp_address").as_deref()
            == Some("198.51.100.7:40000")
    });
    assert_eq!(
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.nat_detected").as_deref(),
        Some("1")
    );
    assert_eq!(rig.cpe.cli_get(&addr), "198.51.100.7:40000");
    assert_eq!(rig.cpe.cli_get(&format!("{MS}NATDetected")), "true");
    // The STUN parameters read back what was written, through `uci` as well.
    assert_eq!(rig.cpe.cli_get(&format!("{MS}STUNServerPort")), other_port);
    let out = Command::new(&uci)
        .arg("-c")
        .arg(&rig.cpe.dir)
        .args(["get", "stunc.stunc.server_port"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), other_port);
    // `icwmpd -c set` goes the same way.
    let out = rig
        .cpe
        .cli(&["set", &format!("{MS}STUNUsername"), "stun-user"]);
    assert!(out.status.success(), "{out:?}");
    let stunc_text = std::fs::read_to_string(rig.cpe.dir.join("stunc")).unwrap();
    assert!(
        stunc_text.contains("option username 'stun-user'"),
        "{stunc_text}"
    );
    assert!(rig
        .cpe
        .config_text()
        .contains("option stun_username 'stun-user'"));
    // The daemon stops: what it published is withdrawn.
    let mut rig = rig;
    rig.cpe.stop();
    assert_eq!(
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.crudp_address"),
        None
    );
    assert_eq!(
        uci_state_get(&uci, &rig.cpe, "stunc.stunc.nat_detected"),
        None
    );
    drop(turn);
}

/// The state file format against the real `uci -P`, for both C-era configs: a named
/// section, an anonymous one (the state then creates the named section), quoting, and the
/// lines of others kept.
#[test]
fn the_uci_state_reads_back_through_the_real_uci() {
    use icwmp::config::stun_legacy::Legacy;
    use icwmp::stun::status::StunStatus;
    use icwmp::stun::varstate;
    let Some(uci) = real_uci() else {
        eprintln!("SKIPPED: OpenWrt's uci is not built (make test-deps builds it)");
        return;
    };
    let dir = common::temp_dir("varstate");
    let (conf, state) = (dir.join("config"), dir.join("state"));
    std::fs::create_dir_all(&conf).unwrap();
    let cwmp = conf.join("cwmp");
    let get = |key: &str| {
        let out = Command::new(&uci)
            .arg("-c")
            .arg(&conf)
            .arg("-P")
            .arg(&state)
            .args(["get", key])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let st = |address: &str, nat_detected: bool| StunStatus {
        address: address.into(),
        nat_detected,
    };
    for (legacy, file) in [
        (
            Legacy::CwmpStun,
            "config stun 'stun'\n\toption server_port '3478'\n",
        ),
        (Legacy::Stunc, "config stunc\n\toption enabled '1'\n"),
    ] {
        let cfg = legacy.config();
        std::fs::write(conf.join(cfg), file).unwrap();
        // Someone else's state, kept.
        std::fs::create_dir_all(&state).unwrap();
        // (uci writes them with section names, as it resolves `@type[n]`; only the named
        // section can have any before us.)
        let named = legacy == Legacy::CwmpStun;
        let theirs = if named {
            format!("{cfg}.{}.log_level='3'\n", legacy.section())
        } else {
            String::new()
        };
        let log_level = named.then(|| "3".to_string());
        std::fs::write(state.join(cfg), format!("network.wan.up='1'\n{theirs}")).unwrap();
        let key = |o: &str| format!("{cfg}.{}.{o}", legacy.section());
        varstate::write(&state, &cwmp, legacy, Some(&st("198.51.100.7:4000", true))).unwrap();
        assert_eq!(
            get(&key("crudp_address")).as_deref(),
            Some("198.51.100.7:4000"),
            "{cfg}"
        );
        assert_eq!(get(&key("nat_detected")).as_deref(), Some("1"), "{cfg}");
        assert_eq!(get(&key("log_level")), log_level, "{cfg}");
        varstate::write(&state, &cwmp, legacy, Some(&st("it's:1", false))).unwrap();
        assert_eq!(
            get(&key("crudp_address")).as_deref(),
            Some("it's:1"),
            "{cfg}"
        );
        assert_eq!(get(&key("nat_detected")), None, "{cfg}");
        varstate::write(&state, &cwmp, legacy, None).unwrap();
        assert_eq!(get(&key("crudp_address")), None, "{cfg}");
        assert_eq!(get(&key("log_level")), log_level, "{cfg}");
        assert_eq!(
            get("network.wan.up"),
            None,
            "no network config: uci ignores it"
        );
        let left = std::fs::read_to_string(state.join(cfg)).unwrap();
        assert!(
            left.starts_with(&format!("network.wan.up='1'\n{theirs}")),
            "{left}"
        );
    }
}
