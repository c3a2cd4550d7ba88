//! Where the agent's [`crate::metrics::Metrics`] go: the `tr069 metrics` snapshot and the
//! metrics file `icwmpd -c metrics` prints (`cpe.metrics_file`, written atomically, at most
//! once a second, only when a counter changed; the connection-request counters, kept by
//! other threads, are looked at every 2 s when there is a file).

use super::Agent;
use std::path::Path;
use std::time::Duration;

/// Shortest time between two writes of the metrics file.
const MIN_WRITE_GAP_MS: u64 = 1000;
/// With a metrics file, how often the loop looks at the connection-request counters the other
/// threads keep (they do not wake it).
const CR_CHECK: Duration = Duration::from_secs(2);

/// What was last written, and when (monotonic ms).
#[derive(Debug, Default)]
pub(super) struct MetricsOut {
    written: Option<serde_json::Value>,
    at: Option<u64>,
}

impl Agent {
    /// Publishes the metrics; returns how soon the loop must come back (a change the write gap
    /// held back, or the next look at the connection-request counters).
    pub(super) fn publish_metrics(&mut self) -> Option<Duration> {
        self.metrics.sync_connection_requests();
        let now = self.clock.now();
        let json = self.metrics.to_json(self.retry_count, now.unix());
        if let Some(shared) = &self.status {
            let mut g = shared.lock().unwrap_or_else(|p| p.into_inner());
            g.metrics = json.clone();
        }
        let path = self.config.ops.metrics_file.trim();
        if path.is_empty() {
            return None;
        }
        // Compared without the snapshot time, which changes every second.
        let counters = self.metrics.to_json(self.retry_count, 0);
        if self.metrics_out.written.as_ref() == Some(&counters) {
            return Some(CR_CHECK);
        }
        if let Some(at) = self.metrics_out.at {
            let due = at.saturating_add(MIN_WRITE_GAP_MS);
            if now.mono < due {
                return Some(Duration::from_millis(due - now.mono));
            }
        }
        let path = Path::new(path);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A failure is logged by the store; the next change tries again.
        let _ = crate::store::write_atomic(path, json.to_string().as_bytes());
        self.metrics_out.written = Some(counters);
        self.metrics_out.at = Some(now.mono);
        Some(CR_CHECK)
    }
}
