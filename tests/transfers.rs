//! End to end: the real `icwmpd` against a small scripted ACS and in-test file servers.
//! Download (firmware with the embedded soft reboot, configuration import), Upload,
//! ScheduleDownload with a window, CancelTransfer with GetAllQueuedTransfers, and kill -9 in
//! the middle of a transfer followed by a restart: exactly one TransferComplete each time.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

fn envelope(id: u32, body: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">{id}</cwmp:ID></soap-env:Header><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"#
    )
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

/// The scripted ACS: answers Inform and TransferComplete, sends queued RPCs after the
/// Inform, reports every CPE message on a channel (an empty POST as "").
struct Acs {
    port: u16,
    script: Arc<Mutex<VecDeque<String>>>,
    seen: mpsc::Receiver<String>,
}

impl Acs {
    fn start() -> Acs {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let script = Arc::new(Mutex::new(VecDeque::<String>::new()));
        let (tx, seen) = mpsc::channel();
        let s2 = script.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let (script, tx) = (s2.clone(), tx.clone());
                std::thread::spawn(move || {
                    let mut w = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    let mut id = 0;
                    while let Some(body) = read_request(&mut r) {
                        id += 1;
                        let reply = if body.contains("<cwmp:Inform>") {
                            Some("<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>".to_string())
                        } else if body.contains("<cwmp:TransferComplete>") {
                            Some("<cwmp:TransferCompleteResponse/>".to_string())
                        } else {
                            script.lock().unwrap().pop_front()
                        };
                        let _ = tx.send(body);
                        let out = match reply {
                            Some(b) => {
                                let b = envelope(id, &b);
                                format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{b}", b.len())
                            }
                            None => "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".into(),
                        };
                        if w.write_all(out.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Acs { port, script, seen }
    }

    fn push(&self, rpc: String) {
        self.script.lock().unwrap().push_back(rpc);
    }

    /// Waits for a CPE message matching `pred`; returns it and everything seen before.
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> (String, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(b) if pred(&b) => return (b, before),
                Ok(b) => before.push(b),
                Err(_) => panic!("timed out waiting for {what}; seen: {before:#?}"),
            }
        }
    }

    /// Everything the CPE sends within `d`.
    fn drain(&self, d: Duration) -> Vec<String> {
        let deadline = Instant::now() + d;
        let mut out = Vec::new();
        while let Ok(b) = self
            .seen
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            out.push(b);
        }
        out
    }
}

struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Daemon {
    fn config(dir: &std::path::Path, acs: u16) -> String {
        let cr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let _ = dir;
        format!(
            "config acs 'acs'\n\toption url 'http://127.0.0.1:{acs}/acs'\n\toption periodic_inform_enable '0'\n\toption get_rpc_methods '0'\n\n\
             config cpe 'cpe'\n\toption port '{cr}'\n\toption log_severity 'DEBUG'\n"
        )
    }

    fn start(name: &str, acs: &Acs) -> Daemon {
        let dir = std::env::temp_dir().join(format!("icwmp-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cwmp"), Daemon::config(&dir, acs.port)).unwrap();
        let child = Daemon::spawn(&dir);
        Daemon { child, dir }
    }

    fn spawn(dir: &std::path::Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_icwmpd"))
            .arg("-b")
            .arg("--config")
            .arg(dir.join("cwmp"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap()
    }

    fn kill9_and_restart(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
        self.child = Daemon::spawn(&self.dir);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() && std::env::var_os("KEEP_E2E").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("daemon log: {}", self.dir.join("log").display());
        }
    }
}

/// A file server: GET /fw.bin, /cfg (the text given), /slow (1 MB dripping), PUT /up.
fn file_server(cfg: String) -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let (tx, cfg) = (tx.clone(), cfg.clone());
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                let path = first.split(' ').nth(1).unwrap_or("").to_string();
                let mut len = 0;
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 || l.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let _ = tx.send((path.clone(), body));
                let send = |w: &mut TcpStream, b: &[u8]| {
                    let h = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    );
                    let _ = w.write_all(h.as_bytes());
                    let _ = w.write_all(b);
                };
                match path.as_str() {
                    "/fw.bin" => send(&mut w, b"FIRMWARE-IMAGE"),
                    "/cfg" => send(&mut w, cfg.as_bytes()),
                    "/slow" => {
                        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
                        for _ in 0..600 {
                            if w.write_all(&[0u8; 100]).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                    _ => send(&mut w, b""),
                }
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), rx)
}

fn download(key: &str, file_type: &str, url: &str, size: usize, delay: u32) -> String {
    format!("<cwmp:Download><CommandKey>{key}</CommandKey><FileType>{file_type}</FileType><URL>{url}</URL><Username></Username><Password></Password><FileSize>{size}</FileSize><TargetFileName></TargetFileName><DelaySeconds>{delay}</DelaySeconds><SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>")
}

fn transfer_complete_of<'a>(msgs: impl IntoIterator<Item = &'a String>, key: &str) -> usize {
    let tag = format!("<CommandKey>{key}</CommandKey>");
    msgs.into_iter()
        .filter(|m| m.contains("<cwmp:TransferComplete>") && m.contains(&tag))
        .count()
}

fn field<'a>(msg: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    msg.split(&open)
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or("")
}

#[test]
fn firmware_download_reboots_and_reports_in_the_boot_session() {
    let acs = Acs::start();
    let (files, _) = file_server(String::new());
    acs.push(download(
        "fw1",
        "1 Firmware Upgrade Image",
        &format!("{files}/fw.bin"),
        14,
        0,
    ));
    let d = Daemon::start("fw", &acs);
    acs.wait("DownloadResponse", |m| m.contains("DownloadResponse"));
    // The soft reboot (re-exec) gives a BOOT session with the completion.
    let (inform, _) = acs.wait("BOOT inform with 7", |m| {
        m.contains("<cwmp:Inform>") && m.contains("7 TRANSFER COMPLETE")
    });
    assert!(inform.contains("1 BOOT"), "{inform}");
    assert!(inform.contains("M Download"), "{inform}");
    let (tc, _) = acs.wait("TransferComplete", |m| {
        m.contains("<cwmp:TransferComplete>")
    });
    assert_eq!(field(&tc, "CommandKey"), "fw1");
    assert_eq!(field(&tc, "FaultCode"), "0");
    assert!(!field(&tc, "StartTime").starts_with("0001"), "{tc}");
    assert_eq!(
        std::fs::read(d.dir.join("state/firmware.bin")).unwrap(),
        b"FIRMWARE-IMAGE"
    );
    // Acknowledged: gone from transfers.json; no second report.
    let rest = acs.drain(Duration::from_secs(2));
    assert_eq!(transfer_complete_of(&rest, "fw1"), 0);
    let q = std::fs::read_to_string(d.dir.join("state/transfers.json")).unwrap();
    assert!(!q.contains("fw1"), "{q}");
}

#[test]
fn config_download_upload_and_queue_rpcs() {
    let acs = Acs::start();
    let mut d = Daemon::start("cfg", &acs);
    let cfg = std::fs::read_to_string(d.dir.join("cwmp")).unwrap() + "# imported by Download\n";
    let (files, got) = file_server(cfg);
    acs.push(download(
        "cfg1",
        "3 Vendor Configuration File",
        &format!("{files}/cfg"),
        0,
        0,
    ));
    acs.push(download(
        "late",
        "3 Vendor Configuration File",
        &format!("{files}/cfg"),
        0,
        3600,
    ));
    acs.push(format!("<cwmp:Upload><CommandKey>up1</CommandKey><FileType>1 Vendor Configuration File</FileType><URL>{files}/up</URL><Username></Username><Password></Password><DelaySeconds>0</DelaySeconds></cwmp:Upload>"));
    acs.push("<cwmp:GetAllQueuedTransfers/>".into());
    acs.push("<cwmp:CancelTransfer><CommandKey>late</CommandKey></cwmp:CancelTransfer>".into());
    acs.push("<cwmp:CancelTransfer><CommandKey>nope</CommandKey></cwmp:CancelTransfer>".into());
    acs.push("<cwmp:GetQueuedTransfers/>".into());
    let (all, _) = acs.wait("GetAllQueuedTransfersResponse", |m| {
        m.contains("GetAllQueuedTransfersResponse")
    });
    assert!(all.contains("AllQueuedTransferStruct[3]"), "{all}");
    assert!(all.contains("<CommandKey>late</CommandKey>"), "{all}");
    acs.wait("CancelTransferResponse", |m| {
        m.contains("CancelTransferResponse")
    });
    let (fault, _) = acs.wait("fault 9003", |m| m.contains("<FaultCode>"));
    assert_eq!(field(&fault, "FaultCode"), "9003");
    let (queued, _) = acs.wait("GetQueuedTransfersResponse", |m| {
        m.contains("GetQueuedTransfersResponse")
    });
    assert!(!queued.contains("late"), "{queued}");
    // Both transfers complete after the session and are reported in one later session.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (transfer_complete_of(&seen, "cfg1") == 0 || transfer_complete_of(&seen, "up1") == 0)
        && Instant::now() < deadline
    {
        seen.extend(acs.drain(Duration::from_millis(500)));
    }
    for key in ["cfg1", "up1"] {
        let tc = seen
            .iter()
            .find(|m| m.contains("<cwmp:TransferComplete>") && m.contains(key))
            .unwrap_or_else(|| panic!("no TransferComplete for {key}: {seen:#?}"));
        assert_eq!(field(tc, "FaultCode"), "0", "{tc}");
    }
    assert!(std::fs::read_to_string(d.dir.join("cwmp"))
        .unwrap()
        .contains("# imported by Download"));
    let uploads: Vec<_> = got.try_iter().filter(|(p, _)| p == "/up").collect();
    assert_eq!(uploads.len(), 1);
    assert!(String::from_utf8_lossy(&uploads[0].1).contains("config acs"));
    // Restart: nothing is reported twice.
    d.kill9_and_restart();
    let (inform, _) = acs.wait("Inform after restart", |m| m.contains("<cwmp:Inform>"));
    assert!(!inform.contains("TRANSFER COMPLETE"), "{inform}");
    let rest = acs.drain(Duration::from_secs(2));
    assert_eq!(
        transfer_complete_of(&rest, "cfg1") + transfer_complete_of(&rest, "up1"),
        0
    );
}

#[test]
fn schedule_download_in_a_window() {
    let acs = Acs::start();
    let (files, got) = file_server(String::new());
    acs.push(format!("<cwmp:ScheduleDownload><CommandKey>sd1</CommandKey><FileType>2 Web Content</FileType><URL>{files}/fw.bin</URL><Username></Username><Password></Password><FileSize>0</FileSize><TargetFileName>page.html</TargetFileName><TimeWindowList><TimeWindowStruct><WindowStart>2</WindowStart><WindowEnd>60</WindowEnd><WindowMode>3 When Idle</WindowMode><UserMessage></UserMessage><MaxRetries>-1</MaxRetries></TimeWindowStruct></TimeWindowList></cwmp:ScheduleDownload>"));
    let d = Daemon::start("sd", &acs);
    let t0 = Instant::now();
    acs.wait("ScheduleDownloadResponse", |m| {
        m.contains("ScheduleDownloadResponse")
    });
    let (inform, _) = acs.wait("inform with 7", |m| m.contains("7 TRANSFER COMPLETE"));
    assert!(inform.contains("M ScheduleDownload"), "{inform}");
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "started before the window"
    );
    let (tc, _) = acs.wait("TransferComplete", |m| {
        m.contains("<cwmp:TransferComplete>")
    });
    assert_eq!(
        (field(&tc, "CommandKey"), field(&tc, "FaultCode")),
        ("sd1", "0")
    );
    assert_eq!(got.try_iter().filter(|(p, _)| p == "/fw.bin").count(), 1);
    assert_eq!(
        std::fs::read(d.dir.join("state/downloads/web-content")).unwrap(),
        b"FIRMWARE-IMAGE"
    );
}

#[test]
fn kill_9_mid_transfer_gives_exactly_one_transfer_complete() {
    let acs = Acs::start();
    let (files, got) = file_server(String::new());
    acs.push(download(
        "cut",
        "1 Firmware Upgrade Image",
        &format!("{files}/slow"),
        0,
        0,
    ));
    let mut d = Daemon::start("kill", &acs);
    acs.wait("DownloadResponse", |m| m.contains("DownloadResponse"));
    // Wait until the download is on its way, then cut the power.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !got.try_iter().any(|(p, _)| p == "/slow") {
        assert!(Instant::now() < deadline, "download never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    d.kill9_and_restart();
    let (inform, _) = acs.wait("inform with 7", |m| m.contains("7 TRANSFER COMPLETE"));
    assert!(
        inform.contains("1 BOOT") && inform.contains("M Download"),
        "{inform}"
    );
    let (tc, _) = acs.wait("TransferComplete", |m| {
        m.contains("<cwmp:TransferComplete>")
    });
    assert_eq!(
        (field(&tc, "CommandKey"), field(&tc, "FaultCode")),
        ("cut", "9017")
    );
    let mut rest = acs.drain(Duration::from_secs(2));
    // And once more: a second restart does not repeat it.
    d.kill9_and_restart();
    rest.extend(acs.drain(Duration::from_secs(3)));
    assert!(
        rest.iter().any(|m| m.contains("<cwmp:Inform>")),
        "{rest:#?}"
    );
    assert_eq!(transfer_complete_of(&rest, "cut"), 0, "{rest:#?}");
}
