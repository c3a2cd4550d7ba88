//! HTTP(S) transfers with ureq over OpenSSL: GET streamed to a file under a size limit, PUT
//! of a file. Certificates are verified (CA from the config); Basic and Digest answer a 401;
//! redirects are followed (credentials only to the origin of the given URL).

use super::Failure;
use crate::fault::FaultCode;
use crate::http::auth::{drain, take_location, Auth};
use crate::http::tls::{self, Tls, TlsSettings};
use crate::http::url::Url;
use crate::http::{new_agent, HttpOptions};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;
use ureq::http::Response;
use ureq::{Agent, Body};

/// Redirects followed per transfer.
const MAX_REDIRECTS: u32 = 10;

/// Write buffer of a download (the only memory a download holds).
pub const CHUNK: usize = 64 << 10;

/// Network settings shared by HTTP and FTP transfers.
#[derive(Clone, Debug)]
pub struct NetOptions {
    /// CA certificates and verification (the ACS's; no client certificate is presented).
    pub tls: TlsSettings,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence while waiting for an answer or for the next bytes.
    pub idle_timeout: Duration,
}

impl Default for NetOptions {
    fn default() -> NetOptions {
        NetOptions {
            tls: TlsSettings::default(),
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Where the bytes of a download may go: at most `announced` bytes (when the ACS gave a
/// FileSize, the file must be exactly that long) and no more than the free space.
#[derive(Clone, Copy, Debug)]
pub struct SizeLimit {
    /// FileSize from the request (0: unknown).
    pub announced: u64,
    /// Free bytes on the target filesystem.
    pub free: u64,
}

impl SizeLimit {
    /// The limit for a file written under `dir`.
    pub fn for_dir(dir: &Path, announced: u64) -> SizeLimit {
        SizeLimit {
            announced,
            free: free_space(dir).unwrap_or(u64::MAX),
        }
    }

    /// Checks a length the server announced (or the bytes written so far).
    pub fn check(&self, len: u64) -> Result<(), Failure> {
        if self.announced > 0 && len > self.announced {
            return Err(Failure::new(
                FaultCode::DOWNLOAD_FAILURE,
                format!("file larger than the announced FileSize {}", self.announced),
            ));
        }
        if len > self.free {
            return Err(Failure::new(
                FaultCode::DOWNLOAD_FAILURE,
                format!("not enough free space ({} bytes free)", self.free),
            ));
        }
        Ok(())
    }

    /// Checks the final length.
    pub fn check_end(&self, len: u64) -> Result<(), Failure> {
        self.check(len)?;
        if self.announced > 0 && len < self.announced {
            return Err(Failure::new(
                FaultCode::COMPLETE_DOWNLOAD_FAILURE,
                format!("got {len} of the {} bytes announced", self.announced),
            ));
        }
        Ok(())
    }
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir` (statvfs).
pub fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into a zeroed local struct; `c` is a valid C string.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        st
    };
    #[allow(clippy::unnecessary_cast)] // the field types differ between libcs
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Copies `r` into `w` through one buffer, checking the running total against `limit`.
pub fn copy_limited(
    r: &mut dyn Read,
    w: &mut dyn Write,
    limit: &SizeLimit,
    read_fault: FaultCode,
) -> Result<u64, Failure> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Failure::new(
                    read_fault,
                    format!("transfer interrupted after {total} bytes: {e}"),
                ))
            }
        };
        total += n as u64;
        limit.check(total)?;
        w.write_all(&buf[..n]).map_err(|e| write_failure(&e))?;
    }
    Ok(total)
}

/// A local write error: a full disk is a size problem (9010), anything else internal.
pub fn write_failure(e: &io::Error) -> Failure {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        Failure::new(FaultCode::DOWNLOAD_FAILURE, "no space left on device")
    } else {
        Failure::new(FaultCode::INTERNAL_ERROR, format!("cannot write file: {e}"))
    }
}

/// Saves a download's `body` into `dest` within `limit`, durably: creates the file, copies,
/// lets `finish` end the transfer (FTP reads the server's end-of-transfer reply there, before
/// the fsync), syncs and checks the final length. The bytes written, or why not.
pub fn save_limited<R: Read>(
    mut body: R,
    dest: &Path,
    limit: &SizeLimit,
    finish: impl FnOnce(R) -> Result<(), Failure>,
) -> Result<u64, Failure> {
    let mut file = File::create(dest).map_err(|e| write_failure(&e))?;
    let n = copy_limited(
        &mut body,
        &mut file,
        limit,
        FaultCode::COMPLETE_DOWNLOAD_FAILURE,
    )?;
    finish(body)?;
    file.sync_all().map_err(|e| write_failure(&e))?;
    limit.check_end(n)?;
    Ok(n)
}

struct Client<'a> {
    agent: Agent,
    base: Url,
    user: &'a str,
    pass: &'a str,
    auth: Option<Auth>,
}

impl<'a> Client<'a> {
    fn new(url: &str, user: &'a str, pass: &'a str, o: &NetOptions) -> Result<Client<'a>, Failure> {
        let base = Url::parse(url)
            .map_err(|e| Failure::new(FaultCode::DOWNLOAD_FAILURE, format!("bad URL: {e}")))?;
        let tls = Tls::new(o.tls.clone());
        if base.is_https() {
            tls.prepare().map_err(|e| {
                Failure::new(FaultCode::CONTACT_SERVER_FAILURE, format!("TLS setup: {e}"))
            })?;
        }
        let config = Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(o.connect_timeout))
            .timeout_recv_response(Some(o.idle_timeout))
            .timeout_per_read(Some(o.idle_timeout))
            .timeout_per_write(Some(o.idle_timeout))
            .user_agent(HttpOptions::new(url).user_agent.as_str())
            .proxy(None)
            .build();
        let agent = new_agent(&config, &tls);
        Ok(Client {
            agent,
            base,
            user,
            pass,
            auth: None,
        })
    }

    fn authorization(&mut self, method: &str, url: &Url) -> Option<String> {
        let (user, pass) = (self.user, self.pass);
        Some(self.auth.as_mut()?.header(user, pass, method, url.target()))
    }

    /// Sends `method` (GET, or PUT of `body`) following 401 and redirects; returns the final
    /// response (any status but 401/3xx). `fail` is the fault for a refused request.
    fn exchange(
        &mut self,
        method: &str,
        body: Option<&Path>,
        fail: FaultCode,
    ) -> Result<Response<Body>, Failure> {
        let mut url = self.base.clone();
        let mut redirects = 0;
        let mut auth_tried = false;
        loop {
            let trusted = url.same_origin(&self.base);
            let authz = if trusted {
                self.authorization(method, &url)
            } else {
                None
            };
            let resp = match body {
                None => {
                    let mut rq = self.agent.get(url.to_string());
                    if let Some(a) = authz {
                        rq = rq.header("Authorization", a);
                    }
                    rq.call()
                }
                Some(p) => {
                    let f = File::open(p).map_err(|e| {
                        Failure::new(fail, format!("cannot read {}: {e}", p.display()))
                    })?;
                    let mut rq = self
                        .agent
                        .put(url.to_string())
                        .header("Content-Type", "application/octet-stream");
                    if let Some(a) = authz {
                        rq = rq.header("Authorization", a);
                    }
                    rq.send(f)
                }
            }
            .map_err(|e| map_err(e, fail))?;
            let status = resp.status().as_u16();
            match status {
                401 => {
                    let auth = Auth::from_response(&resp, self.user, self.pass);
                    drain(resp);
                    if auth_tried || !trusted || self.user.is_empty() {
                        return Err(Failure::new(
                            FaultCode::TRANSFER_AUTH_FAILURE,
                            format!("{url} refused authentication (HTTP 401)"),
                        ));
                    }
                    self.auth = Some(auth.ok_or_else(|| {
                        Failure::new(
                            FaultCode::TRANSFER_AUTH_FAILURE,
                            format!("{url}: no usable authentication challenge"),
                        )
                    })?);
                    auth_tried = true;
                }
                301 | 302 | 303 | 307 | 308 => {
                    let loc = take_location(resp);
                    redirects += 1;
                    let loc = loc.ok_or_else(|| {
                        Failure::new(fail, format!("HTTP {status} without Location"))
                    })?;
                    if redirects > MAX_REDIRECTS {
                        return Err(Failure::new(fail, "too many redirects"));
                    }
                    url = url.resolve(&loc).map_err(|e| {
                        Failure::new(fail, format!("redirect to an unusable URL: {e}"))
                    })?;
                    auth_tried = false;
                    log::info!("transfer redirected ({status}) to {url}");
                }
                _ => return Ok(resp),
            }
        }
    }
}

/// Fault for a final HTTP status other than success.
fn status_failure(status: u16, fail: FaultCode) -> Failure {
    let code = match status {
        403 => FaultCode::TRANSFER_AUTH_FAILURE,
        404 | 410 => FaultCode::ACCESS_FILE_FAILURE,
        _ => fail,
    };
    Failure::new(code, format!("file server answered HTTP {status}"))
}

/// Downloads `url` into `dest` (created or truncated) without holding the file in memory.
/// Returns the number of bytes written.
pub fn download(
    url: &str,
    user: &str,
    pass: &str,
    opts: &NetOptions,
    dest: &Path,
    limit: SizeLimit,
) -> Result<u64, Failure> {
    let mut client = Client::new(url, user, pass, opts)?;
    let mut resp = client.exchange("GET", None, FaultCode::DOWNLOAD_FAILURE)?;
    let status = resp.status().as_u16();
    if status != 200 {
        drain(resp);
        return Err(status_failure(status, FaultCode::DOWNLOAD_FAILURE));
    }
    if let Some(len) = resp.body().content_length() {
        limit.check(len)?;
    }
    let mut reader = resp.body_mut().as_reader();
    save_limited(&mut reader, dest, &limit, |_| Ok(()))
}

/// Uploads `src` to `url` with PUT.
pub fn upload(
    url: &str,
    user: &str,
    pass: &str,
    opts: &NetOptions,
    src: &Path,
) -> Result<(), Failure> {
    let mut client = Client::new(url, user, pass, opts).map_err(|f| Failure {
        code: FaultCode::UPLOAD_FAILURE,
        ..f
    })?;
    let resp = client.exchange("PUT", Some(src), FaultCode::UPLOAD_FAILURE)?;
    let status = resp.status().as_u16();
    drain(resp);
    match status {
        200..=299 => Ok(()),
        s => Err(status_failure(s, FaultCode::UPLOAD_FAILURE)),
    }
}

/// Maps a ureq error before the answer: unreachable, silent or reset servers and TLS
/// failures (the server could not be trusted) are 9015; the rest is `fail`.
fn map_err(e: ureq::Error, fail: FaultCode) -> Failure {
    use ureq::Error as E;
    let contact = |m: String| Failure::new(FaultCode::CONTACT_SERVER_FAILURE, m);
    if let Some(m) = tls::failure_of(&e) {
        return contact(format!("TLS: {m}"));
    }
    match e {
        E::HostNotFound => contact("file server name not found".into()),
        E::ConnectionFailed => contact("cannot connect to the file server".into()),
        E::Timeout(t) => contact(format!("file server did not answer in time ({t})")),
        E::Io(io) => contact(format!("file server: {io}")),
        other => Failure::new(fail, other.to_string()),
    }
}
