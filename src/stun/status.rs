//! What the STUN client learnt, for the data model: `<state_dir>/stun_status`, two lines
//! (`UDPConnectionRequestAddress`, `NATDetected`). A file rather than shared memory so that
//! `icwmpd -c get` in another process reads the same values; written atomically.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// File name under the state directory.
pub const FILE: &str = "stun_status";

/// The published state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StunStatus {
    /// `UDPConnectionRequestAddress`: `host:port` (IPv6 in brackets); empty while unknown.
    pub address: String,
    /// `NATDetected`.
    pub nat_detected: bool,
}

impl StunStatus {
    /// The state for mapped address `mapped` seen from local address `local`.
    pub fn new(mapped: SocketAddr, local: Option<SocketAddr>) -> StunStatus {
        StunStatus {
            address: mapped.to_string(),
            nat_detected: local.is_none_or(|l| l.ip() != mapped.ip() || l.port() != mapped.port()),
        }
    }
}

/// The status file of `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Publishes `status` (atomically).
///
/// # Errors
/// The file cannot be written.
pub fn write(state_dir: &Path, status: &StunStatus) -> io::Result<()> {
    let text = format!("{}\n{}\n", status.address, status.nat_detected);
    crate::store::write_atomic(&path(state_dir), text.as_bytes())
}

/// Withdraws the status (STUN off, or no answer yet since start).
pub fn clear(state_dir: &Path) {
    let _ = std::fs::remove_file(path(state_dir));
}

/// Reads the status; unknown (default) when absent or unreadable.
pub fn read(state_dir: &Path) -> StunStatus {
    let Ok(text) = std::fs::read_to_string(path(state_dir)) else {
        return StunStatus::default();
    };
    let mut lines = text.lines();
    StunStatus {
        address: lines
            .next()
            .unwrap_or("")
            .trim()
            .chars()
            .take(256)
            .collect(),
        nat_detected: lines.next() == Some("true"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_nat_detection() {
        let dir = std::env::temp_dir().join(format!("icwmp-stun-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.as_path();
        assert_eq!(read(dir), StunStatus::default());
        let local: SocketAddr = "10.0.0.2:7547".parse().unwrap();
        let same = StunStatus::new(local, Some(local));
        assert!(!same.nat_detected);
        let natted = StunStatus::new("198.51.100.7:40000".parse().unwrap(), Some(local));
        assert!(natted.nat_detected);
        // Same address, other port: a NAT all the same.
        assert!(StunStatus::new("10.0.0.2:7548".parse().unwrap(), Some(local)).nat_detected);
        write(dir, &natted).unwrap();
        assert_eq!(read(dir), natted);
        clear(dir);
        assert_eq!(read(dir), StunStatus::default());
        let _ = std::fs::remove_dir_all(dir);
    }
}
