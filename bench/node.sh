#!/usr/bin/env bash
# Measures one hotpot node alone (no Redis) with the load generator on the
# same machine, as BENCHMARKS.md reports it: each scenario prints
# loadgen's result with the node's CPU-µs per operation (loadgen -pid),
# and loadgen's own CPU-µs per operation over the same span.
#
# Scenarios:
#   call        REST call answered by WebSocket agents: 100 agents, 32 connections, 10 s
#   push        REST push to one agent: 100 agents, 32 connections, 10 s
#   echo        WebSocket Echo round trips: 100 clients, 10 s
#   broadcast   10,000 WebSocket agents, 10 broadcasts/s, open loop, 15 s
#   broadcast5  the same at 5 broadcasts/s
#
#   bash bench/node.sh [scenario...]   (default: all, in that order)
#
# LOADGEN_FLAGS adds flags to every loadgen run, say
# LOADGEN_FLAGS="-cpuprofile /tmp/lg.pprof" for the generator's profile.
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIOS=${*:-call push echo broadcast broadcast5}
BIN=$(mktemp -d)
go build -o "$BIN/hotpot" ./cmd/server
go build -o "$BIN/loadgen" ./cmd/loadgen
PORT=$((20000 + RANDOM % 10000))
# --rate-limit 0: echo and call clients send far more than 100 frames/s each.
"$BIN/hotpot" --http "127.0.0.1:$PORT" --tcp "" --rate-limit 0 --log-level warn 2>"$BIN/node.log" &
NODE=$!
trap 'kill $NODE 2>/dev/null; wait 2>/dev/null; rm -rf "$BIN"' EXIT
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
	if ! kill -0 "$NODE" 2>/dev/null; then # say, the random port was taken
		echo "the node did not start:" >&2
		cat "$BIN/node.log" >&2
		exit 1
	fi
	sleep 0.1
done
WS="ws://127.0.0.1:$PORT/ws"
API="http://127.0.0.1:$PORT"

for s in $SCENARIOS; do
	case $s in
	call) args=(call -url "$WS" -api "$API" -agents 100 -c 32 -d 10s) ;;
	push) args=(push -url "$WS" -api "$API" -agents 100 -c 32 -d 10s) ;;
	echo) args=(echo -url "$WS" -c 100 -d 10s) ;;
	broadcast) args=(broadcast -url "$WS" -api "$API" -n 10000 -rate 2000 -per-sec 10 -d 15s) ;;
	broadcast5) args=(broadcast -url "$WS" -api "$API" -n 10000 -rate 2000 -per-sec 5 -d 15s) ;;
	*)
		echo "unknown scenario $s" >&2
		exit 2
		;;
	esac
	echo "=== $s"
	echo "\$ loadgen ${args[*]} -pid <node>${LOADGEN_FLAGS:+ $LOADGEN_FLAGS}"
	# shellcheck disable=SC2086 # LOADGEN_FLAGS is split into flags
	"$BIN/loadgen" "${args[@]}" -pid "$NODE" ${LOADGEN_FLAGS:-} >"$BIN/out" 2>"$BIN/log" || echo "(loadgen reported failures)"
	cat "$BIN/out"
	# loadgen's own CPU over the measured span, from its log (cpu_s=…):
	# beside the node on one machine, it is CPU the node did not get.
	awk '/msg=measur/ {for (i = 1; i <= NF; i++) if ($i ~ /^cpu_s=/) {split($i, kv, "="); cpu[$3] = kv[2]}}
		/^json/ {match($0, /"ops":[0-9]+/); ops = substr($0, RSTART + 6, RLENGTH - 6)}
		END {s = cpu["msg=measured"] - cpu["msg=measuring"]; if (ops > 0) printf "loadgen cpu  %.1f CPU-µs/op (%.2f CPU-s over %d ops)\n", s * 1e6 / ops, s, ops}' "$BIN/log" "$BIN/out"
	echo
done
