#!/usr/bin/env bash
# Several Switchboard nodes behind Kamailio, on this machine, for development:
#
#   deploy/cluster.sh up [NODES]   start NODES nodes (2 by default, at most 9) on one PostgreSQL
#                                  database and Kamailio in front of them; print their addresses
#   deploy/cluster.sh status       which of them run
#   deploy/cluster.sh down         stop them all (SIGTERM, then SIGKILL after 10 s)
#
# Phones and trunks talk to Kamailio only: udp:127.0.0.1:5060 (CLUSTER_SIP_PORT). Node N
# (1, 2, …) listens for SIP on 127.0.0.1:507N (Kamailio's dispatcher sends it calls, and
# probes it with OPTIONS every second), serves its API and console on
# http://127.0.0.1:808N, and takes RTP ports 2N000-2N999. The database is
# CLUSTER_DATABASE (default postgres://postgres@127.0.0.1:5432/switchboard_cluster, created
# when missing); the API token is CLUSTER_TOKEN (default `cluster`). Logs, pid files and
# Kamailio's node list are in CLUSTER_DIR (default ./cluster).
#
# Needs the release binary (built when missing), kamailio (Debian `kamailio`), psql.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CLUSTER_DIR:-$PWD/cluster}
database=${CLUSTER_DATABASE:-postgres://postgres@127.0.0.1:5432/switchboard_cluster}
token=${CLUSTER_TOKEN:-cluster}
proxy_port=${CLUSTER_SIP_PORT:-5060}
bin=${SWITCHBOARD_BIN:-$root/target/release/switchboard}

running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

down() {
  local pids=()
  for pid_file in "$dir"/*.pid; do
    [[ -f $pid_file ]] || continue
    running "$pid_file" && pids+=("$(cat "$pid_file")")
    rm -f "$pid_file"
  done
  ((${#pids[@]})) || { echo "nothing runs"; return; }
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "${pids[@]}" 2>/dev/null || { echo "stopped ${#pids[@]} processes"; return; }
    sleep 0.1
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
  echo "killed ${#pids[@]} processes that did not stop in 10 s"
}

status() {
  for pid_file in "$dir"/*.pid; do
    [[ -f $pid_file ]] || continue
    name=$(basename "$pid_file" .pid)
    if running "$pid_file"; then echo "$name: running (pid $(cat "$pid_file"))"; else echo "$name: gone (see $dir/$name.log)"; fi
  done
}

up() {
  local nodes=${1:-2}
  [[ $nodes =~ ^[1-9]$ ]] || { echo "NODES: 1 to 9" >&2; exit 2; }
  command -v kamailio >/dev/null || { echo "error: needs kamailio (apt-get install kamailio)" >&2; exit 1; }
  command -v psql >/dev/null || { echo "error: needs psql (apt-get install postgresql-client)" >&2; exit 1; }
  if ls "$dir"/*.pid >/dev/null 2>&1; then
    echo "error: a cluster already runs from $dir ($0 down first)" >&2
    exit 1
  fi
  [[ -x $bin ]] || (cd "$root" && cargo build --release -p switchboard)
  mkdir -p "$dir"
  local name=${database##*/} admin=${database%/*}/postgres
  if ! psql -qtA "$admin" -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    psql -q "$admin" -c "CREATE DATABASE $name"
  fi
  : >"$dir/nodes.list"
  for n in $(seq "$nodes"); do
    echo "1 sip:127.0.0.1:507$n" >>"$dir/nodes.list"
    SWITCHBOARD_API_TOKEN=$token "$bin" serve \
      --database "$database" \
      --sip-listen "127.0.0.1:507$n" --http-listen "127.0.0.1:808$n" \
      --rtp-ports "2${n}000-2${n}999" \
      --sip-proxy "127.0.0.1:$proxy_port" \
      >"$dir/node$n.out" 2>"$dir/node$n.log" &
    echo $! >"$dir/node$n.pid"
  done
  for n in $(seq "$nodes"); do
    for _ in $(seq 600); do
      grep -q "^switchboard ready" "$dir/node$n.out" && break
      running "$dir/node$n.pid" || { echo "node $n did not start:" >&2; tail -20 "$dir/node$n.log" >&2; down; exit 1; }
      sleep 0.1
    done
  done
  kamailio -DD -E -m 512 -f "$root/deploy/kamailio/kamailio.cfg" -l "udp:127.0.0.1:$proxy_port" \
    -A "NODES_LIST=\"$dir/nodes.list\"" -Y "$dir" -w "$dir" 2>"$dir/kamailio.log" &
  echo $! >"$dir/kamailio.pid"
  sleep 1
  running "$dir/kamailio.pid" || { echo "kamailio did not start:" >&2; tail -20 "$dir/kamailio.log" >&2; down; exit 1; }
  echo "Kamailio: udp:127.0.0.1:$proxy_port (phones and trunks register and call here)"
  for n in $(seq "$nodes"); do
    echo "node $n: sip udp:127.0.0.1:507$n, console http://127.0.0.1:808$n (token $token)"
  done
  echo "database: $database; logs in $dir; stop with: $0 down"
}

case ${1:-} in
  up) up "${2:-2}" ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up [NODES] | status | down" >&2; exit 2 ;;
esac
