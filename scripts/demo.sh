#!/usr/bin/env bash
# Demo: icwmpd against a tiny scripted ACS on loopback.
# Builds the daemon and the demo ACS, writes a throw-away UCI config, runs the daemon in the
# background, runs the ACS until the CPE came back from the Reboot, then prints both logs.
set -euo pipefail

cd "$(dirname "$0")/.."
ACS_PORT=${ACS_PORT:-17557}
CR_PORT=${CR_PORT:-17547}
# PROFILE=debug skips the (slow, size-optimised) release build.
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
    flags=(--release); bin=target/release
else
    flags=(); bin=target/debug
fi

echo "== building ($PROFILE)"
cargo build "${flags[@]}" --bin icwmpd --example demo_acs

work=$(mktemp -d /tmp/icwmp-demo.XXXXXX)
cat >"$work/cwmp" <<UCI
config acs 'acs'
	option url 'http://127.0.0.1:${ACS_PORT}/acs'
	option periodic_inform_enable '0'
	option retry_min_wait_interval '1'

config cpe 'cpe'
	option port '${CR_PORT}'
	option cr_host '127.0.0.1'
	option userid 'demo'
	option passwd 'demo'
UCI

acs_pid=""
daemon_pid=""
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
    [ -n "$acs_pid" ] && kill "$acs_pid" 2>/dev/null || true
}
trap cleanup EXIT

echo "== config $work/cwmp, state $work/state"
"$bin/examples/demo_acs" --port "$ACS_PORT" --timeout 60 >"$work/acs.log" 2>&1 &
acs_pid=$!
# Let the ACS bind before the daemon's first Inform (the daemon would retry anyway).
for _ in $(seq 50); do
    grep -q listening "$work/acs.log" 2>/dev/null && break
    sleep 0.1
done
"$bin/icwmpd" -b --config "$work/cwmp" --state-dir "$work/state" \
    --log-level debug 2>"$work/icwmpd.log" &
daemon_pid=$!

status=0
wait "$acs_pid" || status=$?
acs_pid=""
kill "$daemon_pid" 2>/dev/null || true
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=""

echo
echo "================ ACS (what went over the wire) ================"
cat "$work/acs.log"
echo
echo "================ icwmpd log ================"
cat "$work/icwmpd.log"
echo
echo "================ UCI config after the session ================"
cat "$work/cwmp"
if [ "$status" -eq 0 ]; then
    echo "demo OK (files kept in $work)"
else
    echo "demo FAILED (exit $status; files kept in $work)" >&2
fi
exit "$status"
