#!/usr/bin/env bash
# hotline nodes behind Kamailio (deploy/kamailio/kamailio.cfg), all on loopback, one
# PostgreSQL database: call setups per second and concurrent held calls with one node and
# with two (the scaling ratio), and how long after `kill -9` of one node new calls are set
# up as fast as before. Prints figures; asserts nothing.
#
#   bench/kamailio.sh [rate=50] [seconds=10] [held=100]
#
# Each node may hold held/2 calls ([sip] max_calls): with one node the rest are refused
# (503), with two the balancer's failure route moves them to the node with room.
# Needs: kamailio, sipp, PostgreSQL at HOTLINE_TEST_PG. Uses target/release/hotline when
# built, else target/debug/hotline (say which in any figure you publish).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-50}
SECS=${2:-10}
HELD=${3:-100}
PG=${HOTLINE_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}
BIN=target/release/hotline
[ -x "$BIN" ] || BIN=target/debug/hotline
[ -x "$BIN" ] || { echo "build hotline first (cargo build --release)"; exit 1; }
work=$(mktemp -d)
# Nodes and Kamailio start inside $(...), so their pids live in files, not in a variable.
cleanup() {
  for f in "$work"/*.pid "$work/kam.main"; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

db="hotline_bench_$$"
psql "$PG" -qc "CREATE DATABASE $db" >/dev/null
DB_URL="${PG%/*}/$db"

# Every call waits in a silent menu for up to a minute: the caller decides how long it
# lasts, and a held call costs the node what a caller on hold does.
mkdir -p "$work/plans"
cat >"$work/plans/12345.toml" <<'X'
[dialplan]
start = "hold"
languages = ["zh"]

[node.hold]
do = "menu"
prompts = []
choices = { "1" = "bye" }
timeout_secs = 60
timeout_retries = 0
on_timeout = "bye"

[node.bye]
do = "hangup"
X

# start_node NAME MAX_CALLS -> prints its SIP port; pid in $work/NAME.pid
start_node() {
  local name=$1 max=$2 sip http rtp
  sip=$(port); http=$(port); rtp=$((20000 + (sip % 400) * 100))
  mkdir -p "$work/$name"
  HOTLINE__DATA_DIR="$work/$name" HOTLINE__DATABASE__URL="$DB_URL" \
  HOTLINE__SIP__LISTEN_UDP="[\"127.0.0.1:$sip\"]" HOTLINE__SIP__LISTEN_TCP="[\"127.0.0.1:$sip\"]" \
  HOTLINE__HTTP__LISTEN="127.0.0.1:$http" HOTLINE__SIP__MAX_CALLS="$max" \
  HOTLINE__SIP__TRUSTED_SOURCES='["127.0.0.1"]' HOTLINE__SIP__MAX_UNCONFIRMED=10000 \
  HOTLINE__MEDIA__RTP_PORT_MIN=$rtp HOTLINE__MEDIA__RTP_PORT_MAX=$((rtp + 2 * max + 10)) \
  HOTLINE__IVR__DIALPLAN_DIR="$work/plans" HOTLINE__DEMO_TICKETS_FILE= \
  HOTLINE__TICKETS__SUPERVISION__ENABLED=false HOTLINE__MEDIA__NO_RTP_TIMEOUT_SECS=600 \
  RUST_LOG=warn,hotline=info "$BIN" serve >"$work/$name.log" 2>&1 &
  echo $! >"$work/$name.pid"
  for _ in $(seq 600); do grep -q "SIP listening" "$work/$name.log" 2>/dev/null && break; sleep 0.1; done
  echo "$sip"
}

# start_kamailio SIP_PORT... -> prints its port
start_kamailio() {
  local kp; kp=$(port); : >"$work/dispatcher.list"
  for p in "$@"; do echo "1 sip:127.0.0.1:$p 0 0" >>"$work/dispatcher.list"; done
  kamailio -f deploy/kamailio/kamailio.cfg -DD -E -m 128 -M 16 -Y "$work" -P "$work/kam.pid" \
    -A "LISTEN=udp:127.0.0.1:$kp" -A "LISTEN_TCP=tcp:127.0.0.1:$kp" \
    -A "DISPATCHER_LIST=\"$work/dispatcher.list\"" -A "CTL_SOCKET=\"unix:$work/ctl\"" \
    -A PING_INTERVAL=1 >"$work/kamailio.log" 2>&1 &
  echo $! >"$work/kam.main"
  sleep 3
  echo "$kp"
}
stop_all() {
  for f in "$work"/*.pid "$work/kam.main"; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; done
  sleep 2
}

# A caller: INVITE, answered, holds HOLD ms, hangs up; the setup time (INVITE → 200) is
# SIPp's response-time 1.
scenario() {
  cat <<'X'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="held call">
  <send retrans="500" start_rtd="1"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true" rtd="1"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
[routes]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
[routes]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
X
}
scenario >"$work/call.xml"

# run_calls KPORT OUT RATE CALLS LIMIT HOLD_MS [extra sipp args]. SIPp's own -timeout does
# not end a run whose last calls wait for an answer that never comes: SIGTERM after the
# calls' time plus a minute does, and SIPp still prints its final figures.
run_calls() {
  local kp=$1 out=$2 rate=$3 calls=$4 limit=$5 hold=$6; shift 6
  local budget=$(( calls / rate + hold / 1000 + 60 ))
  (cd "$work" && timeout -k 20 "$budget" sipp "127.0.0.1:$kp" -sf call.xml -s 12345 \
     -i 127.0.0.1 -p 0 -mp "$(port)" -r "$rate" -m "$calls" -l "$limit" -d "$hold" \
     -nostdin "$@" >"$out" 2>&1) || true
}
figures() { # ok failed seconds
  local out=$1 ok failed t0 t1
  ok=$(grep -E '^\s+Successful call' "$out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  failed=$(grep -E '^\s+Failed call' "$out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  t0=$(grep -E '^\s+Start Time' "$out" | tail -1 | awk -F'|' '{print $2}' | awk '{print $NF}')
  t1=$(grep -E '^\s+Current Time' "$out" | tail -1 | awk -F'|' '{print $2}' | awk '{print $NF}')
  echo "${ok:-0} ${failed:-0} $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')"
}

echo "binary: $BIN; load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
declare -A CPS HELDOK
for n in 1 2; do
  ports=()
  for i in $(seq "$n"); do ports+=("$(start_node "node$i" $((HELD / 2)))"); done
  kp=$(start_kamailio "${ports[@]}")
  run_calls "$kp" "$work/cps$n.txt" "$RATE" $((RATE * SECS)) 5000 0
  read -r ok failed secs <<<"$(figures "$work/cps$n.txt")"
  CPS[$n]=$(awk -v o="$ok" -v s="$secs" 'BEGIN{printf "%.0f", (s>0)?o/s:0}')
  echo "$n node(s): call setups: $ok ok, $failed failed in ${secs}s = ${CPS[$n]} CPS (offered $RATE/s)"
  # Held calls: all offered in 2 s, each held 20 s; a node refuses beyond its max_calls.
  run_calls "$kp" "$work/held$n.txt" $((HELD / 2 + 1)) "$HELD" "$HELD" 20000
  read -r ok failed secs <<<"$(figures "$work/held$n.txt")"
  HELDOK[$n]=$ok
  echo "$n node(s): held calls: $ok of $HELD held 20 s, $failed refused or failed"
  stop_all
done
echo "scaling two nodes / one: CPS $(awk -v a="${CPS[2]}" -v b="${CPS[1]}" 'BEGIN{printf "%.2f", (b>0)?a/b:0}'), held calls $(awk -v a="${HELDOK[2]}" -v b="${HELDOK[1]}" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')"

# Recovery: calls at 10/s through two nodes; node2 is killed after 5 s. Each call's setup
# time comes from SIPp's -trace_rtt; a call sent to the dead node waits for the balancer's
# FR_TIMER before it goes to node1, until the pings take node2 out.
p1=$(start_node node1 1000); p2=$(start_node node2 1000)
kp=$(start_kamailio "$p1" "$p2")
start=$(date +%s.%N)
run_calls "$kp" "$work/rec.txt" 10 150 1000 500 -trace_rtt -rtt_freq 1 &
sipp_job=$!
sleep 5
kill -9 "$(cat "$work/node2.pid")"; killed=$(date +%s.%N)
wait "$sipp_job" || true
read -r ok failed secs <<<"$(figures "$work/rec.txt")"
rtt=$(ls "$work"/*_rtt.csv 2>/dev/null | head -1)
if [ -n "$rtt" ]; then
  # Date_ms (since SIPp started);response_time_ms;rtd_no. A setup over 1 s after the kill
  # waited for the balancer's failover; after the last of them, calls set up at once again.
  awk -F';' -v k="$(awk -v a="$killed" -v b="$start" 'BEGIN{print a-b}')" '
      NR>1 { t=$1/1000.0; ms=$2+0; if (t < k) next; n++;
             if (ms > 1000) { slow++; last=t; if (ms > worst) worst=ms } }
      END { printf "recovery: %d setups after the kill, %d of them waited for failover (slowest %.1f s); new calls set up at once again %.1f s after the kill\n", n, slow, worst/1000, (slow ? last-k : 0) }' "$rtt"
fi
echo "recovery run: $ok ok, $failed failed (calls held by node2 at the kill drop)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
psql "$PG" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null 2>&1 || true
