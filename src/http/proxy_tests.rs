//! Tests of the proxy settings and the request-head rewrite (src/http/proxy.rs).

use super::*;

#[test]
fn parses_proxy_urls_with_and_without_credentials() {
    let p = Proxy::parse("http://u%40x:p%3Aw@proxy.lan:3128/").unwrap();
    assert_eq!((p.host.as_str(), p.port), ("proxy.lan", 3128));
    let want = format!("Basic {}", crate::crypto::base64_encode(b"u@x:p:w"));
    assert_eq!(p.auth.as_deref(), Some(want.as_str()));
    assert_eq!(format!("{p:?}"), "http://proxy.lan:3128 (auth)");
    let p = Proxy::parse("10.0.0.1").unwrap();
    assert_eq!((p.port, p.auth.is_none()), (1080, true));
    let p = Proxy::parse("http://[::1]:8080").unwrap();
    assert_eq!(p.to_string(), "http://[::1]:8080");
    for bad in [
        "https://p:1",
        "socks5://p:1",
        "http://:80",
        "http://p:0",
        "http://p:x",
        "http://[::1",
    ] {
        assert!(Proxy::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_environment_is_followed_per_scheme_and_no_proxy() {
    let p = Proxies::from_vars(
        Some("http://hp:1"),
        Some("sp:2"),
        Some(" .corp.example, 10.1.2.3 "),
    )
    .unwrap();
    assert_eq!(p.for_target(false, "acs.net").map(|p| p.port), Some(1));
    assert_eq!(p.for_target(true, "acs.net").map(|p| p.port), Some(2));
    assert!(p.for_target(true, "acs.corp.example").is_none());
    assert!(p.for_target(false, "corp.example").is_none());
    assert!(p.for_target(false, "xcorp.example").is_some());
    assert!(p.for_target(false, "10.1.2.3").is_none());
    let all = Proxies::from_vars(Some("hp:1"), None, Some("*")).unwrap();
    assert!(all.for_target(false, "acs.net").is_none());
    // acs.http_proxy wins over (and ignores) the environment.
    let o = ProxyOptions {
        url: "http://x:9".into(),
        env: true,
    };
    let p = Proxies::new(&o).unwrap();
    assert_eq!(p.for_target(true, "10.1.2.3").map(|p| p.port), Some(9));
    assert!(Proxies::new(&ProxyOptions::default()).unwrap().is_empty());
}

#[test]
fn request_heads_get_the_absolute_form_and_bodies_pass() {
    let head = b"POST /acs?x=1 HTTP/1.1\r\nHost: a:7547\r\n\r\n";
    let out = absolute_head(head, "http://a:7547", Some("Basic Zm9vOmJhcg==")).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "POST http://a:7547/acs?x=1 HTTP/1.1\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\
         Host: a:7547\r\n\r\n"
    );
    for body in [
        &b"<soap:Envelope>POST /x HTTP/1.1\r\n"[..],
        b"\x1f\x8b\x08",
        b"post /x HTTP/1.1\r\n",
        b"POST http://already/x HTTP/1.1\r\n",
        b"POST /x",
    ] {
        assert!(absolute_head(body, "http://a", None).is_none());
    }
    assert_eq!(
        connect_status(b"HTTP/1.1 407 Proxy Auth\r\n\r\n"),
        Some(407)
    );
    assert_eq!(connect_status(b"HTTP/1.0 200 OK\r\n\r\n"), Some(200));
    assert_eq!(connect_status(b"garbage\r\n\r\n"), None);
}
