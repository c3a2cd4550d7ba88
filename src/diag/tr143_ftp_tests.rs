//! Download/Upload diagnostics over FTP against a real FTP server (pyftpdlib, one of the
//! test tools) on loopback. Skipped with a note when python3 cannot run pyftpdlib.

use super::testing::{get, inputs};
use super::tr143::{run, Limits};
use super::tr143_results::Dir;
use super::Cancel;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const FAST: Limits = Limits {
    connect: Duration::from_secs(2),
    idle: Duration::from_secs(3),
    max: Duration::from_secs(20),
};

const SERVER: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer()
a.add_user('u', 'p w', sys.argv[1], perm='elradfmw')
a.add_anonymous(sys.argv[1])
FTPHandler.authorizer = a
s = FTPServer(('127.0.0.1', 0), FTPHandler)
print(s.address[1], flush=True)
s.serve_forever()
"#;

/// A pyftpdlib server over a fresh directory; killed on drop.
struct Ftp {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Ftp {
    fn start(name: &str) -> Option<Ftp> {
        let dir = std::env::temp_dir().join(format!("icwmp-ftp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).ok()?;
        std::fs::write(dir.join("file.bin"), vec![7u8; 1 << 20]).ok()?;
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take()?)
            .read_line(&mut line)
            .ok()?;
        match line.trim().parse() {
            Ok(port) => Some(Ftp { child, port, dir }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                eprintln!("pyftpdlib unavailable: FTP test skipped");
                None
            }
        }
    }
}

impl Drop for Ftp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn ftp_download_counts_the_data_connection() {
    let Some(ftp) = Ftp::start("dl") else { return };
    let p = ftp.port;
    let o = run(
        Dir::Download,
        &format!("ftp://127.0.0.1:{p}/file.bin"),
        &inputs(&[]),
        &Cancel::new(),
        FAST,
    );
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(get(&o, "TestBytesReceived"), (1 << 20).to_string());
    let (req, resp) = (
        get(&o, "TCPOpenRequestTime"),
        get(&o, "TCPOpenResponseTime"),
    );
    let (rom, bom, eom) = (get(&o, "ROMTime"), get(&o, "BOMTime"), get(&o, "EOMTime"));
    assert!(req <= resp && resp <= rom && rom <= bom && bom <= eom);
    let url = format!("ftp://u:p%20w@127.0.0.1:{p}/file.bin");
    let i = inputs(&[("NumberOfConnections", "2")]);
    let o = run(Dir::Download, &url, &i, &Cancel::new(), FAST);
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(get(&o, "TestBytesReceived"), (2 << 20).to_string());
}

#[test]
fn ftp_error_states() {
    let Some(ftp) = Ftp::start("err") else { return };
    let p = ftp.port;
    let cases = [
        (
            Dir::Download,
            format!("ftp://u:wrong@127.0.0.1:{p}/file.bin"),
            "Error_LoginFailed",
        ),
        (
            Dir::Download,
            format!("ftp://127.0.0.1:{p}/missing.bin"),
            "Error_TransferFailed",
        ),
        (
            Dir::Upload,
            format!("ftp://u:p%20w@127.0.0.1:{p}/nodir/x.bin"),
            "Error_NoCWD",
        ),
        // Anonymous may not write.
        (
            Dir::Upload,
            format!("ftp://127.0.0.1:{p}/sub/x.bin"),
            "Error_NoSTOR",
        ),
    ];
    for (dir, url, want) in cases {
        let o = run(
            dir,
            &url,
            &inputs(&[("TestFileLength", "10")]),
            &Cancel::new(),
            FAST,
        );
        assert_eq!(o.state, want, "{url}");
    }
}

#[test]
fn ftp_upload_stores_exactly_the_test_file_length() {
    let Some(ftp) = Ftp::start("up") else { return };
    let url = format!("ftp://u:p%20w@127.0.0.1:{}/sub/up.bin", ftp.port);
    let i = inputs(&[
        ("TestFileLength", "300000"),
        ("EnablePerConnectionResults", "1"),
    ]);
    let o = run(Dir::Upload, &url, &i, &Cancel::new(), FAST);
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(get(&o, "TestBytesSent"), "300000");
    assert_eq!(
        std::fs::metadata(ftp.dir.join("sub/up.bin")).unwrap().len(),
        300000
    );
    assert!(get(&o, "BOMTime") <= get(&o, "EOMTime"));
}
