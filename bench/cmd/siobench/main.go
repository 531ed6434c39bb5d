// Command siobench is siogate's load generator: raw Engine.IO v4 /
// Socket.IO v5 clients (gws WebSockets, net/http long-polling) running one
// scenario against servers on 127.0.0.1, measuring throughput, latency,
// and the servers' own CPU time and memory read from /proc.
//
//	siobench -scenario echo -addr 127.0.0.1:3000 -pids 1234 -duration 5s
//
// It prints one JSON line (the result) on stdout and a human summary on
// stderr. Scenarios: echo, broadcast, connect, polling-echo, binary-echo,
// cross-node (give every node in -addr and every node's pid in -pids),
// and the scale scenarios hold, fanout, reconnect, poll-hold and rooms
// (clients join rooms, then room broadcasts at a bounded rate), whose clients may be
// held by several generator processes (-procs) from several source
// addresses (-source-ips):
//
//	siobench -scenario hold -c 19500 -procs 2 -hold 60s -mem -addr 127.0.0.1:3000 -pids 1234
//	siobench -scenario rooms -c 76000 -procs 4 -source-ips 8 -rooms 10000 -room-size 8 -room-rate 2000 -n 40000 -mem -addr A,B,C,D -pids a,b,c,d
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/siogate/siogate/bench"
)

func main() {
	if bench.IsShareChild() {
		os.Exit(bench.ShareMain())
	}
	var cfg bench.Config
	var addrs, pids string
	flag.StringVar(&cfg.Scenario, "scenario", "echo", "scenario: "+strings.Join(bench.Scenarios, ", "))
	flag.StringVar(&addrs, "addr", "127.0.0.1:3000", "server addresses, comma-separated (127.0.0.1 only)")
	flag.StringVar(&pids, "pids", "", "server process ids, comma-separated, for CPU and memory")
	flag.StringVar(&cfg.Path, "path", "/socket.io/", "Engine.IO path")
	flag.StringVar(&cfg.Label, "label", "", "name of the server under test, copied to the result")
	flag.IntVar(&cfg.Clients, "c", 0, fmt.Sprintf("clients (0: the scenario's default; at most %d)", bench.MaxClients))
	flag.Int64Var(&cfg.N, "n", 0, fmt.Sprintf("most operations measured (0: %d)", bench.MaxOps))
	flag.DurationVar(&cfg.Duration, "duration", 5*time.Second, fmt.Sprintf("most measured time (at most %v)", bench.MaxDuration))
	flag.DurationVar(&cfg.Warmup, "warmup", 500*time.Millisecond, "load before measuring")
	flag.IntVar(&cfg.Concurrency, "concurrency", 64, "connections opened at once")
	flag.DurationVar(&cfg.Hold, "hold", 2*time.Second, "connect, hold: idle time before reading the server's memory")
	flag.IntVar(&cfg.Payload, "payload", 64, "echo payload, bytes")
	flag.IntVar(&cfg.Attachment, "attachment", 64<<10, "binary-echo attachment, bytes")
	flag.IntVar(&cfg.InFlight, "inflight", 4, "broadcasts in flight")
	flag.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "longest wait for one answer")
	flag.IntVar(&cfg.Procs, "procs", 0, fmt.Sprintf("hold, fanout, reconnect: generator processes sharing the clients (0: this one; each holds at most %d)", bench.MaxClientsPerProc))
	flag.IntVar(&cfg.SourceIPs, "source-ips", 0, "hold, fanout, reconnect: spread the clients over this many source addresses 127.0.0.2 and up (0: 127.0.0.1)")
	flag.Float64Var(&cfg.Rate, "rate", 0, "hold, fanout, reconnect: connections opened per second (0: as fast as -concurrency allows)")
	flag.DurationVar(&cfg.Interval, "interval", 50*time.Millisecond, "fanout: pause after a broadcast reached the sender's process before the next")
	flag.IntVar(&cfg.Rooms, "rooms", 100, "rooms: the number of rooms")
	flag.IntVar(&cfg.RoomSize, "room-size", 8, "rooms: members per room (client g holds memberships g, g+c, ...; a room's members sit on consecutive servers of -addr)")
	flag.Float64Var(&cfg.RoomRate, "room-rate", 500, fmt.Sprintf("rooms: room broadcasts sent per second, round-robin over the rooms (at most %d; -n bounds their number)", bench.MaxRoomRate))
	flag.BoolVar(&cfg.MemReport, "mem", false, "hold, rooms: ask each server for its memory split after a forced GC (GET "+bench.MemPath+": benchnode --mem-report, node --expose-gc bench-server.mjs)")
	flag.Parse()
	cfg.Addrs = split(addrs)
	for _, p := range split(pids) {
		pid, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "siobench: bad -pids:", err)
			os.Exit(2)
		}
		cfg.PIDs = append(cfg.PIDs, pid)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, cfg)
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	fmt.Fprintln(os.Stderr, res.Summary())
	if err != nil {
		fmt.Fprintln(os.Stderr, "siobench:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
