//! A throw-away PKI for the HTTPS ACS, made with the `openssl` CLI.

use std::path::{Path, PathBuf};

/// A test CA and a server certificate for 127.0.0.1/localhost signed by it.
#[derive(Clone, Debug)]
pub struct Pki {
    /// The CA certificate (PEM file) the daemon must trust.
    pub ca_file: PathBuf,
    /// Server certificate chain (PEM).
    pub cert: Vec<u8>,
    /// Server private key (PEM).
    pub key: Vec<u8>,
}

/// Makes a CA and a server certificate in `dir` with the `openssl` CLI; None when the CLI is
/// missing (callers skip their test).
pub fn make_pki(dir: &Path) -> Option<Pki> {
    let run = |args: &[&str]| -> bool {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=icwmp test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    if !run(&ca) {
        eprintln!("note: openssl CLI missing or failed; skipping HTTPS");
        return None;
    }
    let mut csr = vec!["req", "-new", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "srv.key", "-out", "srv.csr"]);
    std::fs::write(
        dir.join("srv.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n\
         basicConstraints=CA:FALSE\n",
    )
    .ok()?;
    let sign = [
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "srv.ext",
        "-out",
        "srv.pem",
    ];
    if !(run(&csr) && run(&sign)) {
        return None;
    }
    Some(Pki {
        ca_file: dir.join("ca.pem"),
        cert: std::fs::read(dir.join("srv.pem")).ok()?,
        key: std::fs::read(dir.join("srv.key")).ok()?,
    })
}
