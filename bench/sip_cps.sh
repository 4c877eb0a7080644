#!/usr/bin/env bash
# Call setups per second (INVITE -> 200 with SDP -> ACK -> BYE) with SIPp against the
# gateway's SIP server, compared with SIPp's own UAS (`sipp -sn uas`) in the same run, and
# concurrent calls with RTP (SIPp's uac_pcap plays G.711 A-law both ways through our media
# sessions). Prints figures; asserts nothing.
#
#   bench/sip_cps.sh [rate=3000] [seconds=10] [rtp_calls=300]
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-3000}
SECS=${2:-10}
RTP_CALLS=${3:-300}
CALLS=$((RATE * SECS))
PORT=${SIP_BENCH_PORT:-5090}
UAS_PORT=$((PORT + 1))
work=$(mktemp -d)
ln -s /usr/share/sip-tester "$work/pcap"   # uac_pcap reads pcap/g711a.pcap
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

BIN=$(cargo test --release --test sip_bench_test --no-run 2>&1 | grep -oE 'target/release/deps/sip_bench_test-[0-9a-f]+' | tail -1)
[ -x "$BIN" ] || { echo "could not build the bench server"; exit 1; }

# Parse SIPp's final statistics screen: successful and failed calls, and the seconds between
# its Start Time and Current Time (epoch values in the third column).
figures() {
  local out=$1
  local ok failed t0 t1
  ok=$(grep -E '^\s+Successful call' "$out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  failed=$(grep -E '^\s+Failed call' "$out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  t0=$(grep -E '^\s+Start Time' "$out" | tail -1 | awk -F'|' '{print $2}' | awk '{print $NF}')
  t1=$(grep -E '^\s+Current Time' "$out" | tail -1 | awk -F'|' '{print $2}' | awk '{print $NF}')
  echo "${ok:-0} ${failed:-0} $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')"
}

run_uac() { # target out extra-args...
  local target=$1 out=$2; shift 2
  (cd "$work" && sipp "$target" -sn uac -i 127.0.0.1 -p 0 -r "$RATE" -m "$CALLS" -l 20000 \
     -d 0 -nostdin -timeout $((SECS * 3 + 30))s "$@" > "$out" 2>&1) || true
}

echo "== call setups per second, offered ${RATE}/s for ${SECS}s (${CALLS} calls), $(nproc) cores"

SIP_BENCH_PORT=$PORT SIP_BENCH_SECS=$((SECS * 4 + 60)) RUST_LOG=error \
  "$BIN" --ignored --exact bench_server --nocapture > "$work/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do grep -q "bench server on" "$work/server.log" && break; sleep 0.2; done

run_uac "127.0.0.1:$PORT" "$work/hotline.out"
read -r ok failed secs < <(figures "$work/hotline.out")
echo "hotline : successful=$ok failed=$failed elapsed=${secs}s cps=$(awk -v a="$ok" -v b="$secs" 'BEGIN{printf "%.0f", a/b}')"

(cd "$work" && exec sipp -sn uas -i 127.0.0.1 -p "$UAS_PORT" -nostdin > /dev/null 2>&1) &
UAS=$!
sleep 1
run_uac "127.0.0.1:$UAS_PORT" "$work/uas.out"
read -r ok2 failed2 secs2 < <(figures "$work/uas.out")
echo "sipp uas: successful=$ok2 failed=$failed2 elapsed=${secs2}s cps=$(awk -v a="$ok2" -v b="$secs2" 'BEGIN{printf "%.0f", a/b}')"
kill "$UAS" 2>/dev/null || true

echo "== concurrent calls with RTP: ${RTP_CALLS} calls of SIPp uac_pcap (8 s of G.711 each way)"
(cd "$work" && sipp "127.0.0.1:$PORT" -sn uac_pcap -i 127.0.0.1 -p 0 -mp 40000 -r 100 -m "$RTP_CALLS" \
   -l "$RTP_CALLS" -nostdin -timeout 120s > "$work/rtp.out" 2>&1) || true
read -r ok3 failed3 secs3 < <(figures "$work/rtp.out")
peak=$(grep -oE 'Peak was [0-9]+ calls' "$work/rtp.out" | tail -1 | grep -oE '[0-9]+')
echo "rtp     : successful=$ok3 failed=$failed3 peak_concurrent=${peak:-?} elapsed=${secs3}s"
kill "$SERVER" 2>/dev/null || true
