#!/usr/bin/env bash
# Measures one hotpot node alone (no Redis) with the load generator on the
# same machine, as BENCHMARKS.md reports it: each scenario prints
# loadgen's result with the node's CPU-µs per operation (loadgen -pid).
#
# Scenarios:
#   call        REST call answered by WebSocket agents: 100 agents, 32 connections, 10 s
#   push        REST push to one agent: 100 agents, 32 connections, 10 s
#   echo        WebSocket Echo round trips: 100 clients, 10 s
#   broadcast   10,000 WebSocket agents, 10 broadcasts/s, open loop, 15 s
#   broadcast5  the same at 5 broadcasts/s
#
#   bash bench/node.sh [scenario...]   (default: all, in that order)
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
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.1; done
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
	echo "\$ loadgen ${args[*]} -pid <node>"
	"$BIN/loadgen" "${args[@]}" -pid "$NODE" 2>>"$BIN/loadgen.log" || echo "(loadgen reported failures)"
	echo
done
