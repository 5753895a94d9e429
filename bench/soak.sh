#!/usr/bin/env bash
# Soak test: does a node keep its well-behaved agents whole while others
# misbehave? One node (no Redis) with --jwt-secret and a TCP port, and
# `loadgen soak` against it:
#
#   phase 1, baseline: N well-behaved agents (a tenth on TCP, the rest on
#     WebSocket, each with a valid token) answer 200 REST calls a second
#     and receive 2 broadcasts a second, open loop, for D;
#   phase 2: the same load with M misbehavers alongside, spread over nine
#     misbehaviours (slow consumer, flood beyond the rate limit, oversize
#     frames, malformed frames, garbage on the TCP port, TCP connections
#     that never authenticate, slow HTTP bodies and headers, bad tokens,
#     calls piling up on an agent that never replies), each reconnecting
#     whenever the node closes it.
#
# It reports, per phase and for the well-behaved agents only: call
# latency and failures, broadcast delivery delay, lost and duplicates,
# agents closed, the node's CPU-µs per operation and RSS; what the node
# did to each kind of misbehaver; the difference between the phases; and
# a verdict: no extra delay beyond noise when each p99 (calls, broadcast
# deliveries) is within max(20 %, 5 ms) of the baseline's. The exit status
# is loadgen's: non-zero when a well-behaved agent lost anything, had a
# call fail, or was closed (extra delay alone is reported, not failed).
#
#   bash bench/soak.sh [agents] [misbehavers] [duration]   (default 5000 50 30s)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
M=${2:-50}
D=${3:-30s}
# Below 65535 so that a 2-byte TCP length prefix can announce an oversize
# frame; 16 KiB is plenty for the run's messages.
MAX_MESSAGE=16384

BIN=$(mktemp -d)
NODE="" LG=""
cleanup() {
	[ -n "$LG" ] && kill "$LG" 2>/dev/null || true
	[ -n "$NODE" ] && kill "$NODE" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$BIN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$BIN/hotpot" ./cmd/server
go build -o "$BIN/loadgen" ./cmd/loadgen

# free_port prints a loopback TCP port below the ephemeral range that no
# socket uses, different from the one it printed before.
LAST=""
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		[ "$p" != "$LAST" ] && [ -z "$(ss -Htan "sport = :$p")" ] && break
	done
	LAST=$p
	echo "$p"
}
HTTP=$(free_port)
TCP=$(free_port)

# One secret for both: the node reads HOTPOT_JWT_SECRET, and so does loadgen.
HOTPOT_JWT_SECRET=$(head -c 32 /dev/urandom | base64)
export HOTPOT_JWT_SECRET
"$BIN/hotpot" --http "127.0.0.1:$HTTP" --tcp "127.0.0.1:$TCP" --max-message-bytes "$MAX_MESSAGE" \
	--log-level warn 2>"$BIN/node.log" &
NODE=$!
for _ in $(seq 200); do
	curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null && break
	kill -0 "$NODE" 2>/dev/null || break
	sleep 0.05
done
if ! curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null; then
	echo "the node did not start:" >&2
	cat "$BIN/node.log" >&2
	exit 1
fi

args=(soak -url "ws://127.0.0.1:$HTTP/ws" -tcp "127.0.0.1:$TCP" -api "http://127.0.0.1:$HTTP"
	-n "$N" -m "$M" -d "$D" -max-message-bytes "$MAX_MESSAGE" -pid "$NODE")
echo "node :$HTTP (TCP :$TCP, pid $NODE), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "\$ loadgen ${args[*]}"
status=0
"$BIN/loadgen" "${args[@]}" 2>"$BIN/loadgen.log" &
LG=$!
wait "$LG" || status=$?
LG=""
if ! kill -0 "$NODE" 2>/dev/null; then
	echo "the node is gone: it died during the run"
	status=1
fi
if [ -s "$BIN/node.log" ]; then
	echo "node log (warnings and errors, first 20 lines):"
	head -20 "$BIN/node.log" | sed 's/^/  /'
fi
if [ "$status" != 0 ]; then
	echo "loadgen exited $status; its log (last 20 lines):"
	tail -20 "$BIN/loadgen.log" | sed 's/^/  /'
fi
exit "$status"
