//! Session cookies for the ACS client: `Set-Cookie` parsing and the `Cookie` header.
//!
//! Pure: the current time is passed in. Attributes are ignored except that `Max-Age<=0` or
//! an `Expires` date in the past deletes the cookie. Cookies are host-only: a cookie is sent
//! back only to the host that set it (so a redirect to another host does not leak it).

/// Ordered cookie store for one CWMP session.
#[derive(Clone, Debug, Default)]
pub struct CookieJar {
    /// (host, name, value) in the order first set.
    items: Vec<(String, String, String)>,
}

/// Upper bound on stored cookies, so a hostile server cannot grow the jar without limit.
const MAX_COOKIES: usize = 32;

impl CookieJar {
    /// Applies one `Set-Cookie` value received from `host` at Unix time `now`.
    /// Malformed values (no `=`, empty name, a control character in name or value: it
    /// would go back verbatim in the `Cookie` header) are ignored.
    pub fn set(&mut self, host: &str, header: &str, now: i64) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || name.contains(char::is_control) || value.contains(char::is_control) {
            return;
        }
        let mut expired = false;
        let mut has_max_age = false;
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("max-age") {
                // Max-Age wins over Expires (RFC 6265 5.3 step 3).
                has_max_age = true;
                expired = v.parse::<i64>().map(|s| s <= 0).unwrap_or(false);
            } else if k.eq_ignore_ascii_case("expires") && !has_max_age {
                expired = parse_http_date(v).is_some_and(|t| t <= now);
            }
        }
        let pos = self
            .items
            .iter()
            .position(|(h, n, _)| h.eq_ignore_ascii_case(host) && n == name);
        match (pos, expired) {
            (Some(i), true) => {
                self.items.remove(i);
            }
            (Some(i), false) => self.items[i].2 = value.to_string(),
            (None, true) => {}
            (None, false) => {
                if self.items.len() >= MAX_COOKIES {
                    self.items.remove(0);
                }
                self.items
                    .push((host.to_string(), name.to_string(), value.to_string()));
            }
        }
    }

    /// The `Cookie` header value for a request to `host`, if any cookie applies.
    pub fn header(&self, host: &str) -> Option<String> {
        let v: Vec<String> = self
            .items
            .iter()
            .filter(|(h, _, _)| h.eq_ignore_ascii_case(host))
            .map(|(_, n, v)| format!("{n}={v}"))
            .collect();
        (!v.is_empty()).then(|| v.join("; "))
    }

    /// Drops every cookie (end of session).
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// True when no cookie is stored.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Parses the HTTP-date forms found in `Expires` (IMF-fixdate, RFC 850 `DD-Mon-YY`, asctime)
/// into Unix seconds. Tolerant: tokens are recognised by shape, not position.
pub fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let (mut day, mut month, mut year, mut hms) = (None, None, None, None);
    for tok in s.split([' ', ',', '-', '\t']).filter(|t| !t.is_empty()) {
        if tok.contains(':') {
            // u8: no overflow whatever the digits; out-of-range fields reject the date.
            let mut it = tok.split(':').map(|p| p.parse::<u8>().ok());
            let (h, m, sec) = (it.next()??, it.next()??, it.next()??);
            if h > 23 || m > 59 || sec > 60 {
                return None;
            }
            hms = Some(i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec));
        } else if let Some(i) = MONTHS
            .iter()
            .position(|m| tok.get(..3).is_some_and(|t| t.eq_ignore_ascii_case(m)))
        {
            month = Some(i as u32 + 1);
        } else if tok.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = tok.parse().ok()?;
            if tok.len() <= 2 && day.is_none() {
                day = Some(n as u32);
            } else if tok.len() == 2 {
                year = Some(if n >= 70 { 1900 + n } else { 2000 + n });
            } else {
                year = Some(n);
            }
        }
    }
    let (d, m, y) = (day?, month?, year?);
    // RFC 6265 5.1.1 refuses years before 1601; past 9999 is no date a server means, and
    // keeps the arithmetic below far from overflow.
    if !(1..=31).contains(&d) || !(1601..=9999).contains(&y) {
        return None;
    }
    Some(crate::time::days_from_civil(y, m, d) * 86400 + hms.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000; // 2023-11-14

    #[test]
    fn stores_and_returns_in_order() {
        let mut j = CookieJar::default();
        j.set("acs", "session=abc; Path=/; HttpOnly", NOW);
        j.set("acs", "b=2", NOW);
        j.set("acs", "session=def", NOW);
        assert_eq!(j.header("ACS").as_deref(), Some("session=def; b=2"));
        assert_eq!(j.header("other"), None);
    }

    #[test]
    fn max_age_zero_and_past_expires_delete() {
        let mut j = CookieJar::default();
        j.set("h", "a=1", NOW);
        j.set("h", "b=2", NOW);
        j.set("h", "c=3", NOW);
        j.set("h", "a=; Max-Age=0", NOW);
        j.set("h", "b=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", NOW);
        j.set("h", "c=4; Expires=Wed, 09 Jun 2100 10:18:14 GMT", NOW);
        assert_eq!(j.header("h").as_deref(), Some("c=4"));
        j.set(
            "h",
            "c=4; Max-Age=100; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            NOW,
        );
        assert_eq!(j.header("h").as_deref(), Some("c=4"));
        j.clear();
        assert!(j.is_empty());
    }

    #[test]
    fn ignores_malformed() {
        let mut j = CookieJar::default();
        j.set("h", "novalue", NOW);
        j.set("h", "=x", NOW);
        assert!(j.is_empty());
    }

    #[test]
    fn control_characters_are_not_sent_back() {
        // Found by the http_headers fuzz target: the CR went out in the Cookie header.
        let mut j = CookieJar::default();
        j.set("h", "a=1", NOW);
        j.set("h", "b=x\r\nInjected: 1", NOW);
        j.set("h", "c\u{7f}=2", NOW);
        j.set("h", "a=2\u{0}", NOW);
        assert_eq!(j.header("h").as_deref(), Some("a=1"));
    }

    #[test]
    fn bounded() {
        let mut j = CookieJar::default();
        for i in 0..100 {
            j.set("h", &format!("c{i}=v"), NOW);
        }
        let h = j.header("h").unwrap();
        assert_eq!(h.split("; ").count(), MAX_COOKIES);
        assert!(h.starts_with("c68=v"));
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784111777));
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(parse_http_date("é€€, 06 Nov 1994"), Some(784080000));
        assert_eq!(parse_http_date("Sun, 99 Nov 1994 08:49:37 GMT"), None);
    }

    /// Huge years and times overflowed (a panic in debug builds).
    #[test]
    fn absurd_dates_are_refused_without_overflow() {
        for bad in [
            "Wed, 09 Jun 9223372036854775807 10:18:14 GMT",
            "Wed, 09 Jun 922337203685477580 10:18:14 GMT",
            "Wed, 09 Jun -9223372036854775808 10:18:14 GMT",
            "Wed, 09 Jun 2100 9223372036854775807:00:00 GMT",
            "Wed, 09 Jun 2100 99999999999:99999999999:99999999999 GMT",
            "Wed, 09 Jun 2100 24:00:00 GMT",
            "Wed, 09 Jun 1600 10:18:14 GMT",
            "Wed, 09 Jun 10000 10:18:14 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(253_402_300_799)
        );
        let mut j = CookieJar::default();
        j.set(
            "h",
            "a=1; Expires=Wed, 09 Jun 9223372036854775807 99999:99:99 GMT",
            NOW,
        );
        assert_eq!(j.header("h").as_deref(), Some("a=1"));
    }
}
