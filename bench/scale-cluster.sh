#!/bin/sh
# Broadcast fan-out on a cluster of siogate nodes on one box, against one
# node with the same adapter: the nodes on CPU 0, the generator processes
# on CPU 1, the broker (the shared Redis or NATS on 127.0.0.1) unpinned.
# Writes one JSON line per run to $OUT (siobench's result, plus the
# broker's CPU seconds over the run as "broker_cpu_s").
#
#   cd bench && go build -o /tmp/sb/ ./cmd/... && sh scale-cluster.sh /tmp/sb results/cluster.jsonl
#
# Usage: scale-cluster.sh BINDIR OUT [NODES] [PER_NODE] [BROADCASTS] [ADAPTERS]
set -eu
BIN=$1
OUT=$2
NODES=${3:-4}
PER=${4:-19000}
B=${5:-20}
ADAPTERS=${6:-"redis nats"}

cpu() { # user+system seconds of a process
	awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); printf "%.2f", (f[12] + f[13]) / 100 }' "/proc/$1/stat"
}
broker_pid() {
	case $1 in
	redis) redis-cli -p 6379 info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p' ;;
	nats) pgrep -f 'nats-server.*-p 4222' | head -1 ;;
	esac
}
port=3400
run() { # adapter nodes
	adapter=$1 n=$2 prefix="scale-$$-$adapter-$n" addrs="" pids=""
	for i in $(seq 1 "$n"); do
		port=$((port + 1))
		taskset -c 0 "$BIN/benchnode" --addr "127.0.0.1:$port" --adapter "$adapter" --channel-prefix "$prefix" 2>>"$OUT.log" &
		addrs="$addrs,127.0.0.1:$port" pids="$pids,$!"
	done
	addrs=${addrs#,} pids=${pids#,}
	sleep 2
	bp=$(broker_pid "$adapter")
	b0=$(cpu "$bp")
	line=$(taskset -c 1 "$BIN/siobench" -scenario fanout -label "$adapter/$n" -addr "$addrs" -pids "$pids" \
		-c $((n * PER)) -procs "$n" -source-ips $((2 * n)) -n "$B" -duration 5m -timeout 120s || true)
	b1=$(cpu "$bp")
	d=$(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.2f", b - a }')
	echo "$line" | sed "s/}\$/,\"broker_cpu_s\":$d}/" >>"$OUT"
	kill $(echo "$pids" | tr ',' ' ')
	wait
}
for a in $ADAPTERS; do
	run "$a" 1
	run "$a" "$NODES"
done
