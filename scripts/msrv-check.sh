#!/bin/sh
# Fails when a crate in Cargo.lock needs a newer Rust than Cargo.toml's rust-version: OpenWrt
# builds with `cargo install --locked` and its oldest supported release (23.05) ships Rust 1.85,
# so such a lockfile breaks the package build there. Reads cargo metadata's `rust_version`
# fields (the resolved graph, every platform and dev-dependency included).
# Fix a failure with: CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo update
set -eu
cd "$(dirname "$0")/.."
${CARGO:-cargo} metadata --format-version 1 --locked | python3 -c '
import json, sys
def ver(s):
    return tuple(int(x) for x in (s.split(".") + ["0", "0"])[:3])
meta = json.load(sys.stdin)
root = {p["id"]: p for p in meta["packages"]}[meta["resolve"]["root"]]
msrv = root.get("rust_version")
if not msrv:
    sys.exit("Cargo.toml has no rust-version")
bad = [(p["name"], p["version"], p["rust_version"]) for p in meta["packages"]
       if p.get("rust_version") and ver(p["rust_version"]) > ver(msrv)]
for name, version, rv in sorted(bad):
    print(f"{name} {version} needs Rust {rv} > rust-version {msrv}", file=sys.stderr)
if bad:
    sys.exit(1)
print("msrv-check: %d locked crates build with Rust %s" % (len(meta["packages"]), msrv))
'
