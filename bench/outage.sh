#!/usr/bin/env bash
# The SMSC and the SMTP relay down for five minutes (or $1 seconds) while tickets are filed,
# then back: the end-to-end test tests/delivery_kill9_restart_test.rs run with the full
# outage instead of its short one (same retry logic, default config backoff bounds apart
# from the test's). Prints its figures; the test asserts each notice and mail arrives once.
#
#   bench/outage.sh [outage_secs=300]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0
HOTLINE_OUTAGE_SECS=${1:-300} cargo test --test delivery_kill9_restart_test \
  smsc_and_smtp_down_then_up -- --nocapture 2>&1 | grep -E 'outage of|test result|panicked'
