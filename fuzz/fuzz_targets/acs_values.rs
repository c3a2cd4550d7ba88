//! Values inside ACS messages that the daemon parses itself: xsd:dateTime (SetParameterValues
//! of a dateTime parameter, autonomous DU events), parameter paths, transfer URLs, and the
//! name and version read from a downloaded package. One value per input line (the package
//! check gets the whole input). A parsed dateTime prints as a dateTime that parses back to
//! the same instant (within years 0000-9999: an offset or leap second may carry 9999-12-31
//! over into year 10000, which the parser refuses).
#![no_main]

use icwmp::datamodel::ParamPath;
use icwmp::du::store::package_identity;
use icwmp::time::{format_datetime, parse_datetime};
use icwmp::transfer::check::check_url;
use libfuzzer_sys::fuzz_target;

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const YEARS_0_TO_9999: std::ops::RangeInclusive<i64> = -62_167_219_200..=253_402_300_799;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        if let Some(t) = parse_datetime(line).filter(|t| YEARS_0_TO_9999.contains(t)) {
            let printed = format_datetime(t);
            assert_eq!(
                parse_datetime(&printed),
                Some(t),
                "{line:?} printed as {printed:?}"
            );
        }
        let _ = ParamPath::parse(line);
        let _ = check_url(line);
    }
    let url = text.lines().next().unwrap_or("");
    let _ = package_identity(data, url);
});
