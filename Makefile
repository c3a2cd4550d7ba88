# icwmp: build, test, demo and lint entry points.
#   make build   release binary (target/release/icwmpd)
#   make test    installs the test tools when missing, then runs every test
#   make demo    the daemon against a tiny scripted ACS (scripts/demo.sh)
#   make lint    rustfmt check + clippy with warnings as errors + locked crates build on the MSRV
#   make openwrt-check  the OpenWrt package's cargo step (rust-package.mk's flags), checked
#   make bench   session, connection request (also under attack), GPV, download, hostile
#                messages (stall, peak RSS), decode and value-change (change -> Inform, poll
#                cost), bbfdm round trips per boot session (real ubusd, fake bbfdm),
#                diagnostics (DownloadDiagnostics vs curl, engine RSS) figures
#   make size    binary size (plain release, the size-optimised router build, the OpenWrt
#                package build)
#   make chaos   kill -9 at CHAOS_KILLS random points of sessions; prints the ledger
#   make fuzz    every fuzz target for FUZZ_SECONDS each (stable rustc; fuzz/run.sh)

CARGO ?= cargo
# OpenWrt's ubus/uci/libubox sources (build.sh builds the host tools).
OPENWRT_VENDOR ?= ../shared/vendor/openwrt
# Integration tests start one daemon each; a few at a time suit a 2-core machine.
TEST_THREADS ?= 4
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test test-deps demo lint bench size chaos fuzz clean openwrt-check

all: build

build:
	$(CARGO) build --release

# xmllint validates the CPE's messages against the CWMP XSD; the OpenSSL headers and
# pkg-config build the openssl crate; coturn's turnserver is the STUN server of tests/stun.rs,
# prosody the XMPP server of tests/xmpp.rs, nftables the NAT in front of the daemon in
# tests/stun.rs.
# Installed only when missing.
test-deps:
	@missing=""; \
	command -v xmllint >/dev/null 2>&1 || missing="$$missing libxml2-utils"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	pkg-config --exists openssl 2>/dev/null || missing="$$missing libssl-dev"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v turnserver >/dev/null 2>&1 || missing="$$missing coturn"; \
	command -v prosody >/dev/null 2>&1 || missing="$$missing prosody"; \
	command -v nft >/dev/null 2>&1 || missing="$$missing nftables"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y $$missing; \
	fi
	@# OpenWrt's real ubusd, ubus, uci and jshn, built from ../shared/vendor/openwrt into
	@# target/openwrt-tools: the ubus tests run on a private ubusd, the package's shell parts
	@# (tests/packaging.rs) under busybox's applets with the real uci and ubus.
	@command -v busybox >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y busybox; }
	@(for t in sbin/ubusd bin/ubus bin/uci bin/jshn; do [ -x target/openwrt-tools/$$t ] || exit 1; done) \
		|| $(OPENWRT_VENDOR)/build.sh target/openwrt-tools
	@# A real FTP/FTPS server for the transfer tests (pyftpdlib, with pyopenssl for TLS).
	@python3 -c 'import pyftpdlib, OpenSSL' 2>/dev/null || \
		python3 -m pip install --quiet pyftpdlib pyopenssl

# The benches are not run here (`make bench` runs them; `make lint` compiles them): they time
# things for minutes and assert nothing.
test: test-deps
	$(CARGO) test --lib --bins --tests --examples -- --test-threads=$(TEST_THREADS)

demo:
	scripts/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	scripts/msrv-check.sh

# The package's cargo step as OpenWrt's SDK runs it (openwrt/check.sh): build, then check the
# panic policy, the dynamic OpenSSL dependency and the stripped size.
openwrt-check:
	openwrt/check.sh

bench:
	$(CARGO) bench --bench session
	$(CARGO) bench --bench transfer
	$(CARGO) bench --bench conn_req
	$(CARGO) bench --bench hostile
	$(CARGO) bench --bench decode
	$(CARGO) bench --bench notify
	$(CARGO) bench --bench nat
	$(CARGO) bench --bench ping
	$(CARGO) bench --bench bbfdm
	$(CARGO) bench --bench diag

# The router build's figures, then the package-shaped one (what an OpenWrt SDK build ships).
size:
	scripts/size.sh
	openwrt/check.sh

# The kill -9 ledger with many kill points (`make test` runs 12). CHAOS_SEED replays a run.
CHAOS_KILLS ?= 120
chaos:
	CHAOS_KILLS=$(CHAOS_KILLS) $(CARGO) test --test chaos -- --nocapture

# Seconds per fuzz target (CI runs a short pass); FUZZ_TARGETS="uci gzip" narrows the run.
FUZZ_SECONDS ?= 300
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

clean:
	$(CARGO) clean

-include cross/cross.mk
