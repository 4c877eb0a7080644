#!/usr/bin/env bash
# A SIP scanner flood against the real gateway while real callers talk: from 127.0.0.2 a
# SIPp INVITE flood at RATE calls/s, plus sipvicious (svmap, then svwar guessing extensions
# with INVITE; sipvicious 0.3.3 ignores -b and sends from 127.0.0.1); from 127.0.0.3 real
# callers (SIPp uac_pcap: 8 s of G.711 audio each, one a second) through the demo dialplan. Prints figures; asserts nothing (the short version
# with assertions is tests/sip_scanner_flood_test.rs). SIPp and sipvicious run on the same
# cores as the gateway: their CPU is printed beside the gateway's.
#
#   bench/sip_flood.sh [rate=3000] [secs=60] [callers=30]
#   HOTLINE_BIN=target/debug/hotline bench/sip_flood.sh 1000 20 10   # without a release build
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-3000}
SECS=${2:-60}
CALLERS=${3:-30}
PORT=${FLOOD_BENCH_PORT:-5290}
HTTP=${FLOOD_BENCH_HTTP:-8290}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ln -s /usr/share/sip-tester "$work/pcap"   # uac_pcap reads pcap/g711a.pcap
ulimit -n "$(ulimit -Hn)"

if [ -z "${HOTLINE_BIN:-}" ]; then
  cargo build --release --bin hotline 2>&1 | tail -1
  HOTLINE_BIN=target/release/hotline
fi
hz=$(getconf CLK_TCK)
cpu_of() { awk -v hz="$hz" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
msum() { awk -v n="$1" -v re="${2:-.}" '{split($1, p, "{")} p[1] == n && $1 ~ re {s += $NF} END {printf "%.0f", s}' "$3"; }
sipp_stat() { grep -E "^\s+$2" "$1" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}'; }

mkdir -p "$work/data"
NO_COLOR=1 RUST_LOG=warn HOTLINE__DATA_DIR="$work/data" \
  HOTLINE__SIP__LISTEN_UDP="[\"127.0.0.1:$PORT\"]" HOTLINE__SIP__LISTEN_TCP="[\"127.0.0.1:$PORT\"]" \
  HOTLINE__HTTP__LISTEN="127.0.0.1:$HTTP" \
  HOTLINE__MEDIA__RTP_PORT_MIN=30000 HOTLINE__MEDIA__RTP_PORT_MAX=39999 \
  HOTLINE__IVR__PROMPT_CACHE_DIR="$PWD/target/test-prompt-cache" \
  HOTLINE__TICKETS__SUPERVISION__ENABLED=false HOTLINE__DEMO_TICKETS_FILE="" \
  "$HOTLINE_BIN" serve > "$work/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 150); do curl -sf "127.0.0.1:$HTTP/metrics" > /dev/null && break; sleep 0.2; done
kill -0 "$SERVER" 2>/dev/null || { echo "hotline serve did not start:"; tail -5 "$work/serve.log"; exit 1; }
curl -sf "127.0.0.1:$HTTP/metrics" > "$work/m0"
cpu0=$(cpu_of "$SERVER"); t0=$(date +%s.%N)

# --- the flood, from 127.0.0.2
(cd "$work" && sipp "127.0.0.1:$PORT" -sn uac -i 127.0.0.2 -p 0 -mp 41000 -r "$RATE" \
   -m $((RATE * SECS)) -l 20000 -d 0 -nostdin -timeout "${SECS}s" > flood.out 2>&1) &
FLOOD=$!
(svmap -b 127.0.0.2 -p "$PORT" -m INVITE 127.0.0.1 > "$work/svmap.out" 2>&1 || true
 timeout "$SECS" svwar -b 127.0.0.2 -p "$PORT" -m INVITE -e 1000-999999 -t 0.001 127.0.0.1 \
   > "$work/svwar.out" 2>&1 || true) &
SV=$!

# --- the real callers, from 127.0.0.3, once the flood runs
sleep 2
(cd "$work" && sipp "127.0.0.1:$PORT" -sn uac_pcap -s 12345 -i 127.0.0.3 -p 0 -mp 42000 -r 1 \
   -m "$CALLERS" -l "$CALLERS" -nostdin -timeout $((SECS + 60))s > real.out 2>&1) || true

wait "$FLOOD" 2>/dev/null || true
kill "$SV" 2>/dev/null || true
t1=$(date +%s.%N); cpu1=$(cpu_of "$SERVER")
curl -sf "127.0.0.1:$HTTP/metrics" > "$work/m1"

secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
invites=$(( $(msum hotline_sip_requests_total 'INVITE' "$work/m1") - $(msum hotline_sip_requests_total 'INVITE' "$work/m0") ))
dropped=$(( $(msum hotline_sip_flood_dropped_total . "$work/m1") - $(msum hotline_sip_flood_dropped_total . "$work/m0") ))
r503=$(msum hotline_sip_responses_total 'method="INVITE".*code="503"' "$work/m1")
flood_sent=$(grep -E "^\s+INVITE ---" "$work/flood.out" | tail -1 | awk '{print $3}')
echo "== SIP flood: SIPp INVITEs at ${RATE}/s from 127.0.0.2 + svmap + svwar for ${SECS}s, $CALLERS real callers from 127.0.0.3, $(nproc) cores"
echo "flood    : ${flood_sent:-?} INVITEs sent by SIPp in ${SECS}s ($(awk -v n="${flood_sent:-0}" -v s="$SECS" 'BEGIN{printf "%.0f", n/s}')/s), svwar output lines: $(wc -l < "$work/svwar.out")"
echo "gateway  : $invites INVITEs taken in, $dropped requests dropped unread, $r503 answered 503"
echo "real     : $(sipp_stat "$work/real.out" "Successful call") of $CALLERS calls completed, $(sipp_stat "$work/real.out" "Failed call") failed"
echo "cpu      : gateway $(awk -v a="$cpu0" -v b="$cpu1" -v s="$secs" 'BEGIN{printf "%.0f", 100*(b-a)/s}') % of one core over ${secs}s"
grep -E "panicked|ERROR" "$work/serve.log" | grep -v "speech unavailable" | head -3 || true
