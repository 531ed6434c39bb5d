#!/bin/sh
# Broadcasts on a cluster of siogate nodes on one box, against one node
# with the same adapter: the nodes on CPU 0, the generator processes on
# CPU 1, the broker unpinned. Writes one JSON line per run to $OUT
# (siobench's result, plus the broker's CPU seconds over the run as
# "broker_cpu_s" and the messages it took in and sent out as
# "broker_in_msgs" / "broker_out_msgs" where it counts them).
#
#   cd bench && go build -o /tmp/sb/ ./cmd/... && sh scale-cluster.sh /tmp/sb results/cluster.jsonl
#
# Usage: scale-cluster.sh BINDIR OUT [NODES] [PER_NODE] [BROADCASTS] [ADAPTERS]
#
# ADAPTERS: redis (the shared Redis on 6379, classic pub/sub),
# redis-sharded (the same, sharded pub/sub: a channel per room), nats (a
# private nats-server on a free port with its monitoring endpoint, for
# the message counts; NATS_URL=nats://127.0.0.1:4222 uses the shared one
# instead, without counts).
#
# SCENARIO=fanout (default): BROADCASTS broadcasts to everyone, one at a
# time. SCENARIO=rooms: every node holds PER_NODE connections; ROOMS
# rooms (default 10000) of ROOM_SIZE (default 8) members, each room's
# members on ROOM_SIZE consecutive nodes (so on every node when
# ROOM_SIZE >= NODES); BROADCASTS room broadcasts at ROOM_RATE a second
# (default 2000), round-robin over the rooms, from one client on each
# node in turn; the memory per room after a forced GC. The one-node run
# gets ROOMS, BROADCASTS and ROOM_RATE scaled by 1/NODES, so that each
# node carries the same rooms and the same load in both runs.
#
# PROFILE_DIR=DIR has each benchnode write a CPU profile of its run to
# DIR/ADAPTER-N-PORT.prof (go tool pprof BINDIR/benchnode FILE).
#
# SERVER=node runs Node socket.io (js/fixtures/bench-server.mjs, node
# --expose-gc) with @socket.io/redis-adapter on the shared Redis in place
# of benchnode, for the same runs side by side (ADAPTERS=redis only; the
# rows are labelled node-redis/N).
set -eu
BIN=$1
OUT=$2
NODES=${3:-4}
PER=${4:-19000}
B=${5:-20}
ADAPTERS=${6:-"redis nats"}
SCENARIO=${SCENARIO:-fanout}
ROOMS=${ROOMS:-10000}
ROOM_SIZE=${ROOM_SIZE:-8}
ROOM_RATE=${ROOM_RATE:-2000}
SERVER=${SERVER:-siogate}
JS=$(cd "$(dirname "$0")/../js" && pwd)

cpu() { # user+system seconds of a process
	awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); printf "%.2f", (f[12] + f[13]) / 100 }' "/proc/$1/stat"
}
wait_listen() { # until something listens on port $1 (at most 20s)
	i=0
	until ss -Hltn "sport = :$1" | grep -q .; do
		i=$((i + 1))
		[ "$i" -lt 200 ] || { echo "nothing listens on $1" >&2; exit 1; }
		sleep 0.1
	done
}
free_port() { # a TCP port nothing listens on, from $1 up
	p=$1
	while ss -Hltn "sport = :$p" | grep -q .; do p=$((p + 1)); done
	echo "$p"
}
nats_pid="" nats_url=${NATS_URL:-} nats_mon=""
if echo "$ADAPTERS" | grep -qw nats && [ -z "$nats_url" ]; then
	np=$(free_port 14222)
	nats_mon=$(free_port 18222)
	nats-server -a 127.0.0.1 -p "$np" -m "$nats_mon" 2>>"$OUT.log" &
	nats_pid=$!
	nats_url="nats://127.0.0.1:$np"
	trap 'kill "$nats_pid" 2>/dev/null || true' EXIT
	sleep 1
fi
broker_pid() {
	case $1 in
	redis*) redis-cli -p 6379 info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p' ;;
	nats) if [ -n "$nats_pid" ]; then echo "$nats_pid"; else pgrep -f 'nats-server.*-p 4222' | head -1; fi ;;
	esac
}
msgs() { # "in out" messages the broker counted so far ("" when it does not)
	case $1 in
	redis*) redis-cli -p 6379 info commandstats | tr -d '\r' |
		awk -F'[=,:]' '/^cmdstat_(s?publish):/ { n += $3 } END { printf "%d -1", n }' ;;
	nats) if [ -n "$nats_mon" ]; then
		curl -s "http://127.0.0.1:$nats_mon/varz" | tr -d ' ,' |
			awk -F: '/^"in_msgs"/ { i = $2 } /^"out_msgs"/ { o = $2 } END { printf "%d %d", i, o }'
	fi ;;
	esac
}
port=3400
run() { # adapter nodes
	adapter=$1 n=$2 prefix="scale-$$-$1-$2" addrs="" pids=""
	case $adapter in
	redis) url="--redis-url redis://127.0.0.1:6379/0" kind=redis ;;
	redis-sharded) url="--redis-url redis://127.0.0.1:6379/0?sharded=true" kind=redis ;;
	nats) url="--nats-url $nats_url" kind=nats ;;
	*) url="" kind=$adapter ;;
	esac
	label=$adapter/$n
	for i in $(seq 1 "$n"); do
		port=$(free_port $((port + 1)))
		if [ "$SERVER" = node ]; then
			[ "$adapter" = redis ] || { echo "SERVER=node runs with ADAPTERS=redis only" >&2; exit 2; }
			label=node-$adapter/$n
			SIOBENCH_REDIS_URL=redis://127.0.0.1:6379 SIOBENCH_PREFIX="$prefix" \
				taskset -c 0 node --expose-gc "$JS/fixtures/bench-server.mjs" "$port" >/dev/null 2>>"$OUT.log" &
		else
			prof=""
			[ -z "${PROFILE_DIR:-}" ] || prof="--cpuprofile $PROFILE_DIR/$(echo "$label" | tr / -)-$port.prof"
			# shellcheck disable=SC2086 # $url and $prof are two words
			taskset -c 0 "$BIN/benchnode" --addr "127.0.0.1:$port" --adapter "$kind" $url --channel-prefix "$prefix" --mem-report $prof 2>>"$OUT.log" &
		fi
		addrs="$addrs,127.0.0.1:$port" pids="$pids,$!"
		wait_listen "$port"
	done
	addrs=${addrs#,} pids=${pids#,}
	sleep 2
	bp=$(broker_pid "$adapter")
	b0=$(cpu "$bp")
	m0=$(msgs "$adapter")
	procs=$(((n * PER + 18999) / 19000))
	case $SCENARIO in
	rooms)
		extra="-scenario rooms -mem -rooms $((ROOMS * n / NODES)) -room-size $ROOM_SIZE -room-rate $((ROOM_RATE * n / NODES)) -n $((B * n / NODES)) -duration 2m"
		;;
	*) extra="-scenario fanout -n $B -duration 5m" ;;
	esac
	# shellcheck disable=SC2086 # $extra is several flags
	line=$(taskset -c 1 "$BIN/siobench" $extra -label "$label" -addr "$addrs" -pids "$pids" \
		-c $((n * PER)) -procs "$procs" -source-ips $((2 * procs)) -timeout 120s || true)
	b1=$(cpu "$bp")
	m1=$(msgs "$adapter")
	d=$(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.2f", b - a }')
	bm=""
	if [ -n "$m0" ] && [ -n "$m1" ]; then
		bm=$(echo "$m0 $m1" | awk '{ printf ",\"broker_in_msgs\":%d", $3 - $1; if ($2 >= 0) printf ",\"broker_out_msgs\":%d", $4 - $2 }')
	fi
	echo "$line" | sed "s/}\$/,\"broker_cpu_s\":$d$bm}/" >>"$OUT"
	kill $(echo "$pids" | tr ',' ' ')
	for p in $(echo "$pids" | tr ',' ' '); do wait "$p" || true; done
}
for a in $ADAPTERS; do
	run "$a" 1
	run "$a" "$NODES"
done
