#!/usr/bin/env bash
# Many callers waiting in a queue, on loopback: AGENTS employees (sipp phones that answer at once
# and hang up after TALK_MS) staff the sales department, paused; CALLERS sipp callers dial a
# number whose flow is the built-in `queue` and wait with hold music (and their place announced
# every 30 s). Once all wait, the agents come back from their pause and take the callers one
# after another, longest waiting first.
#
# Reports the exchange's CPU while everyone waits (music to every caller: 50 packets/s each),
# its resident memory, how long the agents took to empty the queue, and what the call records
# say: every caller answered, none abandoned or missed.
#
#   tests/load/queue.sh [CALLERS] [AGENTS] [TALK_MS]     (defaults: 200 callers, 10 agents, 1000 ms)
#
# Needs the release binary (cargo build --release -p switchboard), sipp, curl, python3.
set -euo pipefail
callers=${1:-200}
agents=${2:-10}
talk_ms=${3:-1000}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release/switchboard
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$work"; echo "work dir: $work"' EXIT
cd "$work"

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sip_port=$(free_port); http_port=$(free_port)
token=load-test-token
RUST_LOG=${RUST_LOG:-warn} "$bin" serve --sip-listen 127.0.0.1:$sip_port --http-listen 127.0.0.1:$http_port \
  --database "$work/sb.db" --api-token $token --rtp-ports 20000-40000 --max-calls 4000 >server.out 2>server.log &
server=$!
for _ in $(seq 100); do grep -q "switchboard ready" server.out 2>/dev/null && break; sleep 0.1; done
api() { curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' "$@"; }
url=http://127.0.0.1:$http_port


# An agent's phone: answers at once, hangs up after TALK_MS; one call after another.
cat > agent.xml <<EOF
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent answers, talks, hangs up">
<recv request="INVITE">
<action><ereg regexp="&lt;([^&gt;]*)&gt;.*tag=([^;]*)" search_in="hdr" header="From:" assign_to="from,from_uri,from_tag"/><log message="[\$from]"/></action>
</recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]a[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[service]@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=agent 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
]]></send>
<recv request="ACK"/>
<pause milliseconds="$talk_ms"/>
<send retrans="500"><![CDATA[
BYE [\$from_uri] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:[service]@[local_ip]:[local_port]>;tag=[pid]a[call_number]
To: <[\$from_uri]>;tag=[\$from_tag]
Call-ID: [call_id]
CSeq: 100 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="200"/>
</scenario>
EOF

members=()
for i in $(seq "$agents"); do
  login=agent$i
  api -X POST "$url/employees" -d "{\"login\":\"$login\",\"password\":\"correct-horse\",\"extension\":\"$((200 + i))\"}" >/dev/null
  port=$(free_port)
  sipp 127.0.0.1:$sip_port -sf "$root/tests/load/register.xml" -s $login -m 1 -i 127.0.0.1 -p $port -au $login -ap correct-horse \
    -nostdin -timeout 10s -timeout_error >/dev/null
  sipp -sf agent.xml -s $login -i 127.0.0.1 -p $port -m "$callers" -nostdin >agent$i.out 2>&1 &
  members+=("\"$login\"")
done
joined=$(IFS=,; echo "${members[*]}")
api -X PUT "$url/departments/sales" -d "{\"name\":\"Sales\",\"extension\":\"600\",\"strategy\":\"ring_all\",\"step_secs\":15,\"timeout_secs\":60,\"members\":[$joined]}" >/dev/null
for i in $(seq "$agents"); do
  api -X PUT "$url/employees/agent$i/departments/sales" -d '{"paused":true}' >/dev/null
done
api -X PUT "$url/numbers/+15550100700" -d '{"flow":"queue","settings":{"department":"sales","max_wait_secs":3600,"max_length":500,"announce_every_secs":30,"strategy":"longest_idle","agent_ring_secs":10,"callback_digit":""}}' >/dev/null

cat > caller.xml <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller waits in the queue until the agent hangs up">
<send retrans="500"><![CDATA[
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
<recv response="183" optional="true"/>
<recv response="200" rrs="true"/>
<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:+15550100001@[local_ip]:[local_port]>;tag=[pid]c[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

]]></send>
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
cpu() { awk '{print $14 + $15}' /proc/$server/stat; }
rss() { awk '/VmRSS/ {print $2}' /proc/$server/status; }
ticks=$(getconf CLK_TCK)
sipp 127.0.0.1:$sip_port -sf caller.xml -s +15550100700 -i 127.0.0.1 -r 50 -m "$callers" -l "$callers" \
  -nostdin -timeout 900s -trace_stat >caller.out 2>&1 &
caller=$!
# Everyone waits: let the last callers settle, then measure a quiet stretch of music.
sleep $((callers / 50 + 5))
before=$(cpu); sleep 20; after=$(cpu)
awk -v t=$((after - before)) -v hz="$ticks" -v c="$callers" -v r="$(rss)" 'BEGIN {
  printf "%d callers waiting with music: exchange CPU %.1f%% of a core (%.2f ms per caller per second), RSS %d MB\n", c, 100 * t / hz / 20, 1000 * t / hz / 20 / c, r / 1024 }'
start=$(date +%s.%N); before=$(cpu)
for i in $(seq "$agents"); do
  api -X PUT "$url/employees/agent$i/departments/sales" -d '{"paused":false}' >/dev/null
done
wait $caller || true
end=$(date +%s.%N); after=$(cpu)
stat=$(ls caller_*_.csv | head -1)
ok=$(tail -1 "$stat" | cut -d';' -f16)
failed=$(tail -1 "$stat" | cut -d';' -f18)
awk -v s="$start" -v e="$end" -v a="$agents" -v c="$callers" -v t=$((after - before)) -v hz="$ticks" 'BEGIN {
  printf "%d agents took %.1f s to answer the %d callers (%.1f calls/s); exchange CPU meanwhile %.1f s\n", a, e - s, c, c / (e - s), t / hz }'
echo "callers (sipp): completed $ok, failed $failed"
sleep 1
since=$(( $(date +%s) * 1000 - 3600000 ))
api "$url/reports/calls?by=number&since=$since" | python3 -c '
import json, sys
for row in json.load(sys.stdin)["rows"]:
    print("call records for %s: offered %d, answered %d, missed %d (abandoned %d), average wait %.1f s, longest %.1f s" % (row["key"], row["offered"], row["answered"], row["missed"], row["abandoned"], row["average_wait_ms"] / 1000, row["longest_wait_ms"] / 1000))
'
grep -c "ERROR\|panicked" server.log | xargs echo "server log errors/panics:"
