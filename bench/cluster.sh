#!/usr/bin/env bash
# Measures hotpot as a cluster: two nodes (A and B) joined through a
# redis-server of its own, and for each scenario prints loadgen's result
# and the server CPU per operation, summed over node A, node B and
# redis-server (user+system time from /proc/PID/stat, divided by the
# operations loadgen reports: calls, pushes accepted, deliveries received).
#
# The CPU is read over two spans: "measured", between the "measuring" and
# "measured" lines loadgen logs (no dialing or closing of agents inside),
# and "whole run", from before loadgen starts to after it exits.
#
# Scenarios (agents on A, HTTP to B unless said):
#   call       cross-node call: 100 agents, 32 connections, 10 s
#   push       cross-node push: 100 agents, 32 connections, 10 s
#   broadcast  10,000 WebSocket agents, 5,000 on each node, 10 broadcasts/s
#              open loop for 15 s, HTTP to A
#   local      call with agents and HTTP on one node: node A (started with
#              --redis) against node L, started alone without --redis
#
#   bash bench/cluster.sh [call|push|broadcast|local]   (default: all, in that order)
#
# REDIS_MASTERS=3 joins the nodes through a Redis Cluster of that many
# masters instead (--redis-cluster; its CPU is summed over all of them).
#
# loadgen runs as its own process: one process holds at most ~19,900
# sockets here, and the 10,000 agents of broadcast need their own.
set -euo pipefail
cd "$(dirname "$0")/.."
ONLY=${1:-all}
case $ONLY in
all | call | push | broadcast | local) ;;
*)
	echo "usage: bash bench/cluster.sh [call|push|broadcast|local]" >&2
	exit 2
	;;
esac

BIN=$(mktemp -d)
PIDS=()
LG=""
cleanup() {
	[ -n "$LG" ] && kill "$LG" 2>/dev/null || true
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$BIN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$BIN/hotpot" ./cmd/server
go build -o "$BIN/loadgen" ./cmd/loadgen
TCK=$(getconf CLK_TCK)

# free_port prints a loopback TCP port below the ephemeral range (so that
# no outgoing connection holds it) that no socket uses, never 6379 and
# different from every port it printed before.
TAKEN=" 6379 "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		case $TAKEN in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htan "sport = :$p")" ]; then
			TAKEN="$TAKEN$p "
			echo "$p"
			return
		fi
	done
}

# await NAME PID COMMAND… waits up to 10 s until COMMAND succeeds, and
# gives up with NAME's log if PID exits first or the time runs out.
await() {
	local name=$1 pid=$2
	shift 2
	for _ in $(seq 200); do
		"$@" >/dev/null 2>&1 && return
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "$name did not start:" >&2
	cat "$BIN/$name.log" >&2
	exit 1
}

# ticks prints the CPU clock ticks (user+system) of each pid,
# space-separated; 0 for a process that is gone.
ticks() {
	local pid
	for pid in "$@"; do awk '{printf "%d ", $14+$15}' "/proc/$pid/stat" 2>/dev/null || printf "0 "; done
}

# busy prints the clock ticks all CPUs have spent not idle since boot.
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }

# start_node NAME PORT [flags…] starts a node and waits until it answers.
# --rate-limit 0: call clients send far more than 100 frames/s each.
start_node() {
	local name=$1 port=$2
	shift 2
	"$BIN/hotpot" --node-id "$name" --http "127.0.0.1:$port" --tcp "" --rate-limit 0 --log-level warn "$@" 2>"$BIN/$name.log" &
	PIDS+=($!)
	await "$name" $! curl -sf "http://127.0.0.1:$port/nodes"
}

# cluster_of PORT succeeds when the node at PORT lists nodes a and b.
cluster_of() {
	[ "$(curl -sf "http://127.0.0.1:$1/nodes" | grep -o '"id":"[ab]"' | wc -l)" = 2 ]
}

# start_redis NAME PORT [flags…] starts a redis-server and waits until it
# answers.
start_redis() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$BIN/$name"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$BIN/$name" --logfile "$BIN/$name.log" "$@" &
	PIDS+=($!)
	await "$name" $! sh -c "redis-cli -p $port ping | grep -q PONG"
}

REDIS_PROCS="" JOIN=()
if [ -z "${REDIS_MASTERS:-}" ]; then
	RP=$(free_port)
	start_redis redis "$RP"
	REDIS_PROCS="redis:${PIDS[-1]}"
	JOIN=(--redis "redis://127.0.0.1:$RP")
else
	SEEDS=() QUERY=""
	for i in $(seq "$REDIS_MASTERS"); do
		RP=$(free_port)
		start_redis "redis$i" "$RP" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$(free_port)"
		REDIS_PROCS="$REDIS_PROCS redis$i:${PIDS[-1]}"
		SEEDS+=("127.0.0.1:$RP")
		[ "$i" = 1 ] || QUERY="$QUERY${QUERY:+&}addr=127.0.0.1:$RP"
	done
	redis-cli --cluster create "${SEEDS[@]}" --cluster-yes >"$BIN/cluster-create.log"
	await redis1 "${PIDS[-1]}" sh -c "redis-cli -p ${SEEDS[0]##*:} cluster info | grep -q cluster_state:ok"
	JOIN=(--redis-cluster --redis "redis://${SEEDS[0]}?$QUERY")
fi

PA=$(free_port)
PB=$(free_port)
start_node a "$PA" "${JOIN[@]}"
APID=${PIDS[-1]}
start_node b "$PB" "${JOIN[@]}"
BPID=${PIDS[-1]}
await a "$APID" cluster_of "$PA"
await b "$BPID" cluster_of "$PB"
WSA="ws://127.0.0.1:$PA/ws" WSB="ws://127.0.0.1:$PB/ws"
APIA="http://127.0.0.1:$PA" APIB="http://127.0.0.1:$PB"
echo "redis ${REDIS_PROCS# } (${JOIN[*]}), node a :$PA (pid $APID), node b :$PB (pid $BPID), CLK_TCK $TCK"

# scenario TITLE "NAME:PID …" OPS_AWK loadgen-args… runs loadgen once and
# prints its result and the CPU of the named processes per operation;
# OPS_AWK prints the operation count from loadgen's output.
scenario() {
	local title=$1 procs=$2 opsawk=$3
	shift 3
	local names=() pids=() np
	for np in $procs; do
		names+=("${np%%:*}")
		pids+=("${np##*:}")
	done
	local logsize=()
	for n in "${names[@]}"; do logsize+=("$(stat -c %s "$BIN/$n.log")"); done
	echo
	echo "=== $title"
	echo "\$ loadgen $*"
	: >"$BIN/lg.err"
	local c0 c1 c2 c3 t1=0 t2=0 b1=0 b2=0 status=0
	c0=$(ticks "${pids[@]}")
	"$BIN/loadgen" "$@" >"$BIN/lg.out" 2>"$BIN/lg.err" &
	LG=$!
	until grep -q 'msg=measuring' "$BIN/lg.err" || ! kill -0 "$LG" 2>/dev/null; do sleep 0.02; done
	c1=$(ticks "${pids[@]}")
	t1=$(date +%s.%N) b1=$(busy)
	until grep -q 'msg=measured' "$BIN/lg.err" || ! kill -0 "$LG" 2>/dev/null; do sleep 0.02; done
	c2=$(ticks "${pids[@]}")
	t2=$(date +%s.%N) b2=$(busy)
	wait "$LG" || status=$?
	LG=""
	c3=$(ticks "${pids[@]}")
	cat "$BIN/lg.out"
	[ "$status" = 0 ] || echo "loadgen exited $status: $(grep -v 'level=INFO' "$BIN/lg.err" | head -5)"
	local ops lg
	ops=$(awk "$opsawk" "$BIN/lg.out")
	# loadgen's own CPU over the measured span, from its log (cpu_s=…).
	lg=$(awk '/msg=measur/ {for (i = 1; i <= NF; i++) if ($i ~ /^cpu_s=/) {split($i, kv, "="); cpu[$3] = kv[2]}}
		END {print int((cpu["msg=measured"] - cpu["msg=measuring"]) * 1e6)}' "$BIN/lg.err")
	awk -v names="${names[*]}" -v c0="$c0" -v c1="$c1" -v c2="$c2" -v c3="$c3" \
		-v tck="$TCK" -v ops="${ops:-0}" -v secs="$(echo "$t2 - $t1" | bc)" \
		-v busy="$((b2 - b1))" -v lg="$lg" -v cores="$(nproc)" '
	function line(span, a, b,   i, n, d, tot, parts) {
		n = split(names, nm, " "); split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) {
			d = (y[i] - x[i]) * 1e6 / tck
			tot += d
			parts = parts sprintf("%s%s %.1f", (i > 1 ? ", " : ""), nm[i], (ops > 0 ? d / ops : 0))
		}
		printf "%-10s %.1f CPU-µs/op  [%s]  (%.2f CPU-s over %d ops", span, (ops > 0 ? tot / ops : 0), parts, tot / 1e6, ops
		if (span == "measured" && secs > 0) printf ", %.0f %% of a core over %.1f s", tot / 1e4 / secs, secs
		printf ")\n"
	}
	BEGIN {
		line("measured", c1, c2)
		line("whole run", c0, c3)
		if (secs <= 0) exit
		n = split(c1, x, " "); split(c2, y, " ")
		for (i = 1; i <= n; i++) servers += y[i] - x[i]
		printf "machine    while measured: servers %.0f %%, loadgen %.0f %%, other processes %.0f %% of a core (%d cores = %d %%)\n",
			servers * 100 / tck / secs, lg / 1e4 / secs, (busy - servers - lg * tck / 1e6) * 100 / tck / secs, cores, cores * 100
	}'
	local i=0
	for n in "${names[@]}"; do
		kill -0 "${pids[$i]}" 2>/dev/null || echo "$n (pid ${pids[$i]}) is gone: its CPU above is wrong"
		if [ "$(stat -c %s "$BIN/$n.log")" != "${logsize[$i]}" ]; then
			echo "log of $n during the run:"
			tail -c +"$((logsize[i] + 1))" "$BIN/$n.log" | head -20 | sed 's/^/  /'
		fi
		i=$((i + 1))
	done
	sleep 2 # let the agents' closing settle before the next scenario
}

CLUSTER="a:$APID b:$BPID ${REDIS_PROCS# }"
CALLS='/^round trips/ {print $3}'
PUSHES='/^pushes/ {print $2}'
DELIVERIES='/^deliveries/ {print $2}'

if [ "$ONLY" = all ] || [ "$ONLY" = call ]; then
	scenario "(a) cross-node call: agents on A, HTTP to B" "$CLUSTER" "$CALLS" \
		call -url "$WSA" -api "$APIB" -agents 100 -c 32 -d 10s
fi
if [ "$ONLY" = all ] || [ "$ONLY" = push ]; then
	scenario "(b) cross-node push: agents on A, HTTP to B" "$CLUSTER" "$PUSHES" \
		push -url "$WSA" -api "$APIB" -agents 100 -c 32 -d 10s
fi
if [ "$ONLY" = all ] || [ "$ONLY" = broadcast ]; then
	scenario "(c) broadcast to 10,000 agents, 5,000 on each node, 10/s open loop, HTTP to A" "$CLUSTER" "$DELIVERIES" \
		broadcast -url "$WSA,$WSB" -api "$APIA" -n 10000 -rate 2000 -per-sec 10 -d 15s
fi
if [ "$ONLY" = all ] || [ "$ONLY" = local ]; then
	scenario "(d1) local call on node A, started with --redis (CPU: A, B, redis)" "$CLUSTER" "$CALLS" \
		call -url "$WSA" -api "$APIA" -agents 100 -c 32 -d 10s
	PL=$(free_port)
	start_node l "$PL"
	LPID=${PIDS[-1]}
	scenario "(d2) local call on node L, started without --redis (CPU: L)" "l:$LPID" "$CALLS" \
		call -url "ws://127.0.0.1:$PL/ws" -api "http://127.0.0.1:$PL" -agents 100 -c 32 -d 10s
fi
