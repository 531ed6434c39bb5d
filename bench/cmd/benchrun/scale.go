package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siogate/siogate/bench"
)

// The scale table: at each connection count, a fresh siogate node and a
// fresh Node socket.io server each get the hold, fanout and reconnect
// scenarios, from several generator processes. The results go into their
// own section of the report, between markers, into a JSON file, and into
// a chart drawn from that file (bench.ScaleChart, cmd/scalechart).

const (
	scaleBegin = "<!-- scale table: written by benchrun -scale -->"
	scaleEnd   = "<!-- end of scale table -->"
)

// scaleScenarios run in this order against each server.
var scaleScenarios = []string{"hold", "fanout", "reconnect"}

func (r *runner) scaleCounts() ([]int, error) {
	var out []int
	for _, f := range strings.Split(r.o.scale, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > r.o.scaleProcs*bench.MaxClientsPerProc {
			return nil, fmt.Errorf("-scale %q: want connection counts up to %d (-scale-procs × %d)", f, r.o.scaleProcs*bench.MaxClientsPerProc, bench.MaxClientsPerProc)
		}
		out = append(out, n)
	}
	return out, nil
}

func (r *runner) runScale(ctx context.Context) error {
	counts, err := r.scaleCounts()
	if err != nil {
		return err
	}
	run := bench.ScaleRun{
		Measured: time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Command:  "cd bench && go run ./cmd/benchrun " + strings.Join(os.Args[1:], " "),
	}
	targets := []string{"siogate"}
	if !r.o.skipNode {
		targets = append(targets, "node")
	}
	for round := range r.o.rounds {
		for i, n := range counts {
			k := (round + i) % len(targets)
			for _, target := range append(slices.Clone(targets[k:]), targets[:k]...) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res, err := r.scaleOnce(ctx, target, n, scaleScenarios)
				if err != nil {
					r.notes = append(r.notes, fmt.Sprintf("round %d, %d connections on %s: %v", round+1, n, target, err))
					fmt.Fprintln(os.Stderr, "benchrun:", err)
				}
				run.Results = append(run.Results, res...)
			}
		}
		if n := r.o.scalePolling; n > 0 {
			for _, target := range targets {
				res, err := r.scaleOnce(ctx, target, n, []string{"poll-hold"})
				if err != nil {
					r.notes = append(r.notes, fmt.Sprintf("round %d, %d polling clients on %s: %v", round+1, n, target, err))
					fmt.Fprintln(os.Stderr, "benchrun:", err)
				}
				run.Results = append(run.Results, res...)
			}
		}
	}
	run.Machine = map[string]string{
		"cpu":        cmdOut("nproc") + " × " + cpuModel(),
		"kernel":     cmdOut("uname", "-sr"),
		"load_start": r.load0,
		"load_end":   loadAvg(),
		"go":         cmdOut("go", "version"),
		"node":       cmdOut("node", "--version") + ", socket.io " + npmVersion(r.root, "socket.io"),
		"source":     r.source(),
	}
	jsonPath := r.o.scaleJSON
	if jsonPath == "" {
		jsonPath = filepath.Join(r.root, "bench", "results", "scale.json")
	}
	if err := os.MkdirAll(filepath.Dir(jsonPath), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return err
	}
	svg := strings.TrimSuffix(jsonPath, filepath.Ext(jsonPath)) + ".svg"
	if err := os.WriteFile(svg, bench.ScaleChart(run), 0o644); err != nil {
		return err
	}
	return r.writeScaleSection(run, counts, targets, jsonPath, svg)
}

// scaleOnce starts one server and runs the scale scenarios against it.
func (r *runner) scaleOnce(ctx context.Context, target string, n int, scenarios []string) ([]bench.Result, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var argv []string
	switch target {
	case "siogate":
		argv = []string{filepath.Join(r.tmp, "benchnode"), "--addr", addr, "--mem-report"}
	case "node":
		argv = []string{"node", "--expose-gc", filepath.Join(r.root, "js", "fixtures", "bench-server.mjs"), strconv.Itoa(port)}
	}
	c, err := r.start(ctx, "0", argv)
	if err != nil {
		return nil, err
	}
	defer r.stop(c)
	if err := waitListening(ctx, addr, 20*time.Second); err != nil {
		return nil, fmt.Errorf("%s did not listen: %w", target, err)
	}
	pids := []string{strconv.Itoa(c.Process.Pid)}
	common := []string{"-c", strconv.Itoa(n), "-procs", strconv.Itoa(r.o.scaleProcs),
		"-source-ips", strconv.Itoa(r.o.scaleSourceIPs), "-timeout", "60s", "-concurrency", "64"}
	var out []bench.Result
	for _, sc := range scenarios {
		extra := slices.Clone(common)
		switch sc {
		case "hold", "poll-hold":
			extra = append(extra, "-hold", r.o.scaleHold.String(), "-mem")
		case "fanout":
			extra = append(extra, "-n", strconv.Itoa(r.o.scaleBroadcasts), "-duration", "2m")
		}
		fmt.Fprintf(os.Stderr, "benchrun: %s, %d connections, %s\n", target, n, sc)
		res, err := r.siobench(ctx, sc, target, []string{addr}, pids, extra, r.o.scaleHold+5*time.Minute)
		if res != nil {
			out = append(out, *res)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// scaleMedian is the median of f over the results of one server, count
// and scenario (0 when there is none).
func scaleMedian(run bench.ScaleRun, target string, n int, scenario string, f func(bench.Result) float64) (float64, bool) {
	var rs []bench.Result
	for _, res := range run.Results {
		if res.Label == target && res.Clients == n && res.Scenario == scenario {
			rs = append(rs, res)
		}
	}
	if len(rs) == 0 {
		return 0, false
	}
	return median(rs, f), true
}

func (r *runner) writeScaleSection(run bench.ScaleRun, counts []int, targets []string, jsonPath, svgPath string) error {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	rel := func(p string) string {
		if q, err := filepath.Rel(r.root, p); err == nil {
			return q
		}
		return p
	}
	w("%s\n## Scale: one node up to the file-descriptor ceiling\n\n", scaleBegin)
	w("Measured %s by `%s` (%s; load average %s at the start, %s at the end; %s). ", run.Measured, run.Command, run.Machine["cpu"], run.Machine["load_start"], run.Machine["load_end"], run.Machine["source"])
	w("Each server (siogate's `benchnode`, in-memory adapter, default 25s heartbeat; Node socket.io %s, `js/fixtures/bench-server.mjs`, default 25s heartbeat) runs fresh on CPU 0 for each connection count; the clients come from %d `siobench` generator processes on CPU 1, spread over %d loopback source addresses. ", run.Machine["node"], r.o.scaleProcs, r.o.scaleSourceIPs)
	w("Against each server, in this order: **hold** opens every WebSocket connection at once (at most 64 opening per generator process; *connect storm* is the time from the first dial to the last namespace CONNECT answer), holds them %v answering heartbeats, then reads the server's memory after two forced collections (`runtime.GC`, then `debug.FreeOSMemory`; Node: `global.gc()` twice) minus the same reading before the first connection, and its CPU over the hold; **fanout** opens them again and sends %d broadcasts one at a time (each the next once the sender's process has it everywhere, plus 50ms), reporting when the last client got each (the CPU columns are the server's and the generator processes' CPU over the broadcasts, 1.00 = one core: a generator near 1.00 means the clients, not the server, bound the fan-out time); **reconnect** opens them, drops them all at once and opens them again. Medians of %d round(s). Raw results: [`%s`](%s); chart: [`%s`](%s).\n\n",
		r.o.scaleHold, r.o.scaleBroadcasts, r.o.rounds, rel(jsonPath), rel(jsonPath), rel(svgPath), rel(svgPath))
	// Quiet or not is judged by what other processes used while each
	// scenario measured (OtherUtil, from /proc/stat minus the server and
	// the generators), as in the main table: the load average at the
	// start still counts the previous run's own processes.
	busy, worst := 0, 0.0
	for _, x := range run.Results {
		if x.OtherUtil > 0.25 {
			busy++
		}
		worst = max(worst, x.OtherUtil)
	}
	if busy > 0 {
		w("**The machine was not quiet**: in %d of %d measurements other processes used more than 0.25 CPU on average (at most %.2f CPUs), on 2 CPUs. The memory columns do not depend on it; the CPU, latency and storm columns do, and those rows are not valid figures of either server.\n\n", busy, len(run.Results), worst)
	} else {
		w("The machine was quiet: in each of the %d measurements other processes used at most %.2f CPU on average (`/proc/stat` minus the server and the generators).\n\n", len(run.Results), worst)
	}
	w("![RSS per idle connection and broadcast fan-out time against connections](%s)\n\n", rel(svgPath))
	w("| connections | server | connect storm s (failed) | RSS KiB/conn | heap / stacks / other KiB | goroutines/conn | idle CPU µs/conn/s (%% of a core) | fan-out to all p50 / p99 ms | server / generator CPU during fan-out | reconnect storm s (failed) | errors |\n")
	w("|---:|---|---|---:|---|---:|---|---|---|---|---:|\n")
	for _, n := range counts {
		for _, t := range targets {
			get := func(sc string, f func(bench.Result) float64) (float64, bool) { return scaleMedian(run, t, n, sc, f) }
			storm, ok := get("hold", func(x bench.Result) float64 { return x.StormSeconds })
			if !ok {
				w("| %d | %s | no result | | | | | | | | |\n", n, t)
				continue
			}
			failed, _ := get("hold", func(x bench.Result) float64 { return float64(x.StormErrors) })
			rss, _ := get("hold", func(x bench.Result) float64 { return x.RSSPerConn / 1024 })
			heap, _ := get("hold", func(x bench.Result) float64 { return x.HeapPerConn / 1024 })
			stacks, _ := get("hold", func(x bench.Result) float64 { return x.StacksPerConn / 1024 })
			other, _ := get("hold", func(x bench.Result) float64 { return x.OtherPerConn / 1024 })
			gor, _ := get("hold", func(x bench.Result) float64 { return x.GoroutinesPerConn })
			idle, _ := get("hold", func(x bench.Result) float64 { return x.IdleCPUPerConn })
			util, _ := get("hold", func(x bench.Result) float64 { return x.IdleUtil * 100 })
			split, gors := fmt.Sprintf("%.1f / %.1f / %.1f", heap, stacks, other), fmt.Sprintf("%.2f", gor)
			if t == "node" {
				split, gors = fmt.Sprintf("%.1f / – / %.1f", heap, other), "–"
			}
			fan, fanUtil := "no result", ""
			if p99, ok := get("fanout", func(x bench.Result) float64 { return x.FanoutP99Micros / 1000 }); ok {
				p50, _ := get("fanout", func(x bench.Result) float64 { return x.FanoutP50Micros / 1000 })
				su, _ := get("fanout", func(x bench.Result) float64 { return x.ServerUtil })
				gu, _ := get("fanout", func(x bench.Result) float64 { return x.GenUtil })
				fan, fanUtil = fmt.Sprintf("%s / %s", num(p50), num(p99)), fmt.Sprintf("%.2f / %.2f", su, gu)
			}
			rec := "no result"
			if s, ok := get("reconnect", func(x bench.Result) float64 { return x.ReconnectSeconds }); ok {
				f, _ := get("reconnect", func(x bench.Result) float64 { return float64(x.ReconnectErrors) })
				rec = fmt.Sprintf("%.2f (%.0f)", s, f)
			}
			var errs int64
			for _, x := range run.Results {
				if x.Label == t && x.Clients == n && x.Scenario != "poll-hold" {
					errs += x.Errors + x.ProtocolErrors
				}
			}
			name := map[string]string{"siogate": "siogate", "node": "Node"}[t]
			w("| %d | %s | %.2f (%.0f) | %.1f | %s | %s | %s (%.1f%%) | %s | %s | %s | %d |\n", n, name, storm, failed, rss, split, gors, num(idle), util, fan, fanUtil, rec, errs)
		}
	}
	if n := r.o.scalePolling; n > 0 {
		w("\nLong-polling (`poll-hold`): %d clients each keeping one GET pending and answering the 25s heartbeat with a POST, held %v, same measurements as hold:\n\n", n, r.o.scaleHold)
		w("| clients | server | handshake storm s (failed) | RSS KiB/client | heap / stacks / other KiB | goroutines/client | idle CPU µs/client/s (%% of a core) | errors |\n")
		w("|---:|---|---|---:|---|---:|---|---:|\n")
		for _, t := range targets {
			get := func(f func(bench.Result) float64) (float64, bool) { return scaleMedian(run, t, n, "poll-hold", f) }
			storm, ok := get(func(x bench.Result) float64 { return x.StormSeconds })
			name := map[string]string{"siogate": "siogate", "node": "Node"}[t]
			if !ok {
				w("| %d | %s | no result | | | | | |\n", n, name)
				continue
			}
			failed, _ := get(func(x bench.Result) float64 { return float64(x.StormErrors) })
			rss, _ := get(func(x bench.Result) float64 { return x.RSSPerConn / 1024 })
			heap, _ := get(func(x bench.Result) float64 { return x.HeapPerConn / 1024 })
			stacks, _ := get(func(x bench.Result) float64 { return x.StacksPerConn / 1024 })
			other, _ := get(func(x bench.Result) float64 { return x.OtherPerConn / 1024 })
			gor, _ := get(func(x bench.Result) float64 { return x.GoroutinesPerConn })
			idle, _ := get(func(x bench.Result) float64 { return x.IdleCPUPerConn })
			util, _ := get(func(x bench.Result) float64 { return x.IdleUtil * 100 })
			errs, _ := get(func(x bench.Result) float64 { return float64(x.Errors + x.ProtocolErrors) })
			split, gors := fmt.Sprintf("%.1f / %.1f / %.1f", heap, stacks, other), fmt.Sprintf("%.2f", gor)
			if t == "node" {
				split, gors = fmt.Sprintf("%.1f / – / %.1f", heap, other), "–"
			}
			w("| %d | %s | %.2f (%.0f) | %.1f | %s | %s | %s (%.1f%%) | %.0f |\n", n, name, storm, failed, rss, split, gors, num(idle), util, errs)
		}
	}
	for _, n := range r.notes {
		w("\nNote: %s\n", n)
	}
	w("\n%s\n", scaleEnd)
	old, _ := os.ReadFile(r.o.out)
	doc := string(old)
	if i, j := strings.Index(doc, scaleBegin), strings.Index(doc, scaleEnd); i >= 0 && j > i {
		doc = doc[:i] + b.String() + doc[j+len(scaleEnd)+1:]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + b.String()
	}
	return os.WriteFile(r.o.out, []byte(doc), 0o644)
}
