#!/usr/bin/env bash
# Cross builds of icwmpd without Docker, from apt and pip alone (see cross/README.md).
#
#   cross/cross.sh cross        musl builds for the OpenWrt targets (zig + cargo-zigbuild)
#   cross/cross.sh cross-test   unit tests of the mipsel and mips glibc builds under qemu-user
#   cross/cross.sh size         stripped (and xz) size of icwmpd: x86_64 and mipsel, OpenSSL dynamic
#   cross/cross.sh router-test  the integration tests against the x86_64 router build
#
# Toolchain: Debian's rustc-web/cargo-web 1.96 with rust-web-src (std rebuilt with -Zbuild-std),
# called explicitly because rustup's ~/.cargo/bin comes first in PATH. Variables:
#   CROSS_TARGETS       musl targets for `cross` (default: all four)
#   CROSS_TEST_TARGETS  glibc targets for `cross-test` (default: mipsel and mips)
#   CROSS_TEST_SKIP     extra `--skip FILTER` words for cross-test (space separated)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/cross
mkdir -p "$OUT"

# Flags of the "router build": std optimised for size, no unwinding machinery at all, no
# file/line/column strings for panic locations (an immediate abort never prints them), and
# derived Debug impls that print type and variant names only (the daemon uses Debug for
# diagnostics alone; `router-test` runs the integration tests against this build).
ROUTER_RUSTFLAGS="-Cpanic=immediate-abort -Zunstable-options -Cforce-unwind-tables=no -Zlocation-detail=none -Zfmt-debug=shallow"
# PIE keeps ASLR; packed relative relocations (DT_RELR: glibc >= 2.36, musl >= 1.2.4) shrink
# its 40 KB relocation table to under 1 KB.
RELR_RUSTFLAGS="-Clink-arg=-Wl,-z,pack-relative-relocs"
ROUTER_STD=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'cross: %s\n' "$*" >&2; exit 1; }

# Installs Debian packages that are missing (only as root; otherwise says what to install).
need_apt() {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages (run as root or install): ${missing[*]}"
  say "apt-get install ${missing[*]}"
  apt-get update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian's rust toolchain with the std sources (what -Zbuild-std needs).
need_rust() {
  need_apt rustc-web cargo-web rust-web-src
  [ -d /usr/lib/rustlib/src/rust/library ] || die "rust-web-src did not install /usr/lib/rustlib/src/rust"
}

# Runs Debian's cargo (first in PATH, so cargo-zigbuild finds it too).
deb_cargo_env() {
  export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
}

# zig (PyPI ziglang) and cargo-zigbuild in a venv under target/.
need_zig() {
  local venv=$OUT/venv
  if [ ! -x "$venv/bin/cargo-zigbuild" ]; then
    say "creating $venv (pip: ziglang cargo-zigbuild)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ziglang cargo-zigbuild
  fi
  export PATH="$venv/bin:$PATH"
}

# A private sysroot with Debian's OpenSSL for a foreign architecture, from a private apt state
# (the system's dpkg architectures and apt lists are not touched). Prints the sysroot path.
debian_openssl_sysroot() {
  local arch=$1 triplet=$2
  local dir=$OUT/sysroot-$arch
  if [ ! -f "$dir/.done" ]; then
    say "fetching Debian's libssl-dev/libssl3 for $arch into $dir"
    rm -rf "$dir" && mkdir -p "$dir/apt/etc/parts" "$dir/apt/state/lists/partial" "$dir/apt/cache/archives/partial" "$dir/debs"
    local kr=/usr/share/keyrings/debian-archive-keyring.gpg
    cat >"$dir/apt/etc/sources.list" <<EOF
deb [arch=$arch signed-by=$kr] http://deb.debian.org/debian bookworm main
deb [arch=$arch signed-by=$kr] http://deb.debian.org/debian-security bookworm-security main
EOF
    local o=(-o "Dir::Etc::SourceList=$dir/apt/etc/sources.list" -o "Dir::Etc::SourceParts=$dir/apt/etc/parts"
      -o "Dir::State=$dir/apt/state" -o Dir::State::status=/dev/null -o "Dir::Cache=$dir/apt/cache"
      -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch" -o APT::Sandbox::User=root
      -o Acquire::Languages=none -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
      -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
      -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false)
    apt-get "${o[@]}" update -qq >/dev/null
    (cd "$dir/debs" && apt-get "${o[@]}" download -qq libssl-dev libssl3 >/dev/null)
    for d in "$dir"/debs/*.deb; do dpkg-deb -x "$d" "$dir"; done
    # openssl-sys takes one include dir: merge the multiarch configuration.h into it.
    cp "$dir/usr/include/$triplet/openssl/"* "$dir/usr/include/openssl/"
    rm -rf "$dir/apt"
    touch "$dir/.done"
  fi
  echo "$dir"
}

upper() { echo "$1" | tr 'a-z-' 'A-Z_'; }
lower_us() { echo "$1" | tr '-' '_'; }

# ---------------------------------------------------------------------------------------------
cmd_cross() {
  need_rust
  deb_cargo_env
  # After deb_cargo_env: the venv's python (with ziglang) must come before /usr/bin's.
  need_zig
  local targets=${CROSS_TARGETS:-mipsel-unknown-linux-musl mips-unknown-linux-musl armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl}
  local t flags
  for t in $targets; do
    flags=$ROUTER_RUSTFLAGS
    case $t in
      mips*-musl)
        # Trap 2: the default static-pie binary segfaults at once on mips.
        flags="$flags -Crelocation-model=static"
        # Trap 1: zig has no libatomic; OpenSSL 3.6 falls back to its own locks.
        export "CFLAGS_$(lower_us "$t")=-DBROKEN_CLANG_ATOMICS" ;;
      *)
        # Trap 3: build-std has no self-contained crt1.o; zig supplies crt and libc.
        flags="$flags -Clink-self-contained=no" ;;
    esac
    say "building $t"
    local start=$SECONDS
    env "CARGO_TARGET_$(upper "$t")_RUSTFLAGS=$flags" CARGO_TARGET_DIR="$OUT" \
      cargo-zigbuild zigbuild -q --release --bin icwmpd --features vendored-openssl \
      --target "$t" "${ROUTER_STD[@]}"
    local bin=$OUT/$t/release/icwmpd
    printf '%-34s %9d bytes (OpenSSL static)  %4ds  %s\n' "$t" "$(stat -c %s "$bin")" $((SECONDS - start)) "$bin"
    # Smoke test under qemu-user when it is there: the binary starts and parses its options.
    local q=qemu-${t%%-*}
    case $t in armv7*) q=qemu-arm ;; esac
    if command -v "$q" >/dev/null; then
      "$q" "$bin" --version >/dev/null || die "$t: $bin does not run under $q"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Unit tests that cannot pass under qemu-user; extended by CROSS_TEST_SKIP.
# - connect_timeout_and_url_errors, connects_with_dscp_set_and_reports_refusals: qemu-user
#   hands the host's errno in getsockopt(SO_ERROR) to the guest untranslated (ECONNREFUSED is
#   111 on x86, 146 on MIPS), so a refused non-blocking connect is not recognised as such.
# - loopback_target_answers_port_unreachable, loopback_is_one_hop: qemu-user does not pass
#   the IP_RECVERR error queue (recvmsg MSG_ERRQUEUE control messages) to the guest, so a
#   TraceRoute probe's ICMP answer is never seen (tests/diag_icmp.rs covers them natively).
# - a_panic_in_any_thread_aborts_the_process: it re-executes the test binary, which the host
#   cannot run without qemu (no binfmt handler is registered here).
QEMU_SKIPS=(http::tests::connect_timeout_and_url_errors
  diag::tcp_connect::tests::connects_with_dscp_set_and_reports_refusals
  diag::hop::tests::loopback_target_answers_port_unreachable
  diag::traceroute::tests::loopback_is_one_hop
  agent::system::panic_tests::a_panic_in_any_thread_aborts_the_process)

cmd_cross_test() {
  need_rust
  local targets=${CROSS_TEST_TARGETS:-mipsel-unknown-linux-gnu mips-unknown-linux-gnu}
  local t
  for t in $targets; do
    local arch triplet qemu
    case $t in
      mipsel-unknown-linux-gnu) arch=mipsel triplet=mipsel-linux-gnu qemu=qemu-mipsel ;;
      mips-unknown-linux-gnu) arch=mips triplet=mips-linux-gnu qemu=qemu-mips ;;
      aarch64-unknown-linux-gnu) arch=arm64 triplet=aarch64-linux-gnu qemu=qemu-aarch64 ;;
      armv7-unknown-linux-gnueabihf) arch=armhf triplet=arm-linux-gnueabihf qemu=qemu-arm ;;
      *) die "no recipe for test target $t" ;;
    esac
    need_apt qemu-user "gcc-$triplet" "libc6-dev-$arch-cross"
    deb_cargo_env
    local T runner features=()
    T=$(upper "$t")
    runner="$qemu -L /usr/$triplet"
    if [ "$arch" = mips ]; then
      # Debian dropped big-endian mips after buster: no libssl to link, build OpenSSL instead.
      features=(--features vendored-openssl)
    else
      local sr
      sr=$(debian_openssl_sysroot "$arch" "$triplet")
      export "${T}_OPENSSL_LIB_DIR=$sr/usr/lib/$triplet" "${T}_OPENSSL_INCLUDE_DIR=$sr/usr/include"
      runner="$runner -E LD_LIBRARY_PATH=$sr/usr/lib/$triplet"
    fi
    local skips=() s
    for s in "${QEMU_SKIPS[@]}" ${CROSS_TEST_SKIP:-}; do skips+=(--skip "$s"); done
    say "cargo test --lib for $t under $qemu"
    local start=$SECONDS
    env "CARGO_TARGET_${T}_LINKER=$triplet-gcc" "CARGO_TARGET_${T}_RUNNER=$runner" \
      "CC_$(lower_us "$t")=$triplet-gcc" CARGO_TARGET_DIR="$OUT" \
      cargo test -q --lib --target "$t" -Zbuild-std "${features[@]}" -- "${skips[@]}"
    say "$t: tests passed in $((SECONDS - start))s"
  done
}

# ---------------------------------------------------------------------------------------------
ROUTER_BIN=target/router/x86_64-unknown-linux-gnu/release/icwmpd

# The x86_64 router build (in $ROUTER_BIN); Debian's cargo must come first in PATH.
router_x86_64() {
  CARGO_TARGET_DIR=target/router RUSTFLAGS="$ROUTER_RUSTFLAGS $RELR_RUSTFLAGS" \
    cargo build -q --release --bin icwmpd --target x86_64-unknown-linux-gnu "${ROUTER_STD[@]}"
}

# The black-box integration tests (tests/*.rs) against the router build instead of the plain
# one: the size flags change code generation, so what ships is tested too.
cmd_router_test() {
  need_rust
  deb_cargo_env
  router_x86_64
  say "integration tests against $ROUTER_BIN ($(stat -c %s "$ROUTER_BIN") bytes)"
  ICWMPD_BIN=$ROOT/$ROUTER_BIN cargo test -q --test '*' -- --test-threads="${TEST_THREADS:-4}"
}

cmd_size() {
  need_rust
  # The plain build uses whatever cargo comes first in PATH (rustup's, usually).
  cargo build -q --release --bin icwmpd
  deb_cargo_env
  local plain=target/release/icwmpd
  printf '%-52s %9d bytes\n' "x86_64 release (cargo defaults, std prebuilt):" "$(stat -c %s "$plain")"

  router_x86_64
  report "x86_64 router build (build-std, immediate-abort, PIE+RELR)" "$ROUTER_BIN"

  # mipsel as the ipk links it: OpenSSL dynamic (Debian's libssl3 3.0.x, as old as OpenWrt's).
  # Non-PIE: MIPS position-independent code loads every call through the GOT, which costs
  # about 130 KB here; a non-PIE executable still links libssl/libcrypto dynamically.
  need_apt gcc-mipsel-linux-gnu libc6-dev-mipsel-cross
  local sr t=mipsel-unknown-linux-gnu
  sr=$(debian_openssl_sysroot mipsel mipsel-linux-gnu)
  env CARGO_TARGET_MIPSEL_UNKNOWN_LINUX_GNU_LINKER=mipsel-linux-gnu-gcc \
    CARGO_TARGET_MIPSEL_UNKNOWN_LINUX_GNU_RUSTFLAGS="$ROUTER_RUSTFLAGS -Crelocation-model=static" \
    MIPSEL_UNKNOWN_LINUX_GNU_OPENSSL_LIB_DIR="$sr/usr/lib/mipsel-linux-gnu" \
    MIPSEL_UNKNOWN_LINUX_GNU_OPENSSL_INCLUDE_DIR="$sr/usr/include" CARGO_TARGET_DIR="$OUT" \
    cargo build -q --release --bin icwmpd --target "$t" "${ROUTER_STD[@]}"
  report "mipsel router build (glibc, OpenSSL dynamic)" "$OUT/$t/release/icwmpd"
}

# Prints the stripped size, the xz size (what squashfs stores, roughly) and the libraries needed.
report() {
  local name=$1 bin=$2
  printf '%-52s %9d bytes\n' "$name:" "$(stat -c %s "$bin")"
  printf '%-52s %9d bytes\n' "  xz -9e (what squashfs stores, roughly):" "$(xz -9e -c "$bin" | wc -c)"
  printf '  needs: %s\n' "$(readelf -d "$bin" | awk '/NEEDED/{gsub(/[][]/,"",$5); printf "%s ", $5}')"
}

case ${1:-} in
  cross) cmd_cross ;;
  cross-test) cmd_cross_test ;;
  size) cmd_size ;;
  router-test) cmd_router_test ;;
  *) die "usage: $0 cross|cross-test|size|router-test" ;;
esac
