//! The ACS's HTTP response headers the client interprets itself (src/http/): `Set-Cookie`
//! (the cookie jar, and `Expires` dates), and a redirect's `Location` resolved against the
//! ACS URL. One header value per input line. A resolved URL prints as a URL that parses to
//! itself, and the `Cookie` header sent back never carries a line break.
#![no_main]

use icwmp::http::cookies::{parse_http_date, CookieJar};
use icwmp::http::url::Url;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let base = Url::parse("https://acs.example:7547/cwmp/acs?x=1").expect("a valid URL");
    let mut jar = CookieJar::default();
    for line in text.split('\n') {
        jar.set("acs.example", line, NOW);
        let _ = parse_http_date(line);
        if let Ok(url) = base.resolve(line) {
            let printed = url.to_string();
            assert_eq!(
                Url::parse(&printed).as_ref(),
                Ok(&url),
                "{line:?} gave {printed:?}"
            );
        }
    }
    if let Some(cookie) = jar.header("ACS.example") {
        assert!(!cookie.contains(['\r', '\n']), "{cookie:?}");
    }
});
