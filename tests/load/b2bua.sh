#!/usr/bin/env bash
# Load through the forking B2BUA, on loopback: CALLS calls at RATE per second from a sipp caller
# to a number whose hunt flow rings one registered employee (a sipp phone that answers at once);
# each call is bridged and hung up by the caller right after the answer.
#
# Reports what the caller saw (calls completed/failed, INVITE → 200 OK time: flow start + the
# fork + the phone's answer + our 200), and the exchange's CPU time per call.
#
#   tests/load/b2bua.sh [RATE] [CALLS]        (defaults: 200 calls/s, 4000 calls)
#
# Needs the release binary (cargo build --release -p switchboard), sipp, curl.
set -euo pipefail
rate=${1:-200}
calls=${2:-4000}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release/switchboard
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$work"; echo "work dir: $work"' EXIT
cd "$work"

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sip_port=$(free_port); http_port=$(free_port); phone_port=$(free_port)
token=load-test-token
# The exchange's own timestamps give the post-dial delay: the INVITE taken (exchange) → the
# employee's leg placed (fork), per call.
RUST_LOG=warn,switchboard::exchange=info,switchboard::call::fork=debug \
"$bin" serve --sip-listen 127.0.0.1:$sip_port --http-listen 127.0.0.1:$http_port \
  --database "$work/sb.db" --api-token $token --rtp-ports 20000-40000 --max-calls 4000 >server.out 2>server.log &
server=$!
for _ in $(seq 50); do grep -q "switchboard ready" server.out 2>/dev/null && break; sleep 0.1; done
api() { curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' "$@"; }
api -X POST "http://127.0.0.1:$http_port/employees" -d '{"login":"alice","password":"correct-horse","extension":"101"}' >/dev/null
api -X PUT "http://127.0.0.1:$http_port/numbers/+15550100200" -d '{"flow":"hunt","settings":{"members":["alice"]}}' >/dev/null

sipp 127.0.0.1:$sip_port -sf "$root/tests/load/register.xml" -s alice -m 1 -i 127.0.0.1 -p $phone_port -au alice -ap correct-horse \
  -nostdin -timeout 10s -timeout_error >/dev/null

cat > phone.xml <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phone answers at once">
<recv request="INVITE"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]p[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:alice@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=phone 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
]]></send>
<recv request="ACK"/>
<recv request="BYE"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
EOF
sipp -sf phone.xml -i 127.0.0.1 -p $phone_port -m "$calls" -nostdin >phone.out 2>&1 &

cat > caller.xml <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller">
<send retrans="500" start_rtd="1"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:+15550100001@[local_ip]:[local_port]>;tag=[pid]c[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:+15550100001@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=caller 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
]]></send>
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="200" rtd="1" rrs="true"/>
<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:+15550100001@[local_ip]:[local_port]>;tag=[pid]c[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:+15550100001@[local_ip]:[local_port]>;tag=[pid]c[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Content-Length: 0

]]></send>
<recv response="200"/>
</scenario>
EOF
cpu() { awk '{print $14 + $15}' /proc/$server/stat; }
ticks=$(getconf CLK_TCK)
before=$(cpu)
sipp 127.0.0.1:$sip_port -sf caller.xml -s +15550100200 -i 127.0.0.1 -r "$rate" -m "$calls" \
  -l 2000 -nostdin -timeout 120s -trace_rtt -rtt_freq 1 -trace_stat >/dev/null 2>&1 || true
after=$(cpu)

stat=$(ls caller_*_.csv | head -1)
ok=$(tail -1 "$stat" | cut -d';' -f16)   # SuccessfulCall(C)
failed=$(tail -1 "$stat" | cut -d';' -f18) # FailedCall(C)
rtt=$(ls caller_*_rtt.csv | head -1)
# rtt file: Date_ms;response_time_ms;rtd_no — keep the times, sort, take percentiles.
cut -d';' -f2 "$rtt" | grep -E '^[0-9.]+$' | sort -n >times.txt
n=$(wc -l <times.txt)
pct() { awk -v p="$1" -v n="$n" 'NR == int((n - 1) * p / 100) + 1 { print; exit }' times.txt; }
echo "rate ${rate}/s, ${calls} calls: completed ${ok}, failed ${failed}"
echo "INVITE -> 200 OK at the caller (ms, $n samples): p50 $(pct 50), p90 $(pct 90), p99 $(pct 99), max $(tail -1 times.txt)"
# Post-dial delay from the exchange's log (µs timestamps), per call id.
sed 's/\x1b\[[0-9;]*m//g' server.log | python3 -c '
import re, sys
from datetime import datetime
took, placed = {}, {}
for line in sys.stdin:
    m = re.match(r"(\S+Z) .*call\{call=(\w+)\}", line)
    if not m:
        continue
    at = datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
    if "switchboard::exchange: INVITE" in line:
        took[m.group(2)] = at
    elif "placing a leg" in line and m.group(2) not in placed:
        placed[m.group(2)] = at
d = sorted((placed[c] - took[c]) * 1000 for c in placed if c in took)
if d:
    p = lambda q: d[min(len(d) - 1, int(len(d) * q))]
    print(f"post-dial delay (INVITE taken -> leg placed, ms, {len(d)} calls): p50 {p(0.5):.3f}, p99 {p(0.99):.3f}, max {d[-1]:.3f}")
'
awk -v t=$((after - before)) -v hz="$ticks" -v c="$ok" 'BEGIN { if (c > 0) printf "exchange CPU: %.1f s in all, %.2f ms per completed call\n", t / hz, 1000 * t / hz / c }'
grep -c "ERROR\|panicked" server.log | xargs echo "server log errors/panics:"
