#!/usr/bin/env bash
# Soak: the real `hotline serve` under a steady mixed load — SIPp calls with RTP (uac_pcap,
# G.711 both ways through the demo dialplan), residents' texts from the SMSC simulator, and
# web/API requests (health, metrics, Open311, the login page) — for a long time, sampling
# the process's memory (RSS) and open file descriptors at the start, every few minutes and
# after the load ends, then saying whether they grew. Prints figures; asserts nothing.
#
#   bench/soak.sh [duration_secs=3600] [sample_every_secs=300]
#
# SOAK_CALL_RATE (calls/s, default 1), SOAK_CALLS_AT_ONCE (default 4), SOAK_SMS_EVERY
# (seconds between texts, default 2), HOTLINE_BIN (default: target/debug/hotline, built if
# missing), SOAK_PORT_BASE (default 30000: hotline's RTP ports from there, SIPp's media
# ports 10000 above; give each of several soaks side by side its own, e.g. to compare
# allocator settings under the same load). Other variables (MALLOC_ARENA_MAX,
# HOTLINE__...) reach the server. The short version that asserts no descriptor leak is
# tests/soak_fd_leak_test.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-3600}
EVERY=${2:-300}
CALL_RATE=${SOAK_CALL_RATE:-1}
AT_ONCE=${SOAK_CALLS_AT_ONCE:-4}
SMS_EVERY=${SOAK_SMS_EVERY:-2}
BIN=${HOTLINE_BIN:-target/debug/hotline}
PORT_BASE=${SOAK_PORT_BASE:-30000}
[ -x "$BIN" ] || cargo build --bin hotline
(cd tests/smsc && [ -d node_modules/smpp ] || npm ci --no-audit --no-fund)

work=$(mktemp -d)
ln -s /usr/share/sip-tester "$work/pcap"   # uac_pcap reads pcap/g711a.pcap
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The SMSC simulator, fed commands through a FIFO.
mkfifo "$work/smsc.in"
node tests/smsc/smsc.js --port 0 --quiet-submits < "$work/smsc.in" > "$work/smsc.log" 2>&1 &
pids+=($!)
exec 3> "$work/smsc.in"
for _ in $(seq 100); do grep -q '"listening"' "$work/smsc.log" && break; sleep 0.1; done
SMSC_PORT=$(grep -o '"port":[0-9]*' "$work/smsc.log" | head -1 | cut -d: -f2)

SIP_PORT=$(free_port)
HTTP_PORT=$(free_port)
mkdir -p "$work/data"
HOTLINE__DATA_DIR="$work/data" \
HOTLINE__DEMO_TICKETS_FILE="" \
HOTLINE__SIP__LISTEN_UDP="[\"127.0.0.1:$SIP_PORT\"]" \
HOTLINE__SIP__LISTEN_TCP="[\"127.0.0.1:$SIP_PORT\"]" \
HOTLINE__HTTP__LISTEN="127.0.0.1:$HTTP_PORT" \
HOTLINE__MEDIA__RTP_PORT_MIN="$PORT_BASE" HOTLINE__MEDIA__RTP_PORT_MAX="$((PORT_BASE + 999))" \
HOTLINE__SMS__ENABLED=true HOTLINE__SMS__PORT="$SMSC_PORT" HOTLINE__SMS__PASSWORD=secret \
HOTLINE__SMS__QUIET_START=00:00 HOTLINE__SMS__QUIET_END=00:00 \
HOTLINE__SMS__DAILY_CAP_PER_PHONE=0 \
HOTLINE__TICKETS__SUPERVISION__ENABLED=false \
RUST_LOG=warn NO_COLOR=1 "$BIN" serve > "$work/hotline.log" 2>&1 &
HOTLINE=$!
pids+=("$HOTLINE")
for _ in $(seq 600); do
  curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" > /dev/null 2>&1 && break
  sleep 0.2
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$HOTLINE/status"; }
# RSS counts the binary's code pages too, which fault in as new code paths run (tens of MB
# for a debug build); the heap and stacks are the anonymous part, where a leak would show.
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$HOTLINE/status"; }
fds() { ls "/proc/$HOTLINE/fd" | wc -l; }
threads() { awk '/^Threads/ {print $2}' "/proc/$HOTLINE/status"; }
sample() { printf '%-8s t=%6ss rss=%8s kB anon=%8s kB fds=%5s threads=%4s\n' "$1" "$2" "$(rss_kb)" "$(anon_kb)" "$(fds)" "$(threads)"; }

echo "== soak: ${DURATION}s of mixed load on hotline (pid $HOTLINE), $(nproc) cores, samples every ${EVERY}s"
echo "   calls ${CALL_RATE}/s (at most $AT_ONCE at once, 8 s of G.711 each way), a text every ${SMS_EVERY}s, web requests continuously"
sleep 2
START_RSS=$(rss_kb); START_ANON=$(anon_kb); START_FDS=$(fds)
sample start 0

# Calls: SIPp's uac_pcap, for the whole duration.
(cd "$work" && exec sipp "127.0.0.1:$SIP_PORT" -sn uac_pcap -s 12345 -i 127.0.0.1 -p 0 -mp "$((PORT_BASE + 10000))" \
   -r "$CALL_RATE" -l "$AT_ONCE" -m $((DURATION * CALL_RATE)) -nostdin -timeout "$((DURATION + 120))s" \
   > "$work/sipp.out" 2>&1) &
SIPP=$!
pids+=("$SIPP")

# Texts: a new resident every time (each becomes a ticket and an SMS notice).
(
  i=0
  while :; do
    i=$((i + 1))
    printf '{"cmd":"deliver","from":"139%08d","to":"12345","text":"第%d号楼门前的路灯坏了，晚上很黑"}\n' "$i" "$i" >&3
    sleep "$SMS_EVERY"
  done
) &
SMS=$!
pids+=("$SMS")

# Web: health, metrics, Open311 lists and a refused login, over and over.
(
  base="http://127.0.0.1:$HTTP_PORT"
  while :; do
    curl -s -o /dev/null "$base/healthz"
    curl -s -o /dev/null "$base/metrics"
    curl -s -o /dev/null "$base/open311/v2/services.json"
    curl -s -o /dev/null "$base/open311/v2/requests.json"
    curl -s -o /dev/null "$base/login"
    curl -s -o /dev/null -d 'name=nobody&password=wrong' "$base/login"
    sleep 0.5
  done
) &
WEB=$!
pids+=("$WEB")

t=0
next=$EVERY
while [ "$t" -lt "$DURATION" ]; do
  sleep 10
  t=$((t + 10))
  kill -0 "$HOTLINE" 2>/dev/null || { echo "hotline died; log tail:"; tail -20 "$work/hotline.log"; exit 1; }
  if [ "$t" -ge "$next" ]; then sample load "$t"; next=$((next + EVERY)); fi
  if [ -z "${MID_RSS:-}" ] && [ "$t" -ge $((DURATION / 2)) ]; then MID_RSS=$(rss_kb); MID_ANON=$(anon_kb); MID_FDS=$(fds); fi
done

kill "$SMS" "$WEB" 2>/dev/null || true
kill -INT "$SIPP" 2>/dev/null || true
sleep 20   # calls in progress end, texts are answered, idle connections close
END_RSS=$(rss_kb); END_ANON=$(anon_kb); END_FDS=$(fds)
sample idle "$((t + 20))"

ok=$(grep -E '^\s+Successful call' "$work/sipp.out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
failed=$(grep -E '^\s+Failed call' "$work/sipp.out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
echo '{"cmd":"stats"}' >&3
sleep 1
stats=$(grep '"stats"' "$work/smsc.log" | tail -1 || true)
tickets=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM tickets").fetchone()[0])' "$work/data/hotline.db" 2>/dev/null || echo '?')
echo "calls: successful=${ok:-?} failed=${failed:-?}; tickets: ${tickets}; smsc: ${stats}"
echo "panics in the log: $(grep -c 'panicked' "$work/hotline.log" || true)"

verdict() { # name start end slack
  local d=$(( $3 - $2 ))
  if [ "$d" -gt "$4" ]; then echo "$1: GREW by $d ($2 -> $3)"; else echo "$1: steady ($2 -> $3, change $d)"; fi
}
verdict "rss kB" "$START_RSS" "$END_RSS" $((START_RSS / 4))
verdict "anonymous rss kB" "$START_ANON" "$END_ANON" $((START_ANON / 4))
verdict "open fds" "$START_FDS" "$END_FDS" 16
# Pools and caches fill in the first minutes; growth that goes on shows in the second half.
verdict "rss kB, second half" "${MID_RSS:-$START_RSS}" "$END_RSS" $((START_RSS / 20))
verdict "anonymous rss kB, second half" "${MID_ANON:-$START_ANON}" "$END_ANON" $((START_ANON / 20))
verdict "open fds, second half" "${MID_FDS:-$START_FDS}" "$END_FDS" 4
