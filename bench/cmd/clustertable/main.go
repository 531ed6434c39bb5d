// Command clustertable prints the Markdown rows of BENCHMARKS.md's
// cluster tables from the JSON lines scale-cluster.sh writes: one row
// per line, fanout and rooms runs each under their own header.
//
//	go run ./cmd/clustertable < results/rooms.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/siogate/siogate/bench"
)

// line is one result line: siobench's result and what the script added.
type line struct {
	bench.Result
	BrokerCPU float64 `json:"broker_cpu_s"`
	BrokerIn  *int64  `json:"broker_in_msgs"`
	BrokerOut *int64  `json:"broker_out_msgs"`
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var fanout, rooms []line
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			fmt.Fprintln(os.Stderr, "clustertable: skipping a line:", err)
			continue
		}
		switch l.Scenario {
		case "fanout":
			fanout = append(fanout, l)
		case "rooms":
			rooms = append(rooms, l)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "clustertable:", err)
		os.Exit(1)
	}
	if len(fanout) > 0 {
		fmt.Println("| adapter / nodes | connections | connect storm s (failed) | broadcasts | fan-out to all p50 / p99 ms | server CPU µs/delivery (sum over nodes) | server / generator CPU during fan-out | broker CPU over the run, s | broker messages in / out | errors |")
		fmt.Println("|---|---:|---|---:|---|---:|---|---:|---|---:|")
		for _, l := range fanout {
			fmt.Printf("| %s | %d | %.2f (%d) | %d | %.0f / %.0f | %.1f | %.2f / %.2f | %.2f | %s | %d |\n",
				l.Label, l.Connected, l.StormSeconds, l.StormErrors, l.Broadcasts, l.FanoutP50Micros/1e3, l.FanoutP99Micros/1e3,
				l.ServerCPUPerDelivery, l.ServerUtil, l.GenUtil, l.BrokerCPU, msgs(l), l.Errors+l.ProtocolErrors)
		}
		fmt.Println()
	}
	if len(rooms) > 0 {
		fmt.Println("| adapter / nodes | connections | rooms × size (memberships joined) | join s (failed) | join CPU µs/membership | per room after GC: RSS / heap KiB | room broadcasts (sent/s) | deliveries/s | fan-out per room broadcast p50 / p99 ms | server CPU µs per room broadcast / per delivery (sum over nodes) | server / generator CPU | broker CPU s | broker messages in / out | missing / errors |")
		fmt.Println("|---|---:|---|---|---:|---|---|---:|---|---|---|---:|---|---|")
		for _, l := range rooms {
			fmt.Printf("| %s | %d | %d × %d (%d) | %.2f (%d) | %.1f | %.2f / %.2f | %d (%.0f) | %.0f | %.1f / %.1f | %.1f / %.2f | %.2f / %.2f | %.2f | %s | %d / %d |\n",
				l.Label, l.Connected, l.Rooms, l.RoomSize, l.Memberships, l.JoinSeconds, l.JoinErrors, l.JoinCPUPerMembership,
				l.RSSPerRoom/1024, l.HeapPerRoom/1024, l.Broadcasts, l.SendRate, l.DeliveriesSec, l.FanoutP50Micros/1e3, l.FanoutP99Micros/1e3,
				l.ServerCPUPerOp, l.ServerCPUPerDelivery, l.ServerUtil, l.GenUtil, l.BrokerCPU, msgs(l), l.Missing, l.Errors+l.ProtocolErrors)
		}
	}
}

// msgs is "in / out", "–" where the broker did not count.
func msgs(l line) string {
	f := func(p *int64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprint(*p)
	}
	return strings.Join([]string{f(l.BrokerIn), f(l.BrokerOut)}, " / ")
}
