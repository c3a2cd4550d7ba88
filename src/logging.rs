//! The daemon's logger: the C icwmp's line format (`DD-MM-YYYY, HH:MM:SS [LEVEL]   text`) on
//! standard error, which procd forwards to syslog.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct Logger;

static LOGGER: Logger = Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        // Libraries (ureq, tiny_http) only speak up for warnings: their debug chatter would
        // drown the SOAP dumps.
        metadata.level() <= log::max_level()
            && (metadata.level() <= Level::Warn || metadata.target().starts_with("icwmp"))
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "ERROR",
            Level::Warn => "WARNING",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        let line = format!(
            "{} [{level}]   {}\n",
            format_log_time(crate::time::now_unix()),
            record.args()
        );
        // A closed stderr must not kill the daemon: the line is lost, nothing else.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// `DD-MM-YYYY, HH:MM:SS` (UTC) for a log line.
pub fn format_log_time(unix: i64) -> String {
    let t = crate::time::format_datetime(unix); // YYYY-MM-DDTHH:MM:SSZ
    format!("{}-{}-{}, {}", &t[8..10], &t[5..7], &t[0..4], &t[11..19])
}

/// Installs the logger once; later calls only change the level.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Parses a C icwmp severity name (`EMERG`...`DEBUG`, any case) into a level filter.
pub fn parse_severity(s: &str) -> Option<LevelFilter> {
    Some(match s.trim().to_ascii_uppercase().as_str() {
        "EMERG" | "ALERT" | "CRIT" | "ERR" | "ERROR" => LevelFilter::Error,
        "WARNING" | "WARN" => LevelFilter::Warn,
        "NOTICE" | "INFO" => LevelFilter::Info,
        "DEBUG" => LevelFilter::Debug,
        "TRACE" => LevelFilter::Trace,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_c_daemon() {
        assert_eq!(format_log_time(1_700_000_000), "14-11-2023, 22:13:20");
    }

    #[test]
    fn parses_c_severities() {
        assert_eq!(parse_severity("debug"), Some(LevelFilter::Debug));
        assert_eq!(parse_severity("CRIT"), Some(LevelFilter::Error));
        assert_eq!(parse_severity("loud"), None);
    }
}
