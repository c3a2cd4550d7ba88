//! `cargo bench --bench decode` (or `make bench`): the hostile ACS messages that cost the most,
//! fed to the SOAP decoder, the gzip reader and the transcript masking in this process.
//!
//! For each: heap peak above what was live before (a counting global allocator) and wall time.
//! The daemon's resident size is its idle RSS (see the session bench) plus about this peak.
//! Figures only: nothing here asserts a target.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator; only counts sizes on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Relaxed) + new - l.size();
                PEAK.fetch_max(now, Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Runs `f`, printing its heap peak (above the live bytes at the start) and its time.
fn measure<T>(what: &str, input_len: usize, f: impl FnOnce() -> T) -> T {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let t = Instant::now();
    let out = f();
    let took = t.elapsed();
    let peak = PEAK.load(Relaxed) - base;
    println!(
        "  {what:<44} input {:>8} B  heap peak {:>10} B ({:>6.2} MiB)  {:>9.1} ms",
        input_len,
        peak,
        peak as f64 / (1 << 20) as f64,
        took.as_secs_f64() * 1e3
    );
    out
}

fn envelope(body: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">b1</cwmp:ID></soap-env:Header><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"#
    )
}

fn decode(what: &str, xml: &[u8]) {
    let r = measure(what, xml.len(), || icwmp::soap::decode(xml).map(|_| ()));
    match r {
        Ok(()) => println!("    -> decoded"),
        Err(e) => println!("    -> {e}"),
    }
}

fn main() {
    println!("SOAP decoding of hostile ACS messages (heap peak above baseline, wall time)");
    // 200k empty elements in the Body, gzip'd to about a kilobyte.
    let empties = envelope(&"<a/>".repeat(200_000));
    let z = icwmp::http::gzip::compress(empties.as_bytes()).expect("gzip");
    println!("  (200k empty elements gzip to {} bytes)", z.len());
    let body = measure("gunzip of the 200k-element reply", z.len(), || {
        icwmp::http::gzip::decompress(&z, 8 << 20)
    });
    match body {
        Ok(b) => decode("decode of the 200k-element reply", &b),
        Err(e) => println!("    -> {e}"),
    }

    let names: String = (0..150_000).map(|_| "<string>Device.</string>").collect();
    let gpv = envelope(&format!(
        "<cwmp:GetParameterValues><ParameterNames>{names}</ParameterNames></cwmp:GetParameterValues>"
    ));
    decode("GetParameterValues of 150k names", gpv.as_bytes());

    let params: String = (0..10_000)
        .map(|i| {
            format!("<ParameterValueStruct><Name>Device.X_Test.P{i}</Name><Value xsi:type=\"xsd:string\">v{i}</Value></ParameterValueStruct>")
        })
        .collect();
    let spv = envelope(&format!(
        "<cwmp:SetParameterValues><ParameterList>{params}</ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>"
    ));
    decode("SetParameterValues of 10k parameters", spv.as_bytes());

    let decls: String = (0..40_000)
        .map(|i| format!(" xmlns:p{i}=\"urn:x:{i}\""))
        .collect();
    let nsflood = envelope(&format!(
        "<cwmp:GetRPCMethods{decls}>{}</cwmp:GetRPCMethods>",
        "<a/>".repeat(4_000)
    ));
    decode("40k xmlns on one element, 4k children", nsflood.as_bytes());

    let unclosed = envelope(&"<a>".repeat(200_000));
    decode("200k unclosed tags", unclosed.as_bytes());
    let masked = measure(
        "transcript masking of 200k unclosed tags",
        unclosed.len(),
        || icwmp::logging::mask_secrets(&unclosed).len(),
    );
    println!("    -> {masked} bytes");
    let m = measure(
        "transcript masking of the 10k-parameter SPV",
        spv.len(),
        || icwmp::logging::mask_secrets(&spv).len(),
    );
    println!("    -> {m} bytes");

    let wide_attrs: String = (0..60_000).map(|i| format!(" a{i}=\"\"")).collect();
    let attrs = envelope(&format!("<cwmp:GetRPCMethods{wide_attrs}/>"));
    decode("60k attributes on one element", attrs.as_bytes());

    let big_value = envelope(&format!(
        "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct><Name>Device.X</Name><Value>{}</Value></ParameterValueStruct></ParameterList><ParameterKey/></cwmp:SetParameterValues>",
        "x".repeat((4 << 20) - 1024)
    ));
    decode("one SPV value of ~4 MiB", big_value.as_bytes());
    let escaped = envelope(&format!(
        "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct><Name>Device.X</Name><Value>{}</Value></ParameterValueStruct></ParameterList><ParameterKey/></cwmp:SetParameterValues>",
        "&amp;".repeat(((4 << 20) - 1024) / 5)
    ));
    decode("one SPV value of ~4 MiB of &amp;", escaped.as_bytes());
    let m = measure(
        "DEBUG transcript line of that message",
        escaped.len(),
        || {
            let line = format!(
                "MESSAGE IN ({} bytes)\n{}",
                escaped.len(),
                icwmp::logging::Masked::new(&escaped)
            );
            line.len()
        },
    );
    println!("    -> {m} bytes");

    // The largest legitimate request at the default budgets.
    let max = icwmp::soap::Limits::default().max_names;
    let params: String = (0..max)
        .map(|i| {
            format!("<ParameterValueStruct><Name>Device.X_Test.Object.{i}.Parameter</Name><Value xsi:type=\"xsd:string\">value of parameter {i}</Value></ParameterValueStruct>")
        })
        .collect();
    let spv = envelope(&format!(
        "<cwmp:SetParameterValues><ParameterList>{params}</ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>"
    ));
    decode(
        &format!("SetParameterValues of {max} parameters (the budget)"),
        spv.as_bytes(),
    );
}
