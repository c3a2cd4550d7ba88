//! Two processes on one state directory (the daemon and `icwmpd -c`): neither loses the
//! other's changes.

use super::*;
use crate::datamodel::MemConfigStore;

#[test]
fn sees_and_keeps_changes_written_by_another_instance() {
    let dir = std::env::temp_dir().join(format!("icwmp-dm-shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mk = || EmbeddedDataModel::new(&dir, Box::new(MemConfigStore::default()));
    let mut daemon = mk();
    let mut cli = mk();
    let (n, _) = cli.add_object("Device.NAT.PortMapping.").unwrap();
    let path = format!("Device.NAT.PortMapping.{n}.Description");
    assert!(
        daemon.get_values(&path).is_ok(),
        "daemon sees the CLI's row"
    );
    let (m, _) = daemon.add_object("Device.NAT.PortMapping.").unwrap();
    assert_ne!(m, n, "instance numbers stay unique across both");
    let mut fresh = mk();
    assert!(
        fresh.get_values(&path).is_ok(),
        "the CLI's row survived the daemon's write"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
