use super::*;

fn parse(t: &str) -> Document {
    match Document::parse(t, "/etc/config/test") {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

fn err(t: &str) -> String {
    Document::parse(t, "/etc/config/cwmp")
        .unwrap_err()
        .to_string()
}

fn single(d: &Document, sel: &str, o: &str) -> String {
    match d.get(sel, o) {
        Some(Value::Single(v)) => v.clone(),
        other => panic!("{sel}.{o}: {other:?}"),
    }
}

/// (type, name, anonymous, options) of one section.
type Content = (String, String, bool, Vec<(String, Value)>);

/// The document without line numbers, to compare a parse with a re-parse.
fn content(d: &Document) -> Vec<Content> {
    d.sections()
        .iter()
        .map(|s| {
            let o = s
                .options
                .iter()
                .map(|o| (o.name.clone(), o.value.clone()))
                .collect();
            (s.stype.clone(), s.name.clone(), s.anonymous, o)
        })
        .collect()
}

const SAMPLE: &str = "package cwmp\n\
# full-line comment\n\
config acs 'acs' # trailing comment\n\
\toption url \"http://acs.example.com:7547/cwmp?a=1&b=2\"\n\
\toption userid 'it'\\''s'\n\
\toption passwd pa\\ ss\\#word\n\
\toption empty ''\n\
\tlist events '1 BOOT'\n\
\tlist events \"2 PERIODIC\"#c\n\
\n\
config inform_parameter\n\
\toption parameter_name 'Device.DeviceInfo.UpTime'\n\
\toption multi 'line one\nline two'\n\
config inform_parameter 'named'\r\n\
\toption enable 1\r\n\
config cpe cpe\n\
\toption port 7547 # port\n\
\toption path \"/\\\"q\\\"\"\n";

#[test]
fn parses_every_syntax_feature() {
    let d = parse(SAMPLE);
    assert_eq!(d.package.as_deref(), Some("cwmp"));
    assert_eq!(d.sections().len(), 4);
    assert_eq!(
        single(&d, "acs", "url"),
        "http://acs.example.com:7547/cwmp?a=1&b=2"
    );
    assert_eq!(single(&d, "acs", "userid"), "it's");
    assert_eq!(single(&d, "acs", "passwd"), "pa ss#word");
    assert_eq!(single(&d, "acs", "empty"), "");
    assert_eq!(
        d.get("acs", "events"),
        Some(&Value::List(vec!["1 BOOT".into(), "2 PERIODIC".into()]))
    );
    assert_eq!(
        single(&d, "@inform_parameter[0]", "multi"),
        "line one\nline two"
    );
    assert_eq!(single(&d, "@inform_parameter[-1]", "enable"), "1");
    assert_eq!(single(&d, "cpe", "port"), "7547");
    assert_eq!(single(&d, "cpe", "path"), "/\"q\"");
    let anon = &d.sections()[1];
    assert!(anon.anonymous);
    assert!(
        anon.name.starts_with("cfg02") && anon.name.len() == 9,
        "{}",
        anon.name
    );
    assert_eq!(d.section(&anon.name.clone()).map(|s| s.line), Some(11));
    assert_eq!(d.section("acs").unwrap().option("events").unwrap().line, 9);
    assert_eq!(d.section("cpe").unwrap().line, 17);
    assert!(d.section("@inform_parameter[2]").is_none());
    assert!(d.section("@inform_parameter[-3]").is_none());
    assert!(d.section("@nosuch[0]").is_none());
}

#[test]
fn generated_names_match_libuci() {
    // The names OpenWrt's default firewall config gets from `uci show`.
    let d =
        parse("config defaults\n\toption input 'ACCEPT'\nconfig zone\nconfig zone\n\toption x y\n");
    let names: Vec<&str> = d.sections().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cfg01e63d", "cfg02dc81", "cfg03dc81"]);
    assert_eq!(d.section("cfg03dc81").unwrap().line, 4);
}

#[test]
fn adjacent_parts_concatenate_and_escapes_follow_quote_kind() {
    let d = parse("config t 's'\n\toption a 'x'\"y\"z\n\toption b 'a\\b'\n\toption c \"a\\\\b\"\n\toption d a\\\\b\n");
    assert_eq!(single(&d, "s", "a"), "xyz");
    assert_eq!(single(&d, "s", "b"), "a\\b");
    assert_eq!(single(&d, "s", "c"), "a\\b");
    assert_eq!(single(&d, "s", "d"), "a\\b");
}

#[test]
fn backslash_newline_continues_the_line() {
    let d = parse("config t 's'\n\toption a \\\n  'v'\n\toption b ab\\\ncd\n\toption c \"x\\\ny\"\n\toption e 'z'\n");
    assert_eq!(single(&d, "s", "a"), "v");
    assert_eq!(single(&d, "s", "b"), "abcd");
    assert_eq!(single(&d, "s", "c"), "xy");
    assert_eq!(d.section("s").unwrap().option("e").unwrap().line, 8);
}

#[test]
fn option_and_list_interplay_follows_libuci() {
    let d = parse("config t 's'\n\toption a 1\n\toption a 2\n\tlist a 3\n\toption b\n\tlist c x\n\toption c y\n");
    assert_eq!(
        d.get("s", "a"),
        Some(&Value::List(vec!["2".into(), "3".into()]))
    );
    assert_eq!(single(&d, "s", "b"), "");
    assert_eq!(single(&d, "s", "c"), "y");
}

#[test]
fn repeated_section_name_merges_into_the_first() {
    let d = parse("config t 'a'\n\toption x 1\nconfig u 'b'\nconfig t 'a'\n\toption y 2\n");
    assert_eq!(d.sections().len(), 2);
    assert_eq!(single(&d, "a", "x"), "1");
    assert_eq!(single(&d, "a", "y"), "2");
    assert_eq!(
        err("config t 'a'\nconfig u 'a'\n"),
        "/etc/config/cwmp:2: section 'a' redefined with another type ('u')"
    );
}

#[test]
fn errors_name_file_line_and_problem() {
    let cases: &[(&str, &str)] = &[
        (
            "config acs 'acs'\n\n\toption url 'http://x\n\toption b c\n",
            "/etc/config/cwmp:3: unterminated quote in option 'url'",
        ),
        (
            "config acs\n\tlist ev \"a\n",
            "/etc/config/cwmp:2: unterminated quote in list 'ev'",
        ),
        (
            "\n\toption a b\n",
            "/etc/config/cwmp:2: 'option' before any 'config' section",
        ),
        (
            "config\n",
            "/etc/config/cwmp:1: missing section type after 'config'",
        ),
        (
            "config a 'b-c'\n",
            "/etc/config/cwmp:1: invalid section name 'b-c'",
        ),
        (
            "config a b c\n",
            "/etc/config/cwmp:1: extra text in section header",
        ),
        (
            "config a\n option\n",
            "/etc/config/cwmp:2: missing name after 'option'",
        ),
        (
            "config a\n option x.y 1\n",
            "/etc/config/cwmp:2: invalid option name 'x.y'",
        ),
        (
            "config a\n option x 1 2\n",
            "/etc/config/cwmp:2: extra text after the value of option 'x'",
        ),
        (
            "config a\n\n\n frobnicate\n",
            "/etc/config/cwmp:4: unknown keyword 'frobnicate'",
        ),
        ("package\n", "/etc/config/cwmp:1: missing package name"),
        (
            "config a 'x\n",
            "/etc/config/cwmp:1: unterminated quote in section 'a'",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), *want, "input {text:?}");
    }
}

#[test]
fn writer_quotes_like_uci_and_round_trips() {
    let d = parse(SAMPLE);
    let out = d.serialize();
    assert!(
        out.starts_with("package cwmp\n\nconfig acs 'acs'\n\toption url 'http://"),
        "{out}"
    );
    assert!(out.contains("\toption userid 'it'\\''s'\n"));
    assert!(out.contains("\n\nconfig inform_parameter\n\toption parameter_name"));
    assert!(out.contains("\tlist events '1 BOOT'\n\tlist events '2 PERIODIC'\n"));
    assert!(out.ends_with("\toption path '/\"q\"'\n\n"));
    assert!(!out.contains('#') || out.contains("ss#word"));
    let again = parse(&out);
    assert_eq!(content(&again), content(&d));
    assert_eq!(again.serialize(), out);
}

#[test]
fn round_trips_awkward_values() {
    let mut d = Document::new("x");
    let s = d.add_section("t", Some("s")).unwrap();
    let values = [
        "",
        "'",
        "''",
        "a'b\"c",
        "\\",
        "\\'",
        "#x",
        " lead",
        "tab\there",
        "multi\nline",
        "ünï",
    ];
    for (i, v) in values.iter().enumerate() {
        d.set_option(&s, &format!("o{i}"), v).unwrap();
    }
    d.set_list(&s, "l", &values).unwrap();
    let back = parse(&d.serialize());
    for (i, v) in values.iter().enumerate() {
        assert_eq!(single(&back, "s", &format!("o{i}")), *v);
    }
    assert_eq!(back.get("s", "l").unwrap().items(), values.to_vec());
}

/// xorshift64*: a reproducible stream of pseudo-random numbers without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A value mixing what is awkward for the writer and the parser: quotes, backslashes, CR,
/// LF, CRLF, tabs, `#`, blanks, and non-ASCII (no NUL, which no UCI value can hold).
fn awkward_value(rng: &mut Rng) -> String {
    const PIECES: [&str; 22] = [
        "\r",
        "\n",
        "\r\n",
        "\r\r\n",
        "\n\r",
        "'",
        "\"",
        "\\",
        "\\\n",
        "\t",
        " ",
        "#",
        "a",
        "Z9",
        "é",
        "\u{2028}",
        "😀",
        "\u{7f}",
        "\u{1}",
        "'\\''",
        "$x",
        "\u{b}\u{c}",
    ];
    let len = rng.below(12);
    let mut v = String::new();
    for _ in 0..len {
        if rng.below(8) == 0 {
            // Any non-NUL scalar value.
            let c = char::from_u32(1 + (rng.next() % 0x10fffe) as u32).unwrap_or('?');
            v.push(c);
        } else {
            v.push_str(PIECES[rng.below(PIECES.len())]);
        }
    }
    v
}

#[test]
fn every_value_round_trips_byte_for_byte() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..2000 {
        let values: Vec<String> = (0..4).map(|_| awkward_value(&mut rng)).collect();
        let mut d = Document::new("x");
        let s = d.add_section("t", Some("s")).unwrap();
        d.set_option(&s, "o", &values[0]).unwrap();
        d.set_list(&s, "l", &values[1..]).unwrap();
        let text = d.serialize();
        let back = Document::parse(&text, "x").unwrap_or_else(|e| panic!("{round}: {e}\n{text:?}"));
        assert_eq!(single(&back, "s", "o"), values[0], "{round}: {text:?}");
        assert_eq!(
            back.get("s", "l").unwrap().items(),
            values[1..].to_vec(),
            "{round}"
        );
        // Stable: writing what was read gives the same bytes.
        assert_eq!(back.serialize(), text, "{round}");
    }
}

#[test]
fn carriage_returns_survive_write_then_parse() {
    let mut d = Document::new("x");
    let s = d.add_section("t", Some("s")).unwrap();
    d.set_option(&s, "o", "a\r\r\nb\r").unwrap();
    let once = parse(&d.serialize());
    assert_eq!(single(&once, "s", "o"), "a\r\r\nb\r");
    let twice = parse(&once.serialize());
    assert_eq!(single(&twice, "s", "o"), "a\r\r\nb\r");
}

#[test]
fn api_edits_keep_order_of_unrelated_content() {
    let mut d = parse(
        "config a 'one'\n\toption x 1\n\toption y 2\nconfig b\n\tlist l p\nconfig c 'three'\n",
    );
    d.set_option("one", "x", "9").unwrap();
    d.set_option("one", "z", "3").unwrap();
    d.add_list("@b[0]", "l", "q").unwrap();
    d.add_list("one", "y", "2b").unwrap();
    assert!(d.del_list("@b[0]", "l", "p").unwrap());
    assert!(!d.del_list("@b[0]", "l", "nope").unwrap());
    assert!(d.delete_option("three", "none").is_ok_and(|r| !r));
    let name = d.add_section("d", None).unwrap();
    d.set_option(&name, "k", "v").unwrap();
    assert_eq!(d.add_section("a", Some("one")).unwrap(), "one");
    assert!(d.add_section("zz", Some("one")).is_err());
    assert!(d.set_option("nosuch", "k", "v").is_err());
    assert!(d.set_option("one", "bad name", "v").is_err());
    assert_eq!(
        d.serialize(),
        "\nconfig a 'one'\n\toption x '9'\n\tlist y '2'\n\tlist y '2b'\n\toption z '3'\n\
         \nconfig b\n\tlist l 'q'\n\nconfig c 'three'\n\nconfig d\n\toption k 'v'\n\n"
    );
    assert!(d.delete_section("three"));
    assert!(!d.delete_section("three"));
    assert!(d.del_list("@b[0]", "l", "q").unwrap());
    assert_eq!(d.get("@b[0]", "l"), None);
    d.set_list("one", "y", &[] as &[&str]).unwrap();
    assert_eq!(d.get("one", "y"), None);
    assert_eq!(d.section(&name).map(|s| s.stype.as_str()), Some("d"));
}

#[test]
fn anonymous_names_stay_unique_after_deletions() {
    let mut d = Document::new("x");
    let a = d.add_section("t", None).unwrap();
    let b = d.add_section("t", None).unwrap();
    assert!(d.delete_section(&a));
    let c = d.add_section("t", None).unwrap();
    assert_ne!(b, c);
}

#[test]
fn blank_and_comment_only_input_is_empty() {
    for t in ["", "\n\n", "# c\n  # d\n\t\n", "\r\n#x\r\n"] {
        let d = parse(t);
        assert!(d.sections().is_empty());
        assert_eq!(d.serialize(), "\n");
    }
}

#[test]
fn never_panics_on_truncated_or_mutated_input() {
    // Every truncation and a few thousand byte mutations of the sample: errors, no panics.
    for i in 0..=SAMPLE.len() {
        if let Some(t) = SAMPLE.get(..i) {
            if let Ok(d) = Document::parse(t, "t") {
                let _ = Document::parse(&d.serialize(), "t")
                    .map_err(|e| panic!("re-parse of {t:?}: {e}"));
            }
        }
    }
    let bytes = SAMPLE.as_bytes();
    let mut seed: u32 = 12345;
    let mut rnd = || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (seed >> 8) as usize
    };
    let specials = b"'\"\\#\n \t\r";
    for _ in 0..3000 {
        let mut m = bytes.to_vec();
        for _ in 0..3 {
            let p = rnd() % m.len();
            m[p] = specials[rnd() % specials.len()];
        }
        let t = String::from_utf8_lossy(&m);
        if let Ok(d) = Document::parse(&t, "t") {
            let out = d.serialize();
            let again =
                Document::parse(&out, "t").unwrap_or_else(|e| panic!("{t:?} -> {out:?}: {e}"));
            assert_eq!(content(&again).len(), content(&d).len());
        }
    }
}
