#!/usr/bin/env bash
# make fuzz: builds the fuzz targets (fuzz/fuzz_targets) on stable rustc and runs each for
# FUZZ_SECONDS. No nightly needed: these are the instrumentation flags `cargo fuzz build
# -s none` passes (no sanitizer; overflow checks and debug assertions come from
# fuzz/Cargo.toml's release profile). Prints one line per target; exits 1 if any target
# crashed, with the input that did it under target/fuzz/artifacts/<target>/.
#
#   FUZZ_SECONDS   seconds per target (default 300)
#   FUZZ_TARGETS   targets to run (default: all of them)
#   FUZZ_RSS_MB    memory limit of a run, and of any single allocation (default 1024)
#   FUZZ_TARGET_DIR  build, corpus and artifacts directory (default target/fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-300}
rss_mb=${FUZZ_RSS_MB:-1024}
out=${FUZZ_TARGET_DIR:-target/fuzz}
all_targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^icwmp-fuzz$')
targets=${FUZZ_TARGETS:-$all_targets}

# Longest input tried per target: big enough for what the parser bounds itself (the CR
# head's 8 KiB, the FTP line's 8 KiB) and for real messages, small enough to stay fast.
max_len() {
    case $1 in
        soap_decode | rpc | gzip) echo 65536 ;;
        cr_request | ftp_reply) echo 20000 ;;
        state_json) echo 16384 ;;
        *) echo 8192 ;;
    esac
}

# libFuzzer's C++ sources are compiled by libfuzzer-sys's build script.
if ! command -v g++ >/dev/null 2>&1; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    echo "installing: g++"
    $sudo apt-get update && $sudo apt-get install -y g++
fi

host=$(rustc -vV | sed -n 's/^host: //p')
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
flags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares"
flags+=" -Cllvm-args=-sanitizer-coverage-stack-depth"
flags+=" -Cllvm-args=-simplifycfg-branch-fold-threshold=0"
flags+=" --cfg fuzzing -Clink-dead-code -Cdebug-assertions -Coverflow-checks"
start=$(date +%s)
# --target: RUSTFLAGS then skip build scripts, which cannot link the coverage hooks.
RUSTFLAGS="$flags ${RUSTFLAGS:-}" cargo build --release \
    --manifest-path fuzz/Cargo.toml --target "$host" --target-dir "$out" --bins
echo "fuzz: targets built in $(($(date +%s) - start)) s"

failed=0
for t in $targets; do
    bin=$out/$host/release/$t
    corpus=$out/corpus/$t
    artifacts=$out/artifacts/$t
    log=$out/logs/$t.log
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    seeds=()
    if [ -d "fuzz/seeds/$t" ]; then seeds+=("fuzz/seeds/$t"); fi
    # SOAP targets share seeds and one dictionary, and also start from the shared CWMP test
    # vectors where the checkout has them next to it.
    dict=()
    case $t in
        soap_decode | rpc)
            if [ "$t" = rpc ]; then seeds+=(fuzz/seeds/soap_decode); fi
            if [ -d ../shared/spec/test-vectors ]; then seeds+=(../shared/spec/test-vectors); fi
            dict=(-dict=fuzz/dicts/soap_decode.dict)
            ;;
    esac
    before=$(find "$artifacts" -type f | wc -l)
    # Scratch state directories of the targets that write files, removed afterwards.
    scratch=$(mktemp -d "$([ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/icwmp-fuzz.XXXXXX")
    rc=0
    ICWMP_FUZZ_TMP=$scratch "$bin" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -max_len="$(max_len "$t")" \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" \
        "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
    rm -rf "$scratch"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    inputs=$(find "$corpus" -type f | wc -l)
    new=$(($(find "$artifacts" -type f | wc -l) - before))
    if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
        failed=1
        crash=$(ls -t "$artifacts" 2>/dev/null | head -1)
        echo "fuzz $t: ${runs:-?} runs (${rate:-?}/s), CRASH (exit $rc): $artifacts/$crash, log $log"
        { grep -m1 -A2 "panicked at" "$log" || grep -m1 "ERROR: libFuzzer" "$log"; } | sed 's/^/    /' || true
    else
        echo "fuzz $t: ${runs:-?} runs (${rate:-?}/s), ${inputs} corpus inputs, peak RSS ${rss:-?} MB, crashes: 0"
    fi
done
echo "fuzz: done in $(($(date +%s) - start)) s"
exit "$failed"
