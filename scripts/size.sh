#!/usr/bin/env bash
# Prints the stripped size of icwmpd: the plain `cargo build --release`, and the router build
# (std rebuilt for size with Debian's rustc-web: -Zbuild-std, panic=immediate-abort, no unwind
# tables), which is how the OpenWrt packages are built. Installs rustc-web/rust-web-src when
# missing (apt, root only) and skips the router build if that is not possible.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --bin icwmpd >/dev/null 2>&1 || cargo build --release --bin icwmpd
plain=target/release/icwmpd
printf 'x86_64 release (cargo defaults, std prebuilt):   %8d bytes\n' "$(stat -c %s "$plain")"

if [ ! -d /usr/lib/rustlib/src/rust/library ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq rustc-web cargo-web rust-web-src) >/dev/null 2>&1 || true
fi
if [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
  PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    RUSTFLAGS="-Cpanic=immediate-abort -Zunstable-options -Cforce-unwind-tables=no" \
    CARGO_TARGET_DIR=target/router /usr/bin/cargo build -q --release --bin icwmpd \
    --target x86_64-unknown-linux-gnu -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size
  router=target/router/x86_64-unknown-linux-gnu/release/icwmpd
  printf 'x86_64 router build (build-std, immediate-abort): %8d bytes\n' "$(stat -c %s "$router")"
  printf '  xz-compressed (what squashfs stores, roughly):  %8d bytes\n' "$(xz -9e -c "$router" | wc -c)"
else
  echo "router build skipped: Debian's rustc-web and rust-web-src are not installed"
fi
echo "dynamic libraries needed: $(readelf -d "$plain" | awk '/NEEDED/{gsub(/[][]/,"",$5); printf "%s ", $5}')"
