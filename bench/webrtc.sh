#!/usr/bin/env bash
# Browser softphones bridged to SIP callers: LEGS operators answer in one headless Chromium
# (fake microphone playing a tone) the calls of LEGS SIPp callers who pressed 0 and echo
# what they hear; once all talk, hotline's CPU and memory are measured for SECS seconds and
# printed per browser leg (each leg: DTLS-SRTP to the browser, relayed RTP, the bridge to
# the caller's RTP). Chromium runs on the same cores: its CPU is printed beside. Asserts
# nothing.
#
#   bench/webrtc.sh [legs=10] [secs=30]      (WEBRTC_BENCH_BIN=path skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
LEGS=${1:-10}
SECS=${2:-30}
PORT=${WEBRTC_BENCH_PORT:-5290}
HTTP=${WEBRTC_BENCH_HTTP:-8290}
MP=${WEBRTC_BENCH_MEDIA_PORT:-47000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

if [ -n "${WEBRTC_BENCH_BIN:-}" ]; then BIN=$WEBRTC_BENCH_BIN; else
  cargo build --release --bin hotline 2>&1 | tail -1; BIN=target/release/hotline; fi
(cd tests/browser && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund > /dev/null)
hz=$(getconf CLK_TCK)
cpu_of() { awk -v hz="$hz" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_tree() { local s=0 p; for p in $(pgrep -f "$1" || true); do s=$(awk -v a="$s" -v b="$(cpu_of "$p")" 'BEGIN{print a+b}'); done; echo "$s"; }
rss_of() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

export HOTLINE__DATA_DIR="$work/data" NO_COLOR=1 RUST_LOG=warn
mkdir -p "$HOTLINE__DATA_DIR"
for i in $(seq -f "%03g" 1 "$LEGS"); do
  HOTLINE_PASSWORD=console-pw-123 "$BIN" user add --name "op$i" --role operator > /dev/null
done
cat > "$work/queues.toml" <<EOQ
[queue.operators]
name = "人工服务"
members = ["role:operator"]
ring_secs = 30
wrapup_secs = 1
max_wait_secs = 3600
max_callers = $((LEGS + 10))
when_no_agents = "voicemail"
when_max_wait = "voicemail"
EOQ
# The operators' microphone: a 1 kHz tone, 48 kHz mono.
python3 - "$work/mic.wav" <<'EOP'
import math, struct, sys, wave
w = wave.open(sys.argv[1], "wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(48000)
w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 1000 * i / 48000))) for i in range(48000 * 5)))
EOP

HOTLINE__ACD__QUEUES_FILE="$work/queues.toml" \
  HOTLINE__SIP__LISTEN_UDP="[\"127.0.0.1:$PORT\"]" HOTLINE__SIP__LISTEN_TCP="[\"127.0.0.1:$PORT\"]" \
  HOTLINE__HTTP__LISTEN="127.0.0.1:$HTTP" HOTLINE__SIP__TRUSTED_SOURCES='["127.0.0.1"]' \
  HOTLINE__MEDIA__RTP_PORT_MIN=30000 HOTLINE__MEDIA__RTP_PORT_MAX=39999 \
  HOTLINE__MEDIA__OPERATOR_RECORDING=off \
  HOTLINE__IVR__PROMPT_CACHE_DIR="$PWD/target/test-prompt-cache" \
  HOTLINE__TICKETS__SUPERVISION__ENABLED=false HOTLINE__DEMO_TICKETS_FILE="" \
  "$BIN" serve > "$work/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$HTTP/healthz" > /dev/null && break; sleep 0.2; done
kill -0 "$SERVER" 2>/dev/null || { echo "hotline serve did not start:"; tail -5 "$work/serve.log"; exit 1; }
rss_base=$(rss_of $SERVER)

mkfifo "$work/agents.fifo"
(cd tests/browser && BASE="http://127.0.0.1:$HTTP" LEGS=$LEGS PASSWORD=console-pw-123 \
  MIC_WAV="$work/mic.wav" exec node softphone-bench.mjs > "$work/agents.fifo" 2> "$work/agents.err") &
exec 3< "$work/agents.fifo"
t0=$(date +%s)
while read -r -t 300 line <&3; do case $line in ready*) break;; esac; done
echo "== $LEGS browser legs bridged to SIP callers, ${SECS}s window, $(nproc) cores"
echo "agents   : $LEGS desks ready with their softphones in $(( $(date +%s) - t0 )) s"

sed -e 's/HOLD_MS/'"$(( (SECS + 90) * 1000 ))"'/' > "$work/caller.xml" <<'EOX'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="resident for a browser operator">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:1390000[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:1390000[call_number]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=ptime:20
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:1390000[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="1500"/>
  <send retrans="500"><![CDATA[
INFO [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:1390000[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 INFO
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal=0
Duration=160
]]></send>
  <recv response="200"/>
  <pause milliseconds="HOLD_MS"/>
  <send><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:1390000[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
EOX
(cd "$work" && exec sipp "127.0.0.1:$PORT" -sf caller.xml -s 12345 -i 127.0.0.1 -p 0 -mp "$MP" \
   -rtp_echo -r 5 -m "$LEGS" -l "$LEGS" -nostdin -timeout $((SECS + 200))s > callers.out 2>&1) &
talking=0
while read -r -t 120 line <&3; do
  case $line in talking*) talking=${line#talking }; [ "$talking" -ge "$LEGS" ] && break;; esac
done
echo "talking  : $talking of $LEGS browser legs connected"
[ "$talking" -gt 0 ] || { echo "no browser leg connected"; tail -5 "$work/serve.log" "$work/agents.err"; exit 1; }
sleep 3
ca=$(cpu_of $SERVER); ba=$(cpu_tree chromium); ta=$(date +%s.%N)
sleep "$SECS"
cb=$(cpu_of $SERVER); bb=$(cpu_tree chromium); tb=$(date +%s.%N); rss=$(rss_of $SERVER)
awk -v a="$ta" -v b="$tb" -v c="$ca" -v d="$cb" -v e="$ba" -v f="$bb" -v n="$talking" \
    -v r0="$rss_base" -v r1="$rss" 'BEGIN{
  w = b - a; cpu = d - c;
  printf "cpu      : hotline %.1f %% of one core = %.2f ms CPU per leg-second (%d legs; each leg is the browser side and its bridged SIP caller); Chromium %.0f %%\n",
    cpu/w*100, cpu/w/n*1000, n, (f-e)/w*100;
  printf "memory   : hotline RSS %.1f MiB, %.0f KiB more than before the calls = %.0f KiB per leg\n",
    r1/1024, r1-r0, (r1-r0)/n }'
