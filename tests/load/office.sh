#!/usr/bin/env bash
# An office's calls under load, on loopback: employee bob's phone (a sipp UAC that answers the
# 407 with his digest) calls colleague alice's registered phone (a sipp UAS that registered
# with her digest) at extension 101; the exchange anchors the media. Each call lasts SECS
# seconds; with `media`, both phones send G.711 the whole time.
#
# Each step is RATE calls/s for 10 s against a fresh exchange, then the same scenario with no
# exchange at all (bob's sipp calling alice's sipp directly): this machine's ceiling with this
# load generator, to compare against. Prints, per step: calls ok/failed, INVITE → 200 OK
# (average and p99, the 407 round included), the share of RTP lost on its way to the exchange,
# the exchange's CPU seconds and per call, and
# its resident memory: idle (before the step, alice registered), its peak during the step,
# right after it, and settled
# (SETTLE seconds later, 90 by default: the calls' SIP transactions are gone by then), and the
# heap then in use (the allocator's count; the rest of the settled memory is its own keeping).
#
#   tests/load/office.sh signalling 100 200 400 500     (1-s calls, no media)
#   tests/load/office.sh media 50 100                    (4-s calls, G.711 both ways)
#   tests/load/office.sh hold 100                        (20-s calls, no media: RATE × 10 calls
#                                                         up at once; the peak memory over idle,
#                                                         divided by them, is the memory per call,
#                                                         resident and in the heap)
#   tests/load/office.sh soak 600                        (1-s calls for SOAK_SECONDS, 1800 by
#                                                         default; every minute: resident memory,
#                                                         heap in use, open files, tasks, dialogs)
#
# With NODES=N (1 to 9), each step runs through a cluster instead: N exchanges on one fresh
# PostgreSQL database (POSTGRES, default postgres://postgres@127.0.0.1:5432/postgres, where the
# database is created and dropped) behind Kamailio (deploy/kamailio/kamailio.cfg); alice
# registers and bob calls through Kamailio. CPU is then every node's and Kamailio's together
# (Kamailio's alone in its own column), memory the first node's.
#
# With KILL_AFTER=S as well (NODES 2 or more), the last node is killed (SIGKILL) S seconds into
# each step, and the step reports (on stderr): the calls begun after the kill that took over
# 1 s to set up (Kamailio handed them to the dead node first, then to another after its 3-s
# transaction timeout), how long after the kill the last of them began (when Kamailio had
# marked the node down), the calls recorded as cut by the node left (`node-lost`), and the
# calls still listed in progress after the settle (SETTLE of at least 20: a node counts as gone
# after 15 s).
#
# With DB_OUTAGE=S:D as well (NODES 1 or more), the nodes' PostgreSQL — then a server of the
# script's own, initdb'd for the run on a free port — is stopped S seconds into each step and
# started again D seconds later; the step reports (on stderr) the calls the callers saw fail,
# the call records in the database after the settle against the calls the callers made, the
# records of calls cut (`node-lost`), and the calls still listed in progress.
#
# Needs the release binary (cargo build --release -p switchboard), sipp, curl (and kamailio,
# psql with NODES). Everything on 127.0.0.1; each step is bounded (10 s of calls, 60 s to
# finish).
set -euo pipefail
mode=${1:-signalling}
shift || true
rates=("$@")
((${#rates[@]})) || rates=(100 200)
case $mode in
  signalling) hold_ms=1000 ;;
  media) hold_ms=4000 ;;
  hold) hold_ms=20000 ;;
  soak) hold_ms=1000 ;;
  *) echo "usage: $0 signalling|media|hold|soak RATE..." >&2; exit 2 ;;
esac
seconds=10
[[ $mode == soak ]] && seconds=${SOAK_SECONDS:-1800}
# Seconds to wait after a step before reading the settled memory (SETTLE=0 skips the wait).
# A transaction ends up to 64×T1 (32 s) after its call, and rsipstack keeps its last message
# another 64×T1 to answer late retransmissions; 90 s is past both, and jemalloc's 5-s decay.
settle=${SETTLE:-90}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SWITCHBOARD_BIN:-$root/target/release/switchboard}
work=$(mktemp -d)
# With EXCHANGE_CPU=P (25 to 100), the exchange (every node together) may use P % of one core:
# a cgroup's CPU quota, over periods of 4 ms so that a pause lasts at most 3 ms (the kernel's
# smallest quota is 1 ms, hence 25 % at least). Its capacity then shrinks to a rate the load
# generator, on the same cores, can offer 4 times over: the way to show overload here (see
# docs/benchmarks.md).
cpu_group=""
if [[ -n ${EXCHANGE_CPU:-} ]]; then
  [[ $EXCHANGE_CPU =~ ^[0-9]+$ ]] && ((EXCHANGE_CPU >= 25 && EXCHANGE_CPU <= 100)) || { echo "EXCHANGE_CPU: 25 to 100" >&2; exit 2; }
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then # cgroup v2
    cpu_group=/sys/fs/cgroup/office-$$
    mkdir "$cpu_group" && echo "$((EXCHANGE_CPU * 40)) 4000" >"$cpu_group/cpu.max"
  else # cgroup v1
    cpu_group=/sys/fs/cgroup/cpu/office-$$
    mkdir "$cpu_group" && echo 4000 >"$cpu_group/cpu.cfs_period_us" && echo $((EXCHANGE_CPU * 40)) >"$cpu_group/cpu.cfs_quota_us"
  fi
fi
# On exit: every process started stopped, the CPU group removed once empty, the work directory
# removed unless KEEP.
finish() {
  kill $(jobs -p) 2>/dev/null || true
  if [[ -n $cpu_group ]]; then
    for _ in $(seq 50); do rmdir "$cpu_group" 2>/dev/null && break; sleep 0.1; done
  fi
  [[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap finish EXIT
cd "$work"
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Media, when asked for: both phones stream G.711 A-law (a 440 Hz tone, looped) from the
# moment the call is up until it ends, with sipp's rtp_stream. Not play_pcap_audio: it opens a
# raw socket per call, and the kernel then offers every UDP datagram on the machine to each of
# them — at 100 calls/s, 800 raw sockets made a third of the exchange's CPU (raw_local_deliver)
# and slowed sipp itself.
play=""
if [[ $mode == media ]]; then
  python3 - "$work/tone.alaw" <<'PY'
import math, sys
def alaw(sample):  # G.711 A-law of a 16-bit sample
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(abs(sample), 32635) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (code | sign) ^ 0x55
tone = bytes(alaw(int(8000 * math.sin(2 * math.pi * 440 * n / 8000))) for n in range(8000 * 2))
open(sys.argv[1], "wb").write(tone)
PY
  play="<nop><action><exec rtp_stream=\"$work/tone.alaw,-1,8\"/></action></nop>"
fi

# Through Kamailio, alice's answer copies its Record-Route, as phones do (RFC 3261 §12.1.1): the
# node's BYE then goes back through the proxy that holds her binding. Without it, the BYE went
# to her Contact directly, was never answered, and each call lasted 32 s more on its node.
record_route=""
((${NODES:-0})) && record_route="[last_Record-Route:]
"
cat > alice.xml <<EOF
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="alice answers">
<recv request="INVITE"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]a[call_number]
[last_Call-ID:]
[last_CSeq:]
${record_route}Contact: <sip:alice@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=alice 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
]]></send>
<recv request="ACK"/>
$play
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

# Bob's INVITE; through the exchange the first one is challenged (407) and sent again with
# his credentials. The INVITE → 200 time runs from the first INVITE. The ACK of the 407 is in
# the INVITE's transaction: its branch ([branch-3], three messages back), as a proxy in
# between (Kamailio) matches it; a new branch leaves the proxy resending its 407.
invite() {
  cat <<EOF
<send retrans="500"$1><![CDATA[
INVITE sip:101@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:bob@[remote_ip]>;tag=[pid]b[call_number]
To: <sip:101@[remote_ip]>
Call-ID: [call_id]
CSeq: $2 INVITE
Contact: <sip:bob@[local_ip]:[local_port]>
$3Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=bob 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
]]></send>
EOF
}
bob_scenario() { # $1: "auth" (through the exchange) or "direct"
  echo '<?xml version="1.0" encoding="ISO-8859-1" ?>'
  echo '<scenario name="bob calls alice">'
  if [[ $1 == auth ]]; then
    invite ' start_rtd="1"' 1 ''
    cat <<'EOF'
<recv response="100" optional="true"/>
<recv response="407" auth="true"/>
<send><![CDATA[
ACK sip:101@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3];rport
From: <sip:bob@[remote_ip]>;tag=[pid]b[call_number]
To: <sip:101@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

]]></send>
EOF
    invite '' 2 '[authentication]
'
    cseq=2
  else
    invite ' start_rtd="1"' 1 ''
    cseq=1
  fi
  cat <<EOF
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="183" optional="true"/>
<recv response="200" rtd="1" rrs="true"/>
<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:bob@[remote_ip]>;tag=[pid]b[call_number]
To: <sip:101@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: $cseq ACK
Content-Length: 0

]]></send>
$play
<pause milliseconds="$hold_ms"/>
<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:bob@[remote_ip]>;tag=[pid]b[call_number]
To: <sip:101@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: $((cseq + 1)) BYE
Content-Length: 0

]]></send>
<recv response="200"/>
</scenario>
EOF
}
bob_scenario auth > bob.xml
bob_scenario direct > bob-direct.xml

# Runs bob's phones at $1 calls/s in all against $2 (host:port) with scenario $3; prints
# "ok failed avg_ms p99_ms". The exchange admits 100 new requests a second per source address
# (an office behind one NAT; sip/edge.rs), so the load comes from as many addresses as it needs
# (127.0.0.10, .11, …: 40 calls/s, 80 INVITEs, each) — many offices, as a cloud PBX sees them.
calls_at() {
  local rate=$1 target=$2 scenario=$3 dir
  dir=$(mktemp -d -p "$work")
  local sources=$(((rate + 39) / 40)) pids=()
  for ((k = 0; k < sources; k++)); do
    local share=$((rate / sources + (k < rate % sources ? 1 : 0)))
    mkdir -p "$dir/$k"
    (cd "$dir/$k" && exec sipp "$target" -sf "$work/$scenario" -i 127.0.0.$((10 + k)) -p "$(free_port)" \
      -mp "$(free_port)" -au bob -ap correct-horse -r "$share" -m $((share * seconds)) \
      -l $((share * (seconds + hold_ms / 1000 + 10))) -nostdin -timeout $((seconds + 60))s \
      -trace_stat -trace_rtt -rtt_freq 1 >/dev/null 2>&1) &
    pids+=($!)
  done
  wait "${pids[@]}" 2>/dev/null || true
  local ok=0 failed=0 stat
  for stat in "$dir"/*/*_.csv; do
    ok=$((ok + $(tail -1 "$stat" | cut -d';' -f16)))
    failed=$((failed + $(tail -1 "$stat" | cut -d';' -f18)))
  done
  # Why calls failed, from sipp's cumulative counters (to stderr, beside the table): no answer
  # after all retransmissions, an unexpected message (a 503 is one: the scenario does not
  # expect it), a timeout; and the retransmissions sipp had to send at all.
  for stat in "$dir"/*/*_.csv; do tail -1 "$stat"; done | awk -F';' -v rate="$rate" '
    { retrans += $22; unexpected += $28; rejected += $30; timeout += $42; resent += $58 }
    END { printf "%s/s failures: no answer after retransmissions %d, unexpected message (503) %d, rejected %d, timeout %d; retransmissions sent %d\n",
      rate, retrans, unexpected, rejected, timeout, resent > "/dev/stderr" }'
  # Each call's answer (ms since its sipp started) and setup time, kept for the kill report.
  cat "$dir"/*/*_rtt.csv 2>/dev/null | grep -E '^[0-9.]+;[0-9.]+;' | cut -d';' -f1,2 >"$work/rtt-$rate" || true
  local times="$dir/times.txt"
  cut -d';' -f2 "$work/rtt-$rate" | sort -n >"$times"
  awk -v ok="$ok" -v failed="$failed" '{ s += $1; v[NR] = $1 } END {
      n = NR; p = n ? v[int((n - 1) * 0.99) + 1] : 0
      printf "%s %s %.1f %.1f\n", ok, failed, n ? s / n : 0, p }' "$times"
}

# The share of RTP lost on its way to the exchange: the gaps in each stream's sequence numbers
# that the relay counts, over what it relayed (its /metrics). sipp counts none of its own.
rtp_lost() {
  curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/metrics" | awk '
    /^switchboard_rtp_relayed_packets_total / { r = $2 } /^switchboard_rtp_lost_packets_total / { l = $2 }
    END { if (r + l) printf "%.3f%%", 100 * l / (r + l); else printf "-" }'
}

# The heap in use once settled, per the allocator (its /metrics): what the settled resident
# memory holds beyond it is the allocator's own keeping, not ours.
# In MiB, or in KiB with `heap_in_use KiB`.
heap_in_use() {
  local unit=1048576
  [[ ${1:-MiB} == KiB ]] && unit=1024
  curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/metrics" | awk -v unit=$unit '
    /^switchboard_heap_allocated_bytes / { h = $2 } END { if (h) printf "%.0f", h / unit; else printf "-" }'
}

# During a soak, every minute: seconds since the start, resident MiB, heap in use MiB, open
# files, runtime tasks, SIP dialogs — a leak shows as a column that keeps growing — and the
# exchange's CPU over that minute and the openings it refused with 503 so far.
soak_sampler() {
  local started=$SECONDS ticks_then ticks_now
  ticks_then=$(cpu)
  printf "%8s %9s %9s %6s %6s %8s %8s %8s %8s %6s %9s\n" seconds "RSS MiB" "heap MiB" files tasks dialogs \
    "tx run" "tx done" "wait ACK" "CPU %" refused
  while sleep 60; do
    [[ -d /proc/$server ]] || return
    ticks_now=$(cpu)
    curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/metrics" | awk \
      -v t=$((SECONDS - started)) -v rss="$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' /proc/$server/status)" \
      -v files="$(ls /proc/$server/fd | wc -l)" -v cpu=$(((ticks_now - ticks_then) * 100 / ticks / 60)) '
      /^switchboard_heap_allocated_bytes / { h = $2 } /^switchboard_runtime_tasks / { k = $2 }
      /^switchboard_sip_dialogs / { d = $2 } /^switchboard_sip_overload_refused_total/ { r += $2 }
      /^switchboard_sip_transactions\{state="running"\}/ { run = $2 } /^switchboard_sip_transactions\{state="finished"\}/ { done = $2 }
      /^switchboard_sip_waiting_ack / { ack = $2 }
      END { printf "%8d %9s %9.0f %6d %6d %8d %8d %8d %8d %6d %9d\n", t, rss, h / 1048576, files, k, d, run, done, ack, cpu, r }'
    ticks_then=$ticks_now
  done
}

# alice's phone: registered with the exchange at $1 (host:port), or none (direct); on port $2.
alice_phone() {
  local registrar=$1 port=$2
  if [[ -n $registrar ]]; then
    sipp "$registrar" -sf "$root/tests/load/register.xml" -s alice -m 1 -i 127.0.0.1 -p "$port" -au alice -ap correct-horse \
      -nostdin -timeout 10s -timeout_error >/dev/null 2>&1
  fi
  sipp -sf alice.xml -i 127.0.0.1 -p "$port" -mp "$(free_port)" -nostdin >/dev/null 2>&1 &
  echo $!
}

# The nodes' own PostgreSQL (see DB_OUTAGE): pg_ctl as its owner, on port $pg_port.
pg() {
  local tool=$1
  shift
  # (From a directory its owner may enter.)
  (cd / && runuser -u postgres -- "$pg_bin/$tool" "$@" >/dev/null)
}
pg_start() { pg pg_ctl start -w -D "$pg_dir/data" -l "$pg_dir/log" -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1"; }
pg_stop() { pg pg_ctl stop -m fast -w -D "$pg_dir/data"; }

# After a step with the database stopped for a while (see DB_OUTAGE): what became of the calls.
outage_report() {
  local records cut live
  records=$(psql -tA "${admin%/*}/$db" -c "SELECT COUNT(*) FROM call_records")
  cut=$(psql -tA "${admin%/*}/$db" -c "SELECT COUNT(*) FROM call_records WHERE outcome = 'node-lost'")
  live=$(psql -tA "${admin%/*}/$db" -c "SELECT COUNT(*) FROM live_calls")
  echo "$rate/s, database stopped at ${DB_OUTAGE%%:*} s for ${DB_OUTAGE##*:} s: callers saw $failed of $((ok + failed)) calls fail; call records in the database: $records; recorded as cut: $cut; still listed in progress: $live" >&2
}

# After a step with a node killed: what the callers and the node left saw of it (see KILL_AFTER).
kill_report() {
  local kill_ms=$((KILL_AFTER * 1000)) cut live
  cut=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/calls?outcome=node-lost&limit=1000" |
    python3 -c 'import json, sys; print(len(json.load(sys.stdin)["calls"]))')
  live=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/calls/live" |
    python3 -c 'import json, sys; print(len(json.load(sys.stdin)["calls"]))')
  awk -F';' -v k="$kill_ms" -v rate="$rate" -v cut="$cut" -v live="$live" '
    $1 - $2 >= k { after++; if ($2 > 1000) { slow++; if ($1 - $2 > last) last = $1 - $2 } }
    END { printf "%s/s, node killed at %.1f s: of %d calls begun after, %d took over 1 s (the last began %.1f s after the kill); recorded as cut by the node left: %d; still listed in progress: %d\n",
      rate, k / 1000, after, slow, slow ? (last - k) / 1000 : 0, cut, live > "/dev/stderr" }' "$work/rtt-$rate"
}

echo "mode $mode: calls of $((hold_ms / 1000)) s, $seconds s at each rate; machine: $(nproc) cores, $(uname -r)"
[[ -z $cpu_group ]] || echo "the exchange may use $EXCHANGE_CPU % of one core"
printf "%-10s %-9s %8s %8s %10s %10s %9s %10s %12s %9s %9s %9s %9s %9s\n" rate where ok failed "avg ms" "p99 ms" "RTP lost" "CPU s" "CPU ms/call" \
  "idle MiB" "peak MiB" "end MiB" "settled" "heap MiB"
ticks=$(getconf CLK_TCK)
nodes=${NODES:-0}
[[ $nodes =~ ^[0-9]$ ]] || { echo "NODES: 0 to 9" >&2; exit 2; }
# Each exchange's share of RTP ports 20000-59999.
span=$((40000 / (nodes > 0 ? nodes : 1)))
((nodes)) && echo "through Kamailio in front of $nodes node(s) on PostgreSQL"
# Starts exchange number $1 of this step on $2 (the database), trusting the proxy $3 if any;
# sets its SIP and HTTP ports in sip_ports[$1], http_ports[$1], its pid in servers[$1].
start_node() {
  local n=$1 database=$2 proxy=$3 out="server-$rate-$1"
  sip_ports[n]=$(free_port); http_ports[n]=$(free_port)
  RUST_LOG=${SWITCHBOARD_LOG:-warn} "$bin" serve --sip-listen 127.0.0.1:${sip_ports[n]} \
    --http-listen 127.0.0.1:${http_ports[n]} --database "$database" --api-token $token \
    --rtp-ports $((20000 + n * span))-$((19999 + (n + 1) * span)) --max-calls 20000 ${proxy:+--sip-proxy $proxy} \
    >"$out.out" 2>"$out.log" &
  servers[n]=$!
  [[ -z $cpu_group ]] || echo "${servers[n]}" >"$cpu_group/cgroup.procs"
  for _ in $(seq 300); do grep -q "switchboard ready" "$out.out" 2>/dev/null && break; sleep 0.1; done
}
if [[ -n ${DB_OUTAGE:-} ]]; then
  [[ $DB_OUTAGE =~ ^[0-9]+:[0-9]+$ ]] && ((nodes)) || { echo "DB_OUTAGE=S:D needs NODES" >&2; exit 2; }
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
  # Its owner must reach it: not under the work directory (root's only).
  pg_dir=$(mktemp -d /tmp/office-pg.XXXXXX)
  chown postgres "$pg_dir"
  pg_port=$(free_port)
  pg initdb -A trust -U postgres -D "$pg_dir/data"
  pg_start
  trap 'pg pg_ctl stop -m immediate -D "$pg_dir/data" || true; rm -rf "$pg_dir"; finish' EXIT
  POSTGRES=postgres://postgres@127.0.0.1:$pg_port/postgres
fi
for rate in "${rates[@]}"; do
  # Through the exchange (or the cluster), fresh for each step.
  token=load-test-token
  sip_ports=(); http_ports=(); servers=(); proxy_pid=""
  if ((nodes)); then
    admin=${POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
    db="switchboard_load_$$_$rate"
    psql -q "$admin" -c "CREATE DATABASE $db"
    proxy_port=$(free_port)
    for ((n = 0; n < nodes; n++)); do
      start_node $n "${admin%/*}/$db" 127.0.0.1:$proxy_port
      echo "1 sip:127.0.0.1:${sip_ports[n]}" >>"nodes-$rate.list"
    done
    kamailio -DD -E -m 512 -f "$root/deploy/kamailio/kamailio.cfg" -l udp:127.0.0.1:$proxy_port \
      -A "NODES_LIST=\"$work/nodes-$rate.list\"" -Y "$work" -w "$work" 2>"kamailio-$rate.log" &
    proxy_pid=$!
    sleep 2
    target=127.0.0.1:$proxy_port
  else
    start_node 0 "$work/sb-$rate.db" ""
    target=127.0.0.1:${sip_ports[0]}
  fi
  server=${servers[0]} http_port=${http_ports[0]}
  api() { curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' "$@" >/dev/null; }
  api -X POST "http://127.0.0.1:$http_port/employees" -d '{"login":"alice","password":"correct-horse","extension":"101"}'
  api -X POST "http://127.0.0.1:$http_port/employees" -d '{"login":"bob","password":"correct-horse","extension":"102"}'
  phone=$(alice_phone "$target" "$(free_port)")
  # CPU ticks of every exchange and Kamailio (its processes: the one started and its children).
  proxy_cpu() { [[ -n $proxy_pid ]] || { echo 0; return; }; cat /proc/$proxy_pid/stat $(pgrep -P $proxy_pid | sed 's|.*|/proc/&/stat|') 2>/dev/null | awk '{ s += $14 + $15 } END { print s + 0 }'; }
  # (A node killed during the step counts with what it had used when it was killed.)
  cpu() { echo $(( $(cat $(printf '/proc/%s/stat ' "${servers[@]}") 2>/dev/null | awk '{ s += $14 + $15 } END { print s + 0 }') + $(cat "killed-cpu-$rate" 2>/dev/null || echo 0) + $(proxy_cpu) )); }
  if [[ $mode == hold ]]; then
    # The heap in use idle (once the allocator's figure in /metrics, at most 5 s old, is fresh),
    # before the step's CPU and memory are read; with every call up, at 17 s into the step.
    sleep 5
    heap_idle=$(heap_in_use KiB)
  fi
  idle=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' /proc/$server/status)
  before=$(cpu) proxy_before=$(proxy_cpu)
  (while sleep 0.5; do awk '/VmRSS/ { print int($2 / 1024) }' /proc/$server/status 2>/dev/null || exit; done >"rss-$rate") &
  sampler=$!
  [[ $mode == hold ]] && { (sleep 17 && heap_in_use KiB >"heap-up-$rate") & }
  if [[ $mode == soak ]]; then
    soak_sampler >"soak-$rate" &
    soaker=$!
  fi
  outage=""
  if [[ -n ${DB_OUTAGE:-} ]]; then
    (sleep "${DB_OUTAGE%%:*}" && pg_stop && sleep "${DB_OUTAGE##*:}" && pg_start) &
    outage=$!
  fi
  killer=""
  if [[ -n ${KILL_AFTER:-} ]] && ((nodes >= 2)); then
    victim=${servers[nodes - 1]}
    (sleep "$KILL_AFTER" && awk '{ print $14 + $15 }' /proc/$victim/stat >"killed-cpu-$rate" && kill -9 "$victim") &
    killer=$!
  fi
  read -r ok failed avg p99 < <(calls_at "$rate" "$target" bob.xml)
  after=$(cpu) proxy_after=$(proxy_cpu)
  lost=$(rtp_lost)
  kill $sampler 2>/dev/null || true
  peak=$(sort -n "rss-$rate" | tail -1)
  rss=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' /proc/$server/status)
  # Settled: once the calls' SIP transactions and their kept last messages are gone (see settle).
  sleep "$settle"
  settled=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' /proc/$server/status)
  heap=$(heap_in_use)
  if [[ $mode == soak ]]; then
    kill "$soaker" 2>/dev/null || true
    cat "soak-$rate" >&2
  fi
  [[ -n $killer ]] && kill_report
  if [[ $mode == hold ]]; then
    awk -v rate="$rate" -v ok="$ok" -v idle="$idle" -v peak="$peak" -v h0="$heap_idle" -v h1="$(cat "heap-up-$rate")" 'BEGIN {
      up = rate * 10; printf "%s/s: %d calls up at once (of %d ok); resident %d -> %d MiB: %.1f KiB per call; heap in use %.1f -> %.1f MiB: %.1f KiB per call\n",
        rate, up, ok, idle, peak, (peak - idle) * 1024 / up, h0 / 1024, h1 / 1024, (h1 - h0) / up }' >&2
  fi
  if [[ -n $outage ]]; then
    wait "$outage"
    outage_report
  fi
  kill "$phone" 2>/dev/null || true
  kill "${servers[@]}" $proxy_pid 2>/dev/null || true # (a node killed during the step is gone)
  wait "${servers[@]}" $proxy_pid 2>/dev/null || true
  if ((nodes)); then
    psql -q "$admin" -c "DROP DATABASE $db WITH (FORCE)"
    echo "$rate/s: Kamailio's CPU $(awk -v t=$((proxy_after - proxy_before)) -v hz="$ticks" 'BEGIN { printf "%.1f", t / hz }') s of the total" >&2
  fi
  awk -v r="$rate" -v ok="$ok" -v f="$failed" -v a="$avg" -v p="$p99" -v t=$((after - before)) -v hz="$ticks" -v rss="$rss" \
    -v settled="$settled" -v idle="$idle" -v peak="$peak" -v lost="$lost" -v heap="$heap" \
    -v where="$( ((nodes)) && echo "$nodes-node" || echo exchange)" \
    'BEGIN { printf "%-10s %-9s %8s %8s %10s %10s %9s %10.1f %12.2f %9s %9s %9s %9s %9s\n", r "/s", where, ok, f, a, p, lost, t / hz, ok ? 1000 * t / hz / ok : 0, idle, peak, rss, settled, heap }'

  [[ $mode == soak ]] && continue
  # The same calls with no exchange: bob's sipp straight to alice's.
  alice_port=$(free_port)
  phone=$(alice_phone "" "$alice_port")
  sleep 0.3
  read -r ok failed avg p99 < <(calls_at "$rate" 127.0.0.1:$alice_port bob-direct.xml)
  lost=-
  kill "$phone" 2>/dev/null || true
  printf "%-10s %-9s %8s %8s %10s %10s %9s %10s %12s %9s %9s %9s %9s %9s\n" "$rate/s" direct "$ok" "$failed" "$avg" "$p99" "$lost" - - - - - - -
done
