#!/usr/bin/env bash
# `make openwrt-check`: the package's cargo step as OpenWrt's SDK runs it, then checks of what
# comes out. No SDK can be had here, so the environment rust-package.mk gives cargo is copied
# from upstream: openwrt/packages lang/rust/rust-values.mk (CARGO_PKG_CONFIG_VARS) and
# rust-package.mk (Build/Compile/Cargo) at commit 0521bb5 (2026-08, Rust 1.96.0; 23.05 and
# 24.10 set the same profile overrides). Build/Compile is:
#   $(CARGO_PKG_VARS) cargo install -v --profile release --root $(PKG_INSTALL_DIR) \
#       --path $(PKG_BUILD_DIR) --locked
# Checks: runs; links libssl/libcrypto dynamically (the package DEPENDS on +libopenssl);
# built with panic=unwind as OpenWrt forces (so main must install the abort-on-panic hook,
# which src/agent/system.rs tests); non-PIE on MIPS; the stripped size (what the .ipk holds).
#   OPENWRT_CHECK_TARGETS="x86_64 mipsel"   (default x86_64; mipsel cross-links Debian's
#                                            libssl like cross/cross.sh and needs its sysroot)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/openwrt-check
mkdir -p "$out"

fail() { echo "openwrt-check: FAIL: $*" >&2; exit 1; }

# rust-values.mk's CARGO_PKG_CONFIG_VARS (the profile overrides beat our [profile.release]).
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_DEBUG=false
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=false
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true
export CARGO_PROFILE_RELEASE_PANIC=unwind
export CARGO_PROFILE_RELEASE_RPATH=false
# Our Makefile's CARGO_PKG_VARS.
export OPENSSL_STATIC=0
# Cached between runs (the SDK builds in its own build dir).
export CARGO_TARGET_DIR=$out/target

check_x86_64() {
	local triple=x86_64-unknown-linux-gnu dest=$out/x86_64 bin
	# rust-values.mk: CARGO_RUSTFLAGS = -Ctarget-feature=-crt-static $(RUSTC_LDFLAGS)
	#                 -Clink-arg=-fuse-ld=$(TARGET_LINKER)  (bfd by default)
	RUSTFLAGS="-Ctarget-feature=-crt-static -Clink-arg=-fuse-ld=bfd" \
	CARGO_BUILD_TARGET=$triple \
		cargo install -q --profile release --root "$dest" --path "$root" --locked --force
	bin=$dest/bin/icwmpd
	"$bin" --version >/dev/null || fail "x86_64 binary does not run"
	report "$bin" x86_64 strip
}

check_mipsel() {
	local triple=mipsel-unknown-linux-gnu dest=$out/mipsel bin sysroot header
	sysroot=${OPENWRT_CHECK_SYSROOT:-$root/target/cross/sysroot-mipsel}
	[ -f "$sysroot/.done" ] ||
		fail "no mipsel OpenSSL sysroot in $sysroot: run 'make size' once (cross/cross.sh)"
	command -v mipsel-linux-gnu-gcc >/dev/null || fail "no mipsel-linux-gnu-gcc (cross/README.md)"
	# Tier 3 std is prebuilt for mipsel-unknown-linux-gnu by Debian's rust-web only with
	# build-std; the SDK builds its own rustc. Here: cross.sh's toolchain and -Zbuild-std.
	# Our Makefile adds -Crelocation-model=static to CARGO_RUSTFLAGS on MIPS.
	RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
	RUSTFLAGS="-Ctarget-feature=-crt-static -Crelocation-model=static" \
	CARGO_BUILD_TARGET=$triple \
	CARGO_TARGET_MIPSEL_UNKNOWN_LINUX_GNU_LINKER=mipsel-linux-gnu-gcc \
	MIPSEL_UNKNOWN_LINUX_GNU_OPENSSL_INCLUDE_DIR=$sysroot/usr/include \
	MIPSEL_UNKNOWN_LINUX_GNU_OPENSSL_LIB_DIR=$sysroot/usr/lib/mipsel-linux-gnu \
	CARGO_UNSTABLE_BUILD_STD=std,panic_unwind CARGO_TARGET_DIR=$out/target-mipsel \
		/usr/bin/cargo install -q --profile release --root "$dest" --path "$root" --locked --force
	bin=$dest/bin/icwmpd
	header=$(readelf -h "$bin")
	grep -q 'Type:[[:space:]]*EXEC' <<<"$header" || fail "mipsel binary is PIE"
	report "$bin" mipsel mipsel-linux-gnu-strip
}

# Dynamic OpenSSL, the unwind build, the stripped and xz sizes.
report() {
	local bin=$1 arch=$2 strip=$3 dyn sections size xz
	dyn=$(readelf -d "$bin")
	grep -q 'NEEDED.*libssl\.so\.3' <<<"$dyn" || fail "$arch: libssl.so.3 not linked dynamically"
	grep -q 'NEEDED.*libcrypto\.so\.3' <<<"$dyn" || fail "$arch: libcrypto.so.3 not linked dynamically"
	# (Captured first: grep -q closing the pipe early would fail the pipeline under pipefail.)
	sections=$(readelf -S "$bin")
	grep -q '\.gcc_except_table' <<<"$sections" ||
		fail "$arch: no unwind tables: OpenWrt's panic=unwind did not apply (check the env)"
	grep -q '^    agent::abort_on_panic();$' src/main.rs ||
		fail "main does not install the abort-on-panic hook first"
	"$strip" --strip-all -o "$bin.stripped" "$bin"
	size=$(stat -c %s "$bin.stripped")
	xz=$(xz -9e -c "$bin.stripped" | wc -c)
	printf 'openwrt-check: %-7s ok  stripped %9d bytes  xz -9e %8d bytes  (libssl/libcrypto dynamic, panic=unwind + abort hook)\n' \
		"$arch" "$size" "$xz"
}

for t in ${OPENWRT_CHECK_TARGETS:-x86_64}; do
	case "$t" in
		x86_64) check_x86_64 ;;
		mipsel) check_mipsel ;;
		*) fail "unknown target $t" ;;
	esac
done
