#!/usr/bin/env bash
# SMS benchmark: submit_sm throughput to the loopback SMSC simulator with windowing, and
# latency from a ticket event to its submit_sm (p50/p99). Prints figures; asserts nothing.
# Usage: bench/sms_bench.sh            (SMS_BENCH_N=5000 notices by default)
set -euo pipefail
cd "$(dirname "$0")/.."
(cd tests/smsc && [ -d node_modules/smpp ] || npm ci --no-audit --no-fund)
cargo test --release --test sms_bench_test -- --ignored --nocapture --test-threads=1 2>&1 | grep -o 'BENCH.*'
