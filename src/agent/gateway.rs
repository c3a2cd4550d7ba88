//! TR-111 part 1 on the daemon's side: `Device.GatewayInfo.` (the gateway we are behind, as
//! its DHCP option 125 told the udhcpc hook) is actively notified by default, as TR-181's
//! `forceDefaultEnabled` asks: the ACS learns at once when the device moves to another
//! gateway.

use super::Agent;

/// The GatewayInfo parameters, active by default.
const GATEWAY_INFO: [&str; 3] = [
    "Device.GatewayInfo.ManufacturerOUI",
    "Device.GatewayInfo.ProductClass",
    "Device.GatewayInfo.SerialNumber",
];

impl Agent {
    /// At start: GatewayInfo parameters without a notification of their own (set by the ACS
    /// or earlier) become active, unless `cpe.disable_gatewayinfo`. The C daemon forces them
    /// active at every start; here an ACS's later choice (even "off") is kept.
    pub(super) fn gateway_info_notify_default(&mut self) {
        if self.config.cpe.disable_gatewayinfo {
            return;
        }
        let names: Vec<&str> = GATEWAY_INFO
            .iter()
            .copied()
            .filter(|n| !self.attrs.entries().contains_key(*n))
            .collect();
        if names.is_empty() {
            return;
        }
        // One SetParameterAttributes (one read of the data model) for all of them.
        let changed = match self.set_notifications_locally(&names, 2) {
            Ok(c) => c,
            Err(e) => {
                log::debug!("GatewayInfo not made active: {e}");
                false
            }
        };
        if changed {
            if let Err(e) = self.attrs.save(&self.opts.state_dir) {
                log::error!("cannot store GatewayInfo notifications: {e}");
            }
        }
    }
}
