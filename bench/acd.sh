#!/usr/bin/env bash
# The call centre under load: CALLERS residents waiting in the `operators` queue with hold
# music and position announcements while AGENTS operators talk to callers, for SECS seconds.
# Operators' desk phones are one SIPp UAS (all accounts registered from its port, answering
# every call and echoing the audio); callers are one SIPp UAC pressing 0 by SIP INFO in the
# demo dialplan (and echoing what they hear, so the gateway receives RTP too). The agents
# are made ready only after every caller waits, so each offer starts at a free agent.
# Prints figures; asserts nothing. SIPp runs on the same cores as the gateway: its CPU is
# printed beside the gateway's.
#
#   bench/acd.sh [callers=1000] [agents=200] [secs=60]
set -euo pipefail
cd "$(dirname "$0")/.."
CALLERS=${1:-1000}
AGENTS=${2:-200}
SECS=${3:-60}
CALLS=$((CALLERS + AGENTS))
RATE=${ACD_BENCH_RATE:-40}           # callers arriving per second
PORT=${ACD_BENCH_PORT:-5190}         # our SIP port
PHONES=$((PORT + 1))                 # the operators' phones (SIPp UAS)
HTTP=${ACD_BENCH_HTTP:-8190}
MP=${ACD_BENCH_MEDIA_PORT:-46000}     # SIPp's echo ports: phones here, callers at +100
PHONE_PW=desk-phone-pw-1
work=$(mktemp -d)
# ACD_BENCH_KEEP=DIR keeps the logs and scrapes there.
trap 'kill $(jobs -p) 2>/dev/null || true; [ -z "${ACD_BENCH_KEEP:-}" ] || cp -r "$work" "$ACD_BENCH_KEEP"; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"

cargo build --release --bin hotline 2>&1 | tail -1
BIN=target/release/hotline
hz=$(getconf CLK_TCK)

export HOTLINE__DATA_DIR="$work/data" NO_COLOR=1 RUST_LOG=warn
mkdir -p "$HOTLINE__DATA_DIR"

# --- operator accounts: one CLI loop (each account: a console password, a SIP password)
t0=$(date +%s.%N)
for i in $(seq -f "%03g" 1 "$AGENTS"); do
  HOTLINE_PASSWORD=console-pw-123 "$BIN" user add --name "op$i" --role operator > /dev/null
  HOTLINE_PASSWORD=$PHONE_PW "$BIN" user sip-password "op$i" > /dev/null
done
t1=$(date +%s.%N)
echo "== call centre: $CALLERS waiting + $AGENTS talking for ${SECS}s, $(nproc) cores"
echo "accounts : $AGENTS operators with SIP passwords in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s (CLI, two runs each)"

cat > "$work/queues.toml" <<EOF
[queue.operators]
name = "人工服务"
members = ["role:operator"]
strategy = "longest-idle"
ring_secs = 15
wrapup_secs = 10
max_wait_secs = 3600
max_callers = $((CALLS + 100))
announce_every_secs = 30
hold_music = "$PWD/sounds/hold"
when_no_agents = "voicemail"
when_max_wait = "voicemail"
EOF

RUST_LOG=warn HOTLINE__ACD__QUEUES_FILE="$work/queues.toml" \
  HOTLINE__SIP__LISTEN_UDP="[\"127.0.0.1:$PORT\"]" HOTLINE__SIP__LISTEN_TCP="[\"127.0.0.1:$PORT\"]" \
  HOTLINE__HTTP__LISTEN="127.0.0.1:$HTTP" \
  HOTLINE__SIP__MAX_CALLS=$((CALLS * 2)) HOTLINE__SIP__TRUSTED_SOURCES='["127.0.0.1"]' \
  HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS=0 HOTLINE__SIP__REGISTRAR__MAX_EXPIRES=3600 \
  HOTLINE__MEDIA__RTP_PORT_MIN=20000 HOTLINE__MEDIA__RTP_PORT_MAX=29999 \
  HOTLINE__MEDIA__NO_RTP_TIMEOUT_SECS=0 \
  HOTLINE__IVR__PROMPT_CACHE_DIR="$PWD/target/test-prompt-cache" \
  HOTLINE__TICKETS__SUPERVISION__ENABLED=false HOTLINE__DEMO_TICKETS_FILE="" \
  "$BIN" serve > "$work/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$HTTP/metrics" > /dev/null && break; sleep 0.2; done
kill -0 "$SERVER" 2>/dev/null || { echo "hotline serve did not start:"; tail -5 "$work/serve.log"; exit 1; }

metrics() { curl -sf "127.0.0.1:$HTTP/metrics"; }
# Sum of a family's samples whose label text matches a regex (default: all).
msum() { awk -v n="$1" -v re="${2:-.}" '{split($1, p, "{")} p[1] == n && $1 ~ re {s += $NF} END {printf "%.0f", s}' "$3"; }
cpu_of() { awk -v hz="$hz" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_of() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
sipp_stat() { # file "Successful call"|"Failed call"
  grep -E "^\s+$2" "$1" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}'
}

# --- desk phones: every account registers from the one UAS port (CSV: name; credentials)
{ echo SEQUENTIAL
  for i in $(seq -f "%03g" 1 "$AGENTS"); do
    echo "op$i;[authentication username=op$i password=$PHONE_PW]"
  done; } > "$work/phones.csv"
sed -e 's/\[service\]/[field0]/g' -e 's/\[authentication\]/[field1]/' \
  tests/sipp/register_only.xml > "$work/register.xml"
(cd "$work" && sipp "127.0.0.1:$PORT" -sf register.xml -inf phones.csv -i 127.0.0.1 -p "$PHONES" \
   -m "$AGENTS" -r 100 -l 100 -nostdin -timeout 60s > register.out 2>&1) || true
echo "phones   : $(sipp_stat "$work/register.out" "Successful call") of $AGENTS registered"
(cd "$work" && exec sipp -sn uas -i 127.0.0.1 -p "$PHONES" -mp "$MP" -rtp_echo -nostdin \
   -timeout $((SECS * 4 + 600))s > phones.out 2>&1) &
UAS=$!
sleep 1
kill -0 "$UAS" 2>/dev/null || { echo "the phones' SIPp did not start:"; head -3 "$work/phones.out"; exit 1; }

# One agent logged in (paused) so callers may queue; everyone is made ready later.
HOTLINE_PASSWORD="" "$BIN" agent pause op001 --reason break > /dev/null

# --- callers: press 0 by INFO after the greeting, stay on the line, hang up.
RAMP=$(( (CALLS + RATE - 1) / RATE ))
# Every caller stays until the window is over: ramp, agents made ready (about 0.2 s each
# on a busy machine), settling, the window, a margin.
HOLD=$(( RAMP + 5 + AGENTS / 5 + 5 + SECS + 15 ))
cat > "$work/caller.xml" <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="resident waiting for an operator">
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
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
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
  <pause milliseconds="2000"/>
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
EOF
sed -i "s/HOLD_MS/$((HOLD * 1000))/" "$work/caller.xml"
metrics > "$work/m0"
cpu_base=$(cpu_of $SERVER); rss_base=$(rss_of $SERVER)
(cd "$work" && exec sipp "127.0.0.1:$PORT" -sf caller.xml -s 12345 -i 127.0.0.1 -p 0 -mp $((MP + 100)) \
   -rtp_echo -r "$RATE" -m "$CALLS" -l "$CALLS" -nostdin -timeout $((HOLD + RAMP + 120))s \
   > callers.out 2>&1) &
UAC=$!
sleep $((RAMP + 5))
metrics > "$work/m1"
echo "callers  : $(msum hotline_calls_active . "$work/m1") calls up, $(msum hotline_acd_waiting . "$work/m1") waiting after the ${RAMP}s ramp"

# --- operators become free while everybody waits: each ready → their phone rings.
t0=$(date +%s.%N)
seq -f "op%03g" 1 "$AGENTS" | HOTLINE_PASSWORD="" xargs -P 4 -n 1 "$BIN" agent ready > /dev/null
t1=$(date +%s.%N)
echo "ready    : $AGENTS × hotline agent ready in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
sleep 5

# --- the measured window
metrics > "$work/ma"
load_a=$(cut -d' ' -f1 /proc/loadavg)
ca=$(cpu_of $SERVER); ua=$(cpu_of $UAC); pa=$(cpu_of $UAS); ta=$(date +%s.%N)
sleep $((SECS / 2))
metrics > "$work/mpeak"; rss_peak=$(rss_of $SERVER)
sleep $((SECS - SECS / 2))
metrics > "$work/mb"
load_b=$(cut -d' ' -f1 /proc/loadavg)
cb=$(cpu_of $SERVER); ub=$(cpu_of $UAC); pb=$(cpu_of $UAS); tb=$(date +%s.%N)
wait "$UAC" || true
sleep 2
metrics > "$work/mend"

waiting=$(msum hotline_acd_waiting . "$work/mpeak")
talking=$(msum hotline_acd_agents 'state="talking"' "$work/mpeak")
active=$(msum hotline_calls_active . "$work/mpeak")
echo "machine  : load average $load_a at the window's start, $load_b at its end ($(nproc) cores; other processes count too)"
echo "window   : $(msum hotline_acd_waiting . "$work/mb") waiting, $(msum hotline_acd_agents 'state="talking"' "$work/mb") talking at its end"
echo "peak     : $active calls in, $waiting callers waiting, $talking agents talking (mid-window /metrics)"
echo "sipp     : callers successful=$(sipp_stat "$work/callers.out" "Successful call") failed=$(sipp_stat "$work/callers.out" "Failed call")"

# RTP frames sent in the window by how late their sender woke (le_us buckets, not
# cumulative); on time = within one 20 ms frame of its slot.
awk -v f="$work/ma" 'BEGIN{while((getline l < f)>0) if (l ~ /^hotline_rtp_send_lateness_total/) {split(l,a," "); A[a[1]]=a[2]}}
  /^hotline_rtp_send_lateness_total/ {d = $2 - A[$1]; tot += d; match($1, /le_us="[^"]+"/); le = substr($1, RSTART+7, RLENGTH-8);
    if (le != "inf" && le + 0 <= 20000) ok += d; if (le != "inf" && le + 0 <= 5000) ok5 += d}
  END {if (tot > 0) printf "rtp      : %d frames sent in the window, %.2f %% within 20 ms of their slot, %.2f %% within 5 ms\n", tot, ok/tot*100, ok5/tot*100}' "$work/mb"
out_w=$(( $(msum hotline_rtp_packets_total 'direction="out"' "$work/mb") - $(msum hotline_rtp_packets_total 'direction="out"' "$work/ma") ))
in_w=$(( $(msum hotline_rtp_packets_total 'direction="in"' "$work/mb") - $(msum hotline_rtp_packets_total 'direction="in"' "$work/ma") ))
lost_w=$(( $(msum hotline_rtp_packets_lost_total . "$work/mb") - $(msum hotline_rtp_packets_lost_total . "$work/ma") ))
legs=$((CALLS + talking))   # every caller, and the agent side of each conversation
awk -v o="$out_w" -v i="$in_w" -v l="$lost_w" -v n="$legs" -v a="$ta" -v b="$tb" 'BEGIN{
  printf "rtp      : out %d (%.1f %% of 50/s on %d legs), in %d, lost %d\n", o, o/(n*50*(b-a))*100, n, i, l}'

awk -v c="$ca" -v d="$cb" -v u1="$ua" -v u2="$ub" -v p1="$pa" -v p2="$pb" -v a="$ta" -v b="$tb" \
    -v n="$active" -v r0="$rss_base" -v r1="$rss_peak" 'BEGIN{
  w = b - a; cpu = d - c;
  printf "cpu      : hotline %.0f %% of one core = %.3f ms CPU per call-second (%d calls); SIPp callers %.0f %%, SIPp phones %.0f %%\n",
    cpu/w*100, cpu/w/n*1000, n, (u2-u1)/w*100, (p2-p1)/w*100;
  printf "memory   : RSS %.0f MiB at peak (%.0f MiB before the calls): %.1f KiB per call\n", r1/1024, r0/1024, (r1-r0)/n}'

# Offer latency from the histogram's cumulative buckets: the first bound holding q of all.
offers() { # scrape label
  awk -v what="$2" 'function pct(q,  i) {for (i = 1; i <= k; i++) if (C[i] >= q * tot) return B[i]; return "?"}
    /^hotline_acd_offer_seconds_bucket/ {match($1, /le="[^"]+"/); k++; B[k] = substr($1, RSTART+4, RLENGTH-5); C[k] = $2}
    /^hotline_acd_offer_seconds_count/ {tot = $2}
    /^hotline_acd_offer_seconds_sum/ {sum = $2}
    END {if (tot > 0) printf "offer    : %s: %d offers, free agent → INVITE p50 ≤ %s s, p99 ≤ %s s (bucket bounds), mean %.1f ms\n", what, tot, pct(0.5), pct(0.99), sum/tot*1000;
         else print "offer    : no offers recorded"}' "$1"
}
offers "$work/ma" "agents made ready while everyone waits"
offers "$work/mend" "all, with agents back from wrap-up as callers leave"
kill "$SERVER" "$UAS" 2>/dev/null || true
