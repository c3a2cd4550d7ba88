use super::*;
use crate::http::digest::ClientDigest;
use std::net::{Ipv4Addr, Ipv6Addr};

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn settings() -> CrSettings {
    CrSettings {
        username: "cruser".into(),
        password: "crpass".into(),
        path: "abc".into(),
        ..CrSettings::default()
    }
}

/// [`settings`] without rate limits in the way of a test about answers.
fn unlimited() -> CrSettings {
    CrSettings {
        rate_capacity: 1000,
        source_capacity: 1000,
        ..settings()
    }
}

fn req<'a>(path: &'a str, authorization: Option<&'a str>) -> CrRequest<'a> {
    CrRequest {
        method: "GET",
        path_with_query: path,
        authorization,
        peer: PEER,
    }
}

/// Both `WWW-Authenticate` values of a challenge.
fn challenges_of(d: CrDecision) -> Vec<String> {
    match d {
        CrDecision::Challenge { www_authenticate } => www_authenticate,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

/// The MD5 challenge (what an RFC 2617 ACS answers).
fn challenge_of(d: CrDecision) -> String {
    let all = challenges_of(d);
    all.into_iter()
        .find(|c| c.contains("algorithm=MD5"))
        .expect("an MD5 challenge")
}

/// Builds the client's Authorization for `challenge` (as an ACS would).
fn client(challenge: &str) -> ClientDigest {
    ClientDigest::from_challenges(&parse_challenges([challenge])).unwrap()
}

/// Authorization header with a chosen nc (for replay tests).
fn answer(challenge: &str, password: &str, uri: &str, nc: u32) -> String {
    let mut d = client(challenge);
    let mut h = String::new();
    for _ in 0..nc {
        h = d.authorization("cruser", password, "GET", uri, "0a4f113b");
    }
    h
}

#[test]
fn accepts_valid_digest_and_challenge_format() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    let ch = challenge_of(a.check(&req("/abc", None), t0));
    assert!(ch.starts_with("Digest realm=\"authenticate@cwmp\", qop=\"auth\", nonce=\""));
    assert!(ch.ends_with(", algorithm=MD5"));
    assert!(ch.contains(", opaque=\""));
    let h = answer(&ch, "crpass", "/abc", 1);
    assert_eq!(a.check(&req("/abc", Some(&h)), t0), CrDecision::Accept);
}

#[test]
fn offers_sha256_first_then_md5_with_one_nonce() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    let all = challenges_of(a.check(&req("/abc", None), t0));
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].ends_with(", algorithm=SHA-256"), "{all:?}");
    assert!(all[1].ends_with(", algorithm=MD5"), "{all:?}");
    let parsed = parse_challenges(all.iter().map(String::as_str));
    assert_eq!(parsed[0].get("nonce"), parsed[1].get("nonce"));
    assert_eq!(parsed[0].get("opaque"), parsed[1].get("opaque"));
    // A client that knows both takes SHA-256, and is accepted.
    let mut d = ClientDigest::from_challenges(&parsed).unwrap();
    let h = d.authorization("cruser", "crpass", "GET", "/abc", "0a4f113b");
    assert!(h.contains("algorithm=SHA-256"), "{h}");
    assert_eq!(a.check(&req("/abc", Some(&h)), t0), CrDecision::Accept);
}

#[test]
fn accepts_sha256_and_md5_answers_and_refuses_a_wrong_sha256_password() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(unlimited(), t0);
    let all = challenges_of(a.check(&req("/abc", None), t0));
    let bad = answer(&all[0], "wrong", "/abc", 1);
    let c = a.check_request(&req("/abc", Some(&bad)), t0);
    assert_eq!(c.refused_user.as_deref(), Some("cruser"));
    let h = answer(&all[0], "crpass", "/abc", 1);
    assert!(h.contains("algorithm=SHA-256"));
    assert_eq!(a.check(&req("/abc", Some(&h)), t0), CrDecision::Accept);
    let all = challenges_of(a.check(&req("/abc", None), t0));
    let h = answer(&all[1], "crpass", "/abc", 1);
    assert!(h.contains("algorithm=MD5"));
    assert_eq!(a.check(&req("/abc", Some(&h)), t0), CrDecision::Accept);
    // The SHA-256-sess variant a client may pick is verified too.
    let all = challenges_of(a.check(&req("/abc", None), t0));
    let sess = all[0].replace("algorithm=SHA-256", "algorithm=SHA-256-sess");
    let h = answer(&sess, "crpass", "/abc", 1);
    assert_eq!(a.check(&req("/abc", Some(&h)), t0), CrDecision::Accept);
}

#[test]
fn wrong_password_or_user_is_challenged() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(unlimited(), t0);
    let ch = challenge_of(a.check(&req("/abc", None), t0));
    let h = answer(&ch, "wrong", "/abc", 1);
    let again = challenge_of(a.check(&req("/abc", Some(&h)), t0));
    assert!(!again.contains("stale"));
    let h = answer(&ch, "crpass", "/abc", 1).replace("cruser", "other");
    challenge_of(a.check(&req("/abc", Some(&h)), t0));
    challenge_of(a.check(&req("/abc", Some("Basic Y3J1c2VyOmNycGFzcw==")), t0));
    challenge_of(a.check(&req("/abc", Some("Digest garbage")), t0));
}

#[test]
fn replayed_nc_is_refused_and_higher_nc_accepted() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    let ch = challenge_of(a.check(&req("/abc", None), t0));
    let h1 = answer(&ch, "crpass", "/abc", 1);
    assert_eq!(a.check(&req("/abc", Some(&h1)), t0), CrDecision::Accept);
    let replay = challenge_of(a.check(&req("/abc", Some(&h1)), t0));
    assert!(!replay.contains("stale"));
    let h3 = answer(&ch, "crpass", "/abc", 3);
    assert_eq!(a.check(&req("/abc", Some(&h3)), t0), CrDecision::Accept);
    let h2 = answer(&ch, "crpass", "/abc", 2);
    challenge_of(a.check(&req("/abc", Some(&h2)), t0));
}

#[test]
fn expired_nonce_gets_stale_challenge() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    let ch = challenge_of(a.check(&req("/abc", None), t0));
    let h = answer(&ch, "crpass", "/abc", 1);
    let later = t0 + DEFAULT_NONCE_LIFETIME;
    let both = challenges_of(a.check(&req("/abc", Some(&h)), later));
    assert!(both.iter().all(|c| c.ends_with(", stale=true")), "{both:?}");
    let stale = both[1].clone();
    // The fresh nonce works.
    let h = answer(&stale, "crpass", "/abc", 1);
    assert_eq!(a.check(&req("/abc", Some(&h)), later), CrDecision::Accept);
    // A wrong password with an expired nonce is not "stale".
    let ch = challenge_of(a.check(&req("/abc", None), later));
    let h = answer(&ch, "bad", "/abc", 1);
    let c = challenge_of(a.check(&req("/abc", Some(&h)), later + DEFAULT_NONCE_LIFETIME));
    assert!(!c.contains("stale"));
}

#[test]
fn unknown_nonce_is_challenged() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    let mut other = CrAuth::new(settings(), t0);
    let ch = challenge_of(other.check(&req("/abc", None), t0));
    let h = answer(&ch, "crpass", "/abc", 1);
    challenge_of(a.check(&req("/abc", Some(&h)), t0));
}

#[test]
fn paths_are_normalised_and_queries_ignored() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    assert_eq!(a.check(&req("/other", None), t0), CrDecision::Reject(404));
    assert_eq!(a.check(&req("/", None), t0), CrDecision::Reject(404));
    let ch = challenge_of(a.check(&req("/abc?x=1&y", None), t0));
    // Digest uri with the query: the hash covers the uri as sent.
    let h = answer(&ch, "crpass", "/abc?x=1&y", 1);
    assert_eq!(
        a.check(&req("/abc?x=1&y", Some(&h)), t0),
        CrDecision::Accept
    );
    // Digest uri naming another path is a bad request.
    let h = answer(&ch, "crpass", "/zzz", 2);
    assert_eq!(a.check(&req("/abc", Some(&h)), t0), CrDecision::Reject(400));
    assert_eq!(normalize_path("abc"), "/abc");
    assert_eq!(normalize_path("//abc?q"), "/abc");
    assert_eq!(normalize_path(""), "/");
    let mut root = CrAuth::new(
        CrSettings {
            path: "/".into(),
            ..settings()
        },
        t0,
    );
    challenge_of(root.check(&req("/?q", None), t0));
}

#[test]
fn method_and_unconfigured_credentials() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    let mut r = req("/abc", None);
    r.method = "POST";
    assert_eq!(a.check(&r, t0), CrDecision::Reject(405));
    let mut a = CrAuth::new(
        CrSettings {
            password: String::new(),
            ..settings()
        },
        t0,
    );
    assert_eq!(a.check(&req("/abc", None), t0), CrDecision::Reject(503));
    a.update(settings(), t0);
    challenge_of(a.check(&req("/abc", None), t0));
}

#[test]
fn token_bucket_exhaustion_gives_503() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(
        CrSettings {
            rate_capacity: 3,
            rate_refill_per_sec: 1,
            ..settings()
        },
        t0,
    );
    for _ in 0..3 {
        challenge_of(a.check(&req("/abc", None), t0));
    }
    assert_eq!(a.check(&req("/abc", None), t0), CrDecision::Reject(503));
    challenge_of(a.check(&req("/abc", None), t0 + Duration::from_secs(1)));
}

#[test]
fn allow_list() {
    let t0 = Instant::now();
    let allowed = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let mut a = CrAuth::new(
        CrSettings {
            allow: vec![allowed],
            ..settings()
        },
        t0,
    );
    assert_eq!(a.check(&req("/abc", None), t0), CrDecision::Reject(403));
    let mut r = req("/abc", None);
    r.peer = allowed;
    challenge_of(a.check(&r, t0));
    // The same address seen through a dual-stack socket.
    r.peer = IpAddr::V6(Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped());
    challenge_of(a.check(&r, t0));
    r.peer = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(a.check(&r, t0), CrDecision::Reject(403));
}

#[test]
fn nonce_store_is_bounded() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(unlimited(), t0);
    let first = challenge_of(a.check(&req("/abc", None), t0));
    for _ in 0..MAX_NONCES {
        challenge_of(a.check(&req("/abc", None), t0));
    }
    assert_eq!(a.nonces.len(), MAX_NONCES);
    let h = answer(&first, "crpass", "/abc", 1);
    challenge_of(a.check(&req("/abc", Some(&h)), t0));
}

#[test]
fn credential_change_forgets_nonces() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    let ch = challenge_of(a.check(&req("/abc", None), t0));
    a.update(
        CrSettings {
            password: "new".into(),
            ..settings()
        },
        t0,
    );
    let mut d = client(&ch);
    let h = d.authorization("cruser", "new", "GET", "/abc", "c");
    challenge_of(a.check(&req("/abc", Some(&h)), t0));
}

#[test]
fn refused_credentials_are_reported_with_their_user_name() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(unlimited(), t0);
    let first = a.check_request(&req("/abc", None), t0);
    assert_eq!(
        first.refused_user, None,
        "a first request without credentials"
    );
    let ch = challenge_of(first.decision);
    let wrong = answer(&ch, "guess", "/abc", 1);
    let c = a.check_request(&req("/abc", Some(&wrong)), t0);
    challenge_of(c.decision);
    assert_eq!(c.refused_user.as_deref(), Some("cruser"));
    let mut d = client(&ch);
    let h = d.authorization("admin", "crpass", "GET", "/abc", "c");
    let c = a.check_request(&req("/abc", Some(&h)), t0);
    assert_eq!(c.refused_user.as_deref(), Some("admin"));
    // A nonce we do not know (issued before a restart) is no guess: the client is simply
    // challenged again.
    let stranger = CrAuth::new(settings(), t0).check(&req("/abc", None), t0);
    let h = answer(&challenge_of(stranger), "crpass", "/abc", 1);
    let c = a.check_request(&req("/abc", Some(&h)), t0);
    assert_eq!(c.refused_user, None);
    let h = answer(&ch, "crpass", "/abc", 1);
    assert_eq!(
        a.check_request(&req("/abc", Some(&h)), t0),
        Checked {
            decision: CrDecision::Accept,
            refused_user: None
        }
    );
}

#[test]
fn a_password_guesser_is_refused_while_another_source_gets_through() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    let guesser = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    let mut r = req("/abc", None);
    r.peer = guesser;
    let ch = challenge_of(a.check(&r, t0));
    let wrong = answer(&ch, "guess", "/abc", 1);
    r.authorization = Some(&wrong);
    let mut answers = Vec::new();
    for i in 0..1000u64 {
        answers.push(a.check(&r, t0 + Duration::from_millis(i)));
    }
    let guesses = answers
        .iter()
        .filter(|d| matches!(d, CrDecision::Challenge { .. }))
        .count();
    // This many guesses were answered in one second (20 tokens, 5 a guess), the rest 503.
    assert!(guesses <= 4, "{guesses} guesses answered");
    assert_eq!(answers.last(), Some(&CrDecision::Reject(503)));
    // The ACS, from elsewhere, meanwhile: challenge, then accepted, again and again.
    for i in 0..30u64 {
        let t = t0 + Duration::from_millis(1000 + i);
        let ch = challenge_of(a.check(&req("/abc", None), t));
        let h = answer(&ch, "crpass", "/abc", 1);
        assert_eq!(
            a.check(&req("/abc", Some(&h)), t),
            CrDecision::Accept,
            "CR {i}"
        );
    }
}

/// An RFC 2617 client that reads only the first header (the SHA-256 one) and answers MD5
/// without naming an algorithm is still accepted: the nonce is the same in both challenges
/// and a missing algorithm means MD5.
#[test]
fn a_client_reading_only_the_first_challenge_and_answering_md5_is_accepted() {
    let t0 = Instant::now();
    let mut a = CrAuth::new(settings(), t0);
    let all = challenges_of(a.check(&req("/abc", None), t0));
    let first = &parse_challenges([all[0].as_str()])[0];
    let (nonce, realm) = (first.get("nonce").unwrap(), first.get("realm").unwrap());
    let resp = digest::response(&DigestInput {
        algorithm: Algorithm::Md5,
        username: "cruser",
        realm,
        password: "crpass",
        method: "GET",
        uri: "/abc",
        nonce,
        nc: "00000001",
        cnonce: "c0ffee",
        qop: Some("auth"),
    });
    let h = format!(
        "Digest username=\"cruser\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"/abc\", \
         qop=auth, nc=00000001, cnonce=\"c0ffee\", response=\"{resp}\", opaque=\"{}\"",
        first.get("opaque").unwrap()
    );
    assert_eq!(a.check(&req("/abc", Some(&h)), t0), CrDecision::Accept);
}
