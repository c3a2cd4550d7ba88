//! Calendar time without a date crate: UTC `dateTime` formatting and tolerant parsing.
//!
//! Pure functions over Unix seconds; the clock itself is read only at the edges.

/// The TR-106 Unknown Time.
pub const UNKNOWN_TIME: &str = "0001-01-01T00:00:00Z";

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month, day) for days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_datetime(unix: i64) -> String {
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Formats Unix seconds with a numeric offset (`+00:00`), the form the C icwmp's ubus API uses.
pub fn format_datetime_offset(unix: i64) -> String {
    let mut s = format_datetime(unix);
    s.pop();
    s.push_str("+00:00");
    s
}

/// Parses an xsd:dateTime (`Z`, offsets, fractions, or no zone = UTC) into Unix seconds.
/// Returns `None` for anything malformed (`0000-00-00T00:00:00`, `11:54::14`...), and for
/// years outside 0..=9999 (their seconds would overflow the arithmetic).
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once('T')?;
    let mut dp = date.splitn(3, '-');
    let y: i64 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if !(0..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || !rest.is_char_boundary(8)
    {
        return None;
    }
    let (clock, zone) = rest.split_at(8);
    let b = clock.as_bytes();
    if b[2] != b':' || b[5] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = clock.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (h, mi, se) = (num(0..2)?, num(3..5)?, num(6..8)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut zone = zone;
    if let Some(frac) = zone.strip_prefix('.') {
        let n = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        zone = &frac[n..];
    }
    let offset = match zone {
        "" | "Z" | "z" => 0,
        z if (z.starts_with('+') || z.starts_with('-'))
            && z.len() == 6
            && z.get(3..4) == Some(":") =>
        {
            let oh: i64 = z[1..3].parse().ok()?;
            let om: i64 = z[4..6].parse().ok()?;
            let o = oh * 3600 + om * 60;
            if z.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// Whether a dateTime names its zone (`Z` or `±hh:mm`); without one it is UTC by convention.
pub fn has_zone(s: &str) -> bool {
    let s = s.trim();
    if s.ends_with(['Z', 'z']) {
        return true;
    }
    let b = s.as_bytes();
    // `...T...±hh:mm`: the sign is the sixth byte from the end, after the time part.
    b.len() >= 25 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':'
}

/// The current Unix time (an edge helper; pure code takes time as an argument).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_leap_day() {
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_datetime(951782400), "2000-02-29T00:00:00Z");
        assert_eq!(format_datetime_offset(0), "1970-01-01T00:00:00+00:00");
    }

    #[test]
    fn parses_round_trip_and_variants() {
        for t in [0i64, 1_700_000_000, 4_102_444_799, -62135596800] {
            assert_eq!(parse_datetime(&format_datetime(t)), Some(t));
        }
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_datetime("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_datetime("2023-11-14T22:13:20"), Some(1_700_000_000));
        assert_eq!(parse_datetime(UNKNOWN_TIME), Some(-62135596800));
    }

    #[test]
    fn tells_whether_a_time_names_its_zone() {
        for (s, zone) in [
            ("2023-11-14T22:13:20Z", true),
            ("2023-11-14T22:13:20.123z", true),
            ("2023-11-15T00:13:20+02:00", true),
            ("2023-11-15T00:13:20.5-02:00", true),
            ("2023-11-14T22:13:20", false),
            ("2023-11-14T22:13:20.123", false),
            ("2023-11-14T22:13:20.123456", false),
        ] {
            assert_eq!(has_zone(s), zone, "{s}");
        }
    }

    #[test]
    fn rejects_garbage_times() {
        for bad in [
            "0000-00-00T00:00:00",
            "2019-03-05T11:54::14",
            "now",
            "2019-03-05",
            "",
            // Found by the acs_values fuzz target: slicing the zone at a byte inside a
            // character panicked (in release builds too), and huge years overflowed.
            "2019-03-05T11:54:14-\u{fffd}2T",
            "2019-03-05T11:54:14+a\u{e9}00",
            "99999999999999999-01-01T00:00:00Z",
            "-99999999999999999-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }
}
