# icwmp: build, test, demo and lint entry points.
#   make build   release binary (target/release/icwmpd)
#   make test    installs the test tools when missing, then runs every test
#   make demo    the daemon against a tiny scripted ACS (scripts/demo.sh)
#   make lint    rustfmt check + clippy with warnings as errors
#   make bench   session, connection request (also under attack), GPV, download, hostile
#                messages (stall, peak RSS), decode and value-change (change -> Inform, poll
#                cost) figures
#   make size    binary size (plain release and the size-optimised router build)
#   make chaos   kill -9 at CHAOS_KILLS random points of sessions; prints the ledger
#   make fuzz    every fuzz target for FUZZ_SECONDS each (stable rustc; fuzz/run.sh)

CARGO ?= cargo
# Integration tests start one daemon each; a few at a time suit a 2-core machine.
TEST_THREADS ?= 4
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test test-deps demo lint bench size chaos fuzz clean

all: build

build:
	$(CARGO) build --release

# xmllint validates the CPE's messages against the CWMP XSD; the OpenSSL headers and
# pkg-config build the openssl crate; coturn's turnserver is the STUN server of tests/stun.rs.
# Installed only when missing.
test-deps:
	@missing=""; \
	command -v xmllint >/dev/null 2>&1 || missing="$$missing libxml2-utils"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	pkg-config --exists openssl 2>/dev/null || missing="$$missing libssl-dev"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v turnserver >/dev/null 2>&1 || missing="$$missing coturn"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y $$missing; \
	fi
	@# A real FTP/FTPS server for the transfer tests (pyftpdlib, with pyopenssl for TLS).
	@python3 -c 'import pyftpdlib, OpenSSL' 2>/dev/null || \
		python3 -m pip install --quiet pyftpdlib pyopenssl

test: test-deps
	$(CARGO) test --all-targets -- --test-threads=$(TEST_THREADS)

demo:
	scripts/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

bench:
	$(CARGO) bench --bench session
	$(CARGO) bench --bench transfer
	$(CARGO) bench --bench conn_req
	$(CARGO) bench --bench hostile
	$(CARGO) bench --bench decode
	$(CARGO) bench --bench notify
	$(CARGO) bench --bench stun

size:
	scripts/size.sh

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
