# Cross builds without Docker (apt + pip only), included by the top-level Makefile.
# The work is done by cross/cross.sh; see cross/README.md.
#   make cross        musl builds: mipsel, mips, armv7, aarch64 (zig + cargo-zigbuild, OpenSSL static)
#   make cross-test   unit tests of the mipsel and mips glibc builds under qemu-user
#   make router-test  integration tests against the x86_64 router build (the size flags)
# `make size` (top-level Makefile -> scripts/size.sh -> cross/cross.sh size) prints the stripped
# and xz size of icwmpd for x86_64 and for mipsel with OpenSSL linked dynamically.
# Narrow them with CROSS_TARGETS=... / CROSS_TEST_TARGETS=... (space separated rust triples).

CROSS_SH := $(dir $(lastword $(MAKEFILE_LIST)))cross.sh

.PHONY: cross cross-test router-test
cross:
	$(CROSS_SH) cross
cross-test:
	$(CROSS_SH) cross-test
router-test: test-deps
	TEST_THREADS=$(TEST_THREADS) $(CROSS_SH) router-test
