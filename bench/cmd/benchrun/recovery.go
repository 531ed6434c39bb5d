package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siogate/siogate/bench"
)

// The recovery table: the cross-node scenario with connection state
// recovery off and on, alternating, per setup "adapter/nodes" (the
// recovery store is the adapter's broker; memory is the in-memory store).
// It is written into its own section of the report, between markers, so
// that the other tables stay as they were measured.

const (
	recoveryBegin = "<!-- recovery table: written by benchrun -recovery -->"
	recoveryEnd   = "<!-- end of recovery table -->"
)

type recSetup struct {
	adapter string
	nodes   int
}

func (r *runner) recoverySetups() ([]recSetup, error) {
	var out []recSetup
	for _, f := range strings.Split(r.o.recovery, ",") {
		a, n, ok := strings.Cut(strings.TrimSpace(f), "/")
		nodes, err := strconv.Atoi(n)
		if !ok || err != nil || nodes < 1 || nodes > 4 {
			return nil, fmt.Errorf("-recovery %q: want adapter/nodes, e.g. redis/3", f)
		}
		out = append(out, recSetup{a, nodes})
	}
	return out, nil
}

// recResult is one run and the broker CPU it caused.
type recResult struct {
	res       bench.Result
	brokerCPU float64 // seconds over the run, 0 when unknown
}

func (r *runner) runRecovery(ctx context.Context) error {
	setups, err := r.recoverySetups()
	if err != nil {
		return err
	}
	r.rec = map[string][]recResult{}
	for round := range r.o.rounds {
		for _, s := range setups {
			modes := []bool{false, true}
			if round%2 == 1 {
				modes = []bool{true, false}
			}
			for _, on := range modes {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				var nodeArgs []string
				if on {
					nodeArgs = []string{"--recovery", "--recovery-store", s.adapter}
				}
				broker := brokerPID(s.adapter)
				cpu0 := procCPU(broker)
				res, err := r.once(ctx, "cross-node", "siogate", s.nodes, s.adapter, nodeArgs, []string{"-c", strconv.Itoa(r.o.crossC)})
				key := recKey(s, on)
				if err != nil {
					r.notes = append(r.notes, fmt.Sprintf("round %d, %s: %v", round+1, key, err))
					fmt.Fprintln(os.Stderr, "benchrun:", err)
				}
				if res != nil {
					rr := recResult{res: *res}
					if broker > 0 {
						rr.brokerCPU = procCPU(broker) - cpu0
					}
					r.rec[key] = append(r.rec[key], rr)
				}
			}
		}
	}
	return nil
}

// med is the median of f over the rounds.
func med(rs []recResult, f func(recResult) float64) float64 {
	vals := make([]float64, len(rs))
	for i := range rs {
		vals[i] = f(rs[i])
	}
	slices.Sort(vals)
	if n := len(vals); n%2 == 0 {
		return (vals[n/2-1] + vals[n/2]) / 2
	}
	return vals[len(vals)/2]
}

func recKey(s recSetup, on bool) string {
	return fmt.Sprintf("%s/%d/%v", s.adapter, s.nodes, on)
}

// brokerPID finds the shared broker's process (0 when not found).
func brokerPID(adapterName string) int {
	var out []byte
	switch adapterName {
	case "redis":
		out, _ = exec.Command("redis-cli", "-p", "6379", "info", "server").Output()
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
				pid, _ := strconv.Atoi(v)
				return pid
			}
		}
	case "nats":
		out, _ = exec.Command("pgrep", "-f", "nats-server.*-p 4222").Output()
		pid, _ := strconv.Atoi(strings.TrimSpace(strings.Split(string(out), "\n")[0]))
		return pid
	}
	return 0
}

// procCPU returns a process's user+system CPU seconds.
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

func (r *runner) writeRecoverySection() error {
	setups, _ := r.recoverySetups()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("%s\n## Connection state recovery: cost of storing every broadcast\n\n", recoveryBegin)
	w("Measured %s by `cd bench && go run ./cmd/benchrun -recovery %s -rounds %d -duration %v -warmup %v`: the `cross-node` scenario (%d WebSocket clients spread over the nodes, one sender asking for broadcasts) with recovery off and on, alternating, median of %d rounds. With recovery on, every broadcast is appended once to the store (the adapter's broker: Redis Streams, NATS JetStream; `memory` is the in-memory store of one node) and carries its offset to every client; with a shared store each node also saves its connected sockets' sessions once after they connect (the warm-up covers it: that is the cost of a connect, not of a broadcast). Server CPU is summed over the nodes; broker CPU is the shared broker process's user+system time over the run divided by the deliveries.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), r.o.recovery, r.o.rounds, r.o.duration, r.o.warmup, r.o.crossC, r.o.rounds)
	w("| setup | nodes | deliveries/s off / on | server CPU µs/delivery off | on | on ÷ off | broker CPU µs/delivery off / on | p99 ms off / on | errors |\n")
	w("|---|---:|---|---:|---:|---:|---|---|---:|\n")
	for _, s := range setups {
		off, on := r.rec[recKey(s, false)], r.rec[recKey(s, true)]
		if len(off) == 0 || len(on) == 0 {
			w("| %s | %d | no result | | | | | | |\n", s.adapter, s.nodes)
			continue
		}
		cpu := func(x recResult) float64 { return x.res.ServerCPUPerDelivery }
		dps := func(x recResult) float64 { return x.res.DeliveriesSec }
		bcpu := func(x recResult) float64 {
			if x.res.Deliveries == 0 {
				return 0
			}
			return x.brokerCPU * 1e6 / float64(x.res.Deliveries)
		}
		p99 := func(x recResult) float64 { return x.res.P99Micros / 1000 }
		errs := int64(0)
		for _, x := range append(append([]recResult{}, off...), on...) {
			errs += x.res.Errors + x.res.ProtocolErrors
		}
		cOff, cOn := med(off, cpu), med(on, cpu)
		w("| %s | %d | %s / %s | %s | %s | %s | %s / %s | %s / %s | %d |\n", s.adapter, s.nodes,
			num(med(off, dps)), num(med(on, dps)), num(cOff), num(cOn), ratio(cOn, cOff),
			num(med(off, bcpu)), num(med(on, bcpu)), num(med(off, p99)), num(med(on, p99)), errs)
	}
	for _, n := range r.notes {
		w("\nNote: %s\n", n)
	}
	w("\n%s\n", recoveryEnd)
	old, _ := os.ReadFile(r.o.out)
	doc := string(old)
	if i, j := strings.Index(doc, recoveryBegin), strings.Index(doc, recoveryEnd); i >= 0 && j > i {
		doc = doc[:i] + b.String() + doc[j+len(recoveryEnd)+1:]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + b.String()
	}
	return os.WriteFile(r.o.out, []byte(doc), 0o644)
}
