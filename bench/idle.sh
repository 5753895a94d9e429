#!/usr/bin/env bash
# Measures a node's memory per idle WebSocket agent and its keepalive CPU
# at N agents (default 10,000) that answer every Ping, as the issue notes
# report them. The node and the agents run as separate processes: one
# process holds at most ~19,900 sockets here.
#
#   bash bench/idle.sh [agents]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
BIN=$(mktemp -d)
go build -o "$BIN/hotpot" ./cmd/server
go build -o "$BIN/loadgen" ./cmd/loadgen
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }  # kB
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }       # clock ticks
TCK=$(getconf CLK_TCK)

"$BIN/hotpot" --http 127.0.0.1:18848 --tcp "" --log-level warn 2>"$BIN/server.log" &
SRV=$!
LG=""
trap 'kill $SRV $LG 2>/dev/null; wait 2>/dev/null; rm -rf "$BIN"' EXIT
sleep 5
R0=$(rss $SRV)
"$BIN/loadgen" idle -url ws://127.0.0.1:18848/ws -n "$N" -rate 2000 -hold 120s >"$BIN/loadgen.out" 2>/dev/null &
LG=$!
until grep -q '^ready' "$BIN/loadgen.out" 2>/dev/null; do sleep 0.2; done
sleep 15
R1=$(rss $SRV); C0=$(cpu $SRV); T0=$(date +%s.%N)
sleep 60
R2=$(rss $SRV); C1=$(cpu $SRV); T1=$(date +%s.%N)
echo "agents:           $N"
echo "RSS per agent:    $(echo "scale=2; ($R1-$R0)/$N" | bc) KiB at ready+15s, $(echo "scale=2; ($R2-$R0)/$N" | bc) KiB at ready+75s (VmRSS $R0 -> $R1 -> $R2 kB)"
echo "keepalive CPU:    $(echo "scale=2; ($C1-$C0)*100/$TCK/($T1-$T0)" | bc) % of a core over ready+15s..ready+75s"
