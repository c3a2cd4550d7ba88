//! UCI files (src/config/uci.rs): the parser on any text, the daemon's configuration read
//! from what it parsed, and the writer's round trip: what `serialize` writes parses back to
//! the same sections and values, and any value set through the API comes back byte for byte.
#![no_main]

use icwmp::config::uci::Document;
use icwmp::config::{Config, Value};
use libfuzzer_sys::fuzz_target;

/// What a document says, without the line numbers (the writer lays lines out its own way).
type Shape = (
    Option<String>,
    Vec<(String, String, bool, Vec<(String, Value)>)>,
);

fn shape(doc: &Document) -> Shape {
    let sections = doc
        .sections()
        .iter()
        .map(|s| {
            let options = s.options.iter().map(|o| (o.name.clone(), o.value.clone()));
            (
                s.stype.clone(),
                s.name.clone(),
                s.anonymous,
                options.collect(),
            )
        })
        .collect();
    (doc.package.clone(), sections)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(doc) = Document::parse(text, "fuzz") {
        let _ = Config::from_document(&doc);
        let written = doc.serialize();
        let again = Document::parse(&written, "fuzz")
            .unwrap_or_else(|e| panic!("the writer's output does not parse ({e}):\n{written}"));
        assert_eq!(shape(&doc), shape(&again), "written:\n{written}");
    }
    // The input as a value (ParameterKey, passwords, URLs: whatever the ACS sets).
    let mut doc = Document::new("fuzz");
    let Ok(name) = doc.add_section("acs", Some("acs")) else {
        unreachable!("a valid section name")
    };
    let set = doc.set_option(&name, "url", text).is_ok() && doc.add_list(&name, "l", text).is_ok();
    assert!(set, "setting a value on an existing section");
    let written = doc.serialize();
    let again = Document::parse(&written, "fuzz").unwrap_or_else(|e| {
        panic!("a value set through the API does not parse back ({e}):\n{written:?}")
    });
    assert_eq!(
        again.get(&name, "url"),
        Some(&Value::Single(text.to_string())),
        "written: {written:?}"
    );
    assert_eq!(
        again.get(&name, "l"),
        Some(&Value::List(vec![text.to_string()])),
        "written: {written:?}"
    );
});
