#!/usr/bin/env bash
# ab-events.sh: events off against events to a nats-server child with
# sync_interval: always, alternating, each round on fresh processes.
#
#   deploy/bench/ab-events.sh [ROUNDS] [SECONDS] [INGRESS FLAGS...]
#
# Prints, per round and configuration, loadgen's answered callbacks/s
# (closed loop, 64 workers) and the CPU time per callback of the ingress
# and of the nats-server, from /proc, and for events on the batches
# published per second and events per batch. Extra flags go to the events-on
# ingress, e.g. --outbox-batch-delay 5ms --outbox-batch-events 256.
set -euo pipefail
rounds=${1:-4}
secs=${2:-10}
shift $(( $# > 2 ? 2 : $# ))
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/invitegate" ./cmd/invitegate && go build -o "$work/nats-server" github.com/nats-io/nats-server/v2)

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
batches() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^invitegate_publish_batches_total/ {s += $2} END {print s + 0}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # run NAME EVENTS(on|off) [FLAGS...]
	local name=$1 events=$2; shift 2
	local d="$work/$name" nport hport aport nspid=0 igpid
	rm -rf "$d"; mkdir -p "$d"
	nport=$(free_port); hport=$(free_port); aport=$(free_port)
	local nats=()
	if [[ $events == on ]]; then
		printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s/js", sync_interval: always }\n' "$nport" "$d" > "$d/ns.conf"
		"$work/nats-server" -c "$d/ns.conf" > "$d/ns.log" 2>&1 &
		nspid=$!
		nats=(--nats-url "nats://127.0.0.1:$nport")
	else
		nats=(--events-off)
	fi
	"$work/invitegate" ingress --insecure-allow-unsigned --sdkappid 1400000000 --policy "$root/deploy/policy/example.yaml" "${nats[@]}" \
		--data-dir "$d/ig" --http-addr "127.0.0.1:$hport" --admin-addr "127.0.0.1:$aport" --stats-off "$@" > "$d/ig.log" 2>&1 &
	igpid=$!
	until curl -sf "http://127.0.0.1:$aport/readyz" > /dev/null; do sleep 0.1; done
	local lg=("$work/invitegate" loadgen --url "http://127.0.0.1:$hport/callback" --concurrency 64 --banned-share 0.05)
	"${lg[@]}" --duration 3s --quiet > /dev/null 2>&1 # warm-up
	local n0=0 n1=0 i0 i1 b0 b1
	[[ $nspid != 0 ]] && n0=$(cpu "$nspid")
	i0=$(cpu "$igpid")
	b0=$(batches "$aport")
	"${lg[@]}" --duration "${secs}s" --json > "$d/lg.json" 2>/dev/null
	[[ $nspid != 0 ]] && n1=$(cpu "$nspid")
	i1=$(cpu "$igpid")
	b1=$(batches "$aport")
	python3 - "$d/lg.json" "$name" "$secs" "$i0" "$i1" "$n0" "$n1" "$b0" "$b1" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1])); name = sys.argv[2]; secs = float(sys.argv[3])
i0, i1, n0, n1, b0, b1 = map(float, sys.argv[4:10])
n = rep["answered"]
line = f"{name:10s} answered/s {n/secs:8.0f}  ingress {(i1-i0)*1e4/n:6.2f} us/callback  nats-server {(n1-n0)*1e4/n:5.2f} us/callback"
if b1 > b0:
    line += f"  batches/s {(b1-b0)/secs:5.0f}  events/batch {n/(b1-b0):6.1f}"
print(line)
PY
	kill "$igpid"; wait "$igpid" 2>/dev/null || true
	if [[ $nspid != 0 ]]; then kill "$nspid"; wait "$nspid" 2>/dev/null || true; fi
}

for r in $(seq "$rounds"); do
	echo "round $r"
	run events-off off
	run events-on on "$@"
done
