#!/usr/bin/env bash
# Long AFL++ runs of the fuzz targets (docs/fuzzing.md), one at a time, at the lowest CPU
# priority: `bench/fuzz.sh [target|all] [inputs]` runs each until it has executed `inputs`
# inputs (default 10 000 000) or FUZZ_SECONDS have passed (default: no time limit), then
# prints one line per target: execs, execs/s, corpus paths, edges, crashes, hangs.
# Crashing inputs stay in fuzz/out/<target>/default/crashes/ for replay and a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
inputs="${2:-10000000}"
export CARGO_INCREMENTAL=0

targets=()
for f in fuzz/src/bin/*.rs; do
  t=$(basename "$f" .rs)
  if [ "$which" = all ] || [ "$which" = "$t" ]; then targets+=("$t"); fi
done
[ "${#targets[@]}" -gt 0 ] || { echo "no target named $which (see fuzz/src/bin/)" >&2; exit 2; }

# cargo-afl builds with rustc's LLVM instrumentation and links AFL++'s runtime, which it
# builds once from the source it ships (`cargo afl config --build`).
if ! command -v cargo-afl >/dev/null; then
  cargo install cargo-afl --version '^0.18' --locked
fi
cargo afl config --build >/dev/null 2>&1 || true
(cd fuzz && nice -n 19 cargo afl build --release --quiet)

# Shared machines: no CPU binding, no CPU-governor or core-pattern demands, plain output.
export AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_NO_UI=1 AFL_QUIET=1 AFL_SKIP_CRASHES=1

stat() { sed -n "s/^$2 *: //p" "$1" | head -1; }

printf '%-11s %12s %9s %7s %13s %8s %6s %8s\n' target execs execs/s paths edges crashes hangs seconds
for t in "${targets[@]}"; do
  out="fuzz/out/$t"
  rm -rf "$out" && mkdir -p fuzz/out
  limit=()
  [ -n "${FUZZ_SECONDS:-}" ] && limit=(-V "$FUZZ_SECONDS")
  nice -n 19 cargo afl fuzz -i "fuzz/corpus/$t" -o "$out" -E "$inputs" "${limit[@]}" -t 2000 \
    "fuzz/target/release/$t" >"$out.log" 2>&1 || { echo "$t: afl-fuzz failed, see $out.log" >&2; continue; }
  s="$out/default/fuzzer_stats"
  execs=$(stat "$s" execs_done)
  secs=$(( $(stat "$s" last_update) - $(stat "$s" start_time) ))
  printf '%-11s %12s %9s %7s %13s %8s %6s %8s\n' "$t" "$execs" \
    "$(( execs / (secs > 0 ? secs : 1) ))" "$(stat "$s" corpus_count)" \
    "$(stat "$s" edges_found)/$(stat "$s" total_edges)" \
    "$(stat "$s" saved_crashes)" "$(stat "$s" saved_hangs)" "$secs"
done
