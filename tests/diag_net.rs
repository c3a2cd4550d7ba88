//! The network diagnostics through the public contract (`diag::check`, `diag::run`), the
//! way the agent's diagnostics cycle calls them: SPV-time checks and a run against real
//! peers on loopback.

use icwmp::diag::{self, Cancel, Inputs, Kind};
use icwmp::fault::FaultCode;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};

fn inputs(pairs: &[(&str, &str)]) -> Inputs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn spv_checks_refuse_out_of_range_inputs_with_9007() {
    let refused = [
        (Kind::Download, "DownloadURL", "https://h/f"),
        (Kind::Download, "NumberOfConnections", "0"),
        (Kind::Download, "NumberOfConnections", "1000"),
        (Kind::Download, "DSCP", "64"),
        (Kind::Upload, "TimeBasedTestDuration", "1000"),
        (Kind::UDPEcho, "NumberOfRepetitions", "1000000000"),
        (Kind::ServerSelection, "Protocol", "TCP"),
        (Kind::NSLookup, "NumberOfRepetitions", "1000000000"),
    ];
    for (kind, name, value) in refused {
        let f = diag::check(kind, name, value).expect_err(name);
        assert_eq!(
            f.code,
            FaultCode::INVALID_PARAMETER_VALUE,
            "{kind:?} {name}={value}"
        );
    }
    assert!(diag::check(Kind::Download, "DownloadURL", "http://10.0.0.1/f").is_ok());
    assert!(diag::check(Kind::Upload, "UploadURL", "ftp://u:p@10.0.0.1/d/f").is_ok());
    assert!(diag::check(Kind::Upload, "UploadURL", "").is_ok());
    let o = diag::run(Kind::Upload, &inputs(&[("UploadURL", "")]), &Cancel::new());
    assert_eq!(o.state, "Error_InitConnectionFailed");
    assert!(diag::check(Kind::UDPEcho, "NumberOfRepetitions", "100").is_ok());
}

#[test]
fn download_and_udp_echo_through_the_contract() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/f", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        let _ = s.write_all(&[7u8; 100000]);
    });
    let o = diag::run(
        Kind::Download,
        &inputs(&[("DownloadURL", &url)]),
        &Cancel::new(),
    );
    assert_eq!(o.state, "Complete", "{o:?}");
    let got = o
        .values
        .iter()
        .find(|(k, _)| k == "TestBytesReceived")
        .unwrap();
    assert_eq!(got.1, (100000 + 43).to_string());

    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = echo.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        let mut b = [0u8; 2048];
        while let Ok((n, from)) = echo.recv_from(&mut b) {
            let _ = echo.send_to(&b[..n], from);
        }
    });
    let i = inputs(&[
        ("Host", "127.0.0.1"),
        ("Port", &port),
        ("NumberOfRepetitions", "3"),
        ("InterTransmissionTime", "1"),
    ]);
    let o = diag::run(Kind::UDPEcho, &i, &Cancel::new());
    assert_eq!(o.state, "Complete");
    assert!(o
        .values
        .contains(&("SuccessCount".to_string(), "3".to_string())));
}
