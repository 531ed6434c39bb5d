// Command benchrun runs siobench's scenarios side by side against siogate
// (benchnode), the floor fixture and Node's socket.io, alternating between
// them over several rounds, the servers pinned to CPU 0 and the generator
// to CPU 1, then the cross-node scenario on Redis, NATS, RabbitMQ and Kafka,
// and writes the medians to BENCHMARKS.md.
//
//	cd bench && go run ./cmd/benchrun -rounds 3 -duration 5s
//
// Kafka is librdkafka's mock cluster (bench/cmd/kafkamock, built with cgo),
// not a real Kafka broker: benchrun starts it for the cross-node table and
// stops it after.
//
// Every server it starts is a child process on 127.0.0.1, killed when the
// run ends or is interrupted.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/siogate/siogate/bench"
)

// options are the command-line settings.
type options struct {
	rounds    int
	duration  time.Duration
	warmup    time.Duration
	out       string
	raw       string
	crossOnly bool
	skipCross bool
	skipNode  bool
	scenarios string
	brokers   string
	crossC    int
	kafkaWait time.Duration
	recovery  string

	scale           string
	scaleHold       time.Duration
	scaleBroadcasts int
	scaleProcs      int
	scaleSourceIPs  int
	scaleJSON       string
	scalePolling    int
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of every scenario (1..9); medians are reported")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of each run (at most 30s)")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "warm-up of each run")
	flag.StringVar(&o.out, "out", "", "markdown report (default: BENCHMARKS.md at the repository root)")
	flag.StringVar(&o.raw, "raw", "", "also append every result as a JSON line to this file")
	flag.BoolVar(&o.skipCross, "skip-cross", false, "skip the cross-node table")
	flag.BoolVar(&o.crossOnly, "cross-only", false, "only the cross-node table")
	flag.BoolVar(&o.skipNode, "skip-node", false, "skip Node's socket.io")
	flag.StringVar(&o.scenarios, "scenarios", "echo,broadcast,connect,binary-echo,polling-echo", "single-node scenarios")
	flag.StringVar(&o.brokers, "brokers", "redis,nats,amqp,kafka", "brokers of the cross-node table (redis, nats, amqp, kafka; kafka is librdkafka's mock cluster)")
	flag.IntVar(&o.crossC, "cross-clients", 1000, "clients of the cross-node scenario")
	flag.DurationVar(&o.kafkaWait, "kafka-fetch-wait", 10*time.Millisecond, "the Kafka adapter's FetchWait on the mock cluster (at least 10ms): the mock answers fetches only when it ends, so it sets the delay Kafka adds")
	flag.StringVar(&o.recovery, "recovery", "", "only the connection state recovery table, for these setups (e.g. memory/1,redis/3,nats/3: adapter and store / nodes): recovery off vs on, written into its own section of the report")
	flag.StringVar(&o.scale, "scale", "", "only the scale table, at these connection counts (e.g. 2000,5000,10000,19500): hold, fanout and reconnect on one siogate node and one Node socket.io server, written into its own section of the report with a chart")
	flag.DurationVar(&o.scaleHold, "scale-hold", 30*time.Second, "-scale: how long the connections are held idle (at least one 25s heartbeat)")
	flag.IntVar(&o.scaleBroadcasts, "scale-broadcasts", 50, "-scale: broadcasts of each fanout run")
	flag.IntVar(&o.scaleProcs, "scale-procs", 2, "-scale: generator processes (each holds fewer than 20,000 connections)")
	flag.IntVar(&o.scaleSourceIPs, "scale-source-ips", 4, "-scale: loopback source addresses the clients are spread over")
	flag.IntVar(&o.scalePolling, "scale-polling", 5000, "-scale: long-polling clients of the poll-hold row (0: none)")
	flag.StringVar(&o.scaleJSON, "scale-json", "", "-scale: the run's results as JSON (default: bench/results/scale.json; the chart goes beside it as scale.svg)")
	flag.Parse()
	o.rounds = min(max(o.rounds, 1), 9)
	o.duration = min(max(o.duration, 500*time.Millisecond), 30*time.Second)
	o.kafkaWait = max(o.kafkaWait, 10*time.Millisecond) // the adapter's floor

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := newRunner(o)
	if err == nil {
		err = r.run(ctx)
	}
	if r != nil {
		r.killAll()
		_ = os.RemoveAll(r.tmp)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// runner holds the state of one benchrun.
type runner struct {
	o      options
	root   string // repository root
	tmp    string // built binaries
	pinned bool   // taskset is available
	raw    io.Writer

	mu       sync.Mutex
	children map[*exec.Cmd]struct{}

	single map[string]map[string][]bench.Result // scenario -> target -> rounds
	cross  map[string][]bench.Result            // "adapter/nodes" -> rounds
	pubs   []pubResult
	notes  []string
	load0  string

	kafka kafkaMock // the mock cluster while the cross-node table runs

	rec map[string][]recResult // the recovery table: "adapter/nodes/on" -> rounds
}

// kafkaMock is the running kafkamock: librdkafka's mock cluster.
type kafkaMock struct {
	version string // confluent-kafka-go and librdkafka versions ("" until built)
	addr    string // bootstrap host:port
	control string // topic-creation endpoint, http://127.0.0.1:port
}

// pubResult is one redis-benchmark PUBLISH measurement.
type pubResult struct {
	name string
	rps  float64
}

func newRunner(o options) (*runner, error) {
	root, err := findRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "benchrun-")
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, root: root, tmp: tmp, children: map[*exec.Cmd]struct{}{},
		single: map[string]map[string][]bench.Result{}, cross: map[string][]bench.Result{}}
	if o.out == "" {
		r.o.out = filepath.Join(root, "BENCHMARKS.md")
	}
	if _, err := exec.LookPath("taskset"); err == nil {
		r.pinned = true
	} else {
		r.notes = append(r.notes, "taskset was not found: nothing was pinned.")
	}
	// Let the servers (Node above all) open as many sockets as allowed.
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return r, nil
}

// findRoot walks up from the working directory to the folder holding
// go.work and bench/.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 10 {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "bench", "go.mod")); err == nil {
				return dir, nil
			}
		}
		dir = filepath.Dir(dir)
	}
	return "", errors.New("run benchrun inside the siogate repository")
}

func (r *runner) run(ctx context.Context) error {
	r.load0 = loadAvg()
	fmt.Fprintln(os.Stderr, "benchrun: building into", r.tmp, "load:", r.load0)
	build := exec.CommandContext(ctx, "go", "build", "-o", r.tmp+string(os.PathSeparator), "./cmd/siobench", "./cmd/benchnode", "./cmd/floor")
	build.Dir = filepath.Join(r.root, "bench")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if r.o.raw != "" {
		f, err := os.OpenFile(r.o.raw, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		r.raw = f
	}
	if r.o.recovery != "" {
		if err := r.runRecovery(ctx); err != nil {
			return err
		}
		return r.writeRecoverySection()
	}
	if r.o.scale != "" {
		return r.runScale(ctx)
	}
	if !r.o.crossOnly {
		if err := r.runSingle(ctx); err != nil {
			return err
		}
	}
	if !r.o.skipCross {
		r.buildKafkaMock(ctx)
		if err := r.runCross(ctx); err != nil {
			return err
		}
		r.runRedisBenchmark(ctx)
	}
	return r.writeReport()
}

// targets lists the servers a scenario runs against.
func (r *runner) targets(scenario string) []string {
	t := []string{"siogate", "floor"}
	if !r.o.skipNode {
		t = append(t, "node")
	}
	return t
}

func (r *runner) runSingle(ctx context.Context) error {
	scenarios := strings.Split(r.o.scenarios, ",")
	for round := range r.o.rounds {
		for _, sc := range scenarios {
			targets := r.targets(sc)
			// Alternate: each round starts with the next target.
			k := round % len(targets)
			order := append(slices.Clone(targets[k:]), targets[:k]...)
			for _, target := range order {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res, err := r.once(ctx, sc, target, 1, "memory", nil, nil)
				if err != nil {
					r.notes = append(r.notes, fmt.Sprintf("round %d, %s on %s: %v", round+1, sc, target, err))
					fmt.Fprintln(os.Stderr, "benchrun:", err)
				}
				if res != nil {
					if r.single[sc] == nil {
						r.single[sc] = map[string][]bench.Result{}
					}
					r.single[sc][target] = append(r.single[sc][target], *res)
				}
			}
		}
	}
	return nil
}

func (r *runner) runCross(ctx context.Context) error {
	type setup struct {
		adapter string
		nodes   int
	}
	setups := []setup{{"memory", 1}}
	for _, b := range strings.Split(r.o.brokers, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if b == "kafka" {
			if r.kafka.version == "" {
				continue // not built: noted
			}
			limit := time.Duration(r.o.rounds*(2*len(strings.Split(r.o.brokers, ","))+1))*(r.o.duration+r.o.warmup+time.Minute) + 5*time.Minute
			mock, err := r.startKafkaMock(ctx, limit)
			if err != nil {
				r.notes = append(r.notes, fmt.Sprintf("kafkamock did not start, no Kafka rows: %v", err))
				fmt.Fprintln(os.Stderr, "benchrun: kafkamock:", err)
				continue
			}
			defer r.stop(mock)
		}
		setups = append(setups, setup{b, 1}, setup{b, 3})
	}
	for round := range r.o.rounds {
		for _, s := range setups {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			extra := []string{"-c", strconv.Itoa(r.o.crossC)}
			res, err := r.once(ctx, "cross-node", "siogate", s.nodes, s.adapter, nil, extra)
			key := fmt.Sprintf("%s/%d", s.adapter, s.nodes)
			if err != nil {
				r.notes = append(r.notes, fmt.Sprintf("round %d, cross-node %s: %v", round+1, key, err))
				fmt.Fprintln(os.Stderr, "benchrun:", err)
			}
			if res != nil {
				r.cross[key] = append(r.cross[key], *res)
			}
		}
	}
	return nil
}

// once starts the servers, runs siobench once against them, and stops
// them.
func (r *runner) once(ctx context.Context, scenario, target string, nodes int, adapterName string, nodeArgs, extra []string) (*bench.Result, error) {
	var addrs, pids []string
	var servers []*exec.Cmd
	defer func() {
		for _, c := range servers {
			r.stop(c)
		}
	}()
	prefix := fmt.Sprintf("bench-%d-%d", os.Getpid(), time.Now().UnixNano())
	for range nodes {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		var argv []string
		switch target {
		case "siogate":
			argv = []string{filepath.Join(r.tmp, "benchnode"), "--addr", addr, "--adapter", adapterName, "--channel-prefix", prefix}
			argv = append(argv, nodeArgs...)
			if adapterName == "kafka" {
				argv = append(argv, "--kafka-url", "kafka://"+r.kafka.addr, "--kafka-topic-api", r.kafka.control,
					"--kafka-fetch-wait", r.o.kafkaWait.String())
			}
		case "floor":
			argv = []string{filepath.Join(r.tmp, "floor"), "--addr", addr}
		case "node":
			argv = []string{"node", filepath.Join(r.root, "js", "fixtures", "bench-server.mjs"), strconv.Itoa(port)}
		}
		c, err := r.start(ctx, "0", argv)
		if err != nil {
			return nil, err
		}
		servers = append(servers, c)
		if err := waitListening(ctx, addr, 20*time.Second); err != nil {
			return nil, fmt.Errorf("%s did not listen: %w", target, err)
		}
		addrs = append(addrs, addr)
		pids = append(pids, strconv.Itoa(c.Process.Pid))
	}
	if nodes > 1 {
		time.Sleep(500 * time.Millisecond) // let the nodes subscribe
	}
	args := []string{"-duration", r.o.duration.String(), "-warmup", r.o.warmup.String()}
	return r.siobench(ctx, scenario, target, addrs, pids, append(args, extra...), r.o.duration+3*time.Minute)
}

// siobench runs siobench once (pinned to CPU 1) against servers already
// running, within limit.
func (r *runner) siobench(ctx context.Context, scenario, target string, addrs, pids, extra []string, limit time.Duration) (*bench.Result, error) {
	args := []string{filepath.Join(r.tmp, "siobench"), "-scenario", scenario, "-label", target,
		"-addr", strings.Join(addrs, ","), "-pids", strings.Join(pids, ",")}
	args = append(args, extra...)
	if r.pinned {
		args = append([]string{"taskset", "-c", "1"}, args...)
	}
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(cctx, args[0], args[1:]...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	runErr := cmd.Run()
	line := bytes.TrimSpace(stdout.Bytes())
	if len(line) == 0 {
		return nil, fmt.Errorf("siobench %s on %s: %v", scenario, target, runErr)
	}
	var res bench.Result
	if err := json.Unmarshal(line, &res); err != nil {
		return nil, fmt.Errorf("siobench output: %w", err)
	}
	if r.raw != nil {
		fmt.Fprintf(r.raw, "%s\n", line)
	}
	if runErr != nil {
		return &res, fmt.Errorf("siobench %s on %s: %v (%s)", scenario, target, runErr, res.FirstError)
	}
	return &res, nil
}

// buildKafkaMock builds bench/cmd/kafkamock (cgo) when the cross-node
// table has Kafka rows, and records its versions; a failed build leaves a
// note and no Kafka rows.
func (r *runner) buildKafkaMock(ctx context.Context) {
	if !slices.Contains(strings.Split(strings.ReplaceAll(r.o.brokers, " ", ""), ","), "kafka") {
		return
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", r.tmp+string(os.PathSeparator), "./cmd/kafkamock")
	build.Dir = filepath.Join(r.root, "bench")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		r.notes = append(r.notes, fmt.Sprintf("bench/cmd/kafkamock (cgo) did not build, no Kafka rows: %v", err))
		fmt.Fprintln(os.Stderr, "benchrun: kafkamock build:", err)
		return
	}
	v := cmdOut(filepath.Join(r.tmp, "kafkamock"), "-version")
	if v == "unknown" || v == "" {
		v = "unknown versions"
	}
	r.kafka.version = v
}

// startKafkaMock starts kafkamock, unpinned like the other brokers, with
// its topic-creation endpoint, and waits for its bootstrap address. It
// stops by itself after limit should benchrun die without stopping it.
func (r *runner) startKafkaMock(ctx context.Context, limit time.Duration) (*exec.Cmd, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	control := "127.0.0.1:" + strconv.Itoa(port)
	c := exec.Command(filepath.Join(r.tmp, "kafkamock"), "--control", control, "--max-duration", limit.String())
	c.Dir = r.root
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.children[c] = struct{}{}
	r.mu.Unlock()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	var addr string
	select {
	case addr = <-lines:
	case <-time.After(20 * time.Second):
	case <-ctx.Done():
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		r.stop(c)
		return nil, fmt.Errorf("no bootstrap address from kafkamock (got %q)", addr)
	}
	r.kafka.addr, r.kafka.control = addr, "http://"+control
	fmt.Fprintln(os.Stderr, "benchrun: kafkamock at", addr, "("+r.kafka.version+")")
	return c, nil
}

// start runs argv pinned to cpu, as a tracked child.
func (r *runner) start(ctx context.Context, cpu string, argv []string) (*exec.Cmd, error) {
	if r.pinned {
		argv = append([]string{"taskset", "-c", cpu}, argv...)
	}
	c := exec.Command(argv[0], argv[1:]...) // taskset execs: the pid is the server's
	c.Dir = r.root
	c.Stdout = io.Discard
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.children[c] = struct{}{}
	r.mu.Unlock()
	return c, nil
}

// stop ends a child: SIGTERM, then SIGKILL after 3s.
func (r *runner) stop(c *exec.Cmd) {
	_ = c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
	r.mu.Lock()
	delete(r.children, c)
	r.mu.Unlock()
}

// killAll kills every child still running.
func (r *runner) killAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.children {
		_ = c.Process.Kill()
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var rpsRE = regexp.MustCompile(`([0-9.]+) requests per second`)

// runRedisBenchmark measures Redis PUBLISH throughput with redis-benchmark,
// pinned like the generator.
func (r *runner) runRedisBenchmark(ctx context.Context) {
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		r.notes = append(r.notes, "redis-benchmark not found: no PUBLISH baseline.")
		return
	}
	payload := strings.Repeat("x", 64)
	for _, v := range []struct {
		name string
		args []string
	}{
		{"PUBLISH, 50 clients, no pipelining", []string{"-c", "50"}},
		{"PUBLISH, 50 clients, pipeline 16", []string{"-c", "50", "-P", "16"}},
		{"PUBLISH, 1 client, no pipelining", []string{"-c", "1"}},
	} {
		args := append([]string{"redis-benchmark", "-h", "127.0.0.1", "-p", "6379", "-n", "200000", "-q"}, v.args...)
		args = append(args, "PUBLISH", "siogate-bench-nobody", payload)
		if r.pinned {
			args = append([]string{"taskset", "-c", "1"}, args...)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		out, err := exec.CommandContext(cctx, args[0], args[1:]...).CombinedOutput()
		cancel()
		// -q prints progress with \r; the last figure is the result.
		m := rpsRE.FindAllSubmatch(out, -1)
		if err != nil || len(m) == 0 {
			r.notes = append(r.notes, fmt.Sprintf("redis-benchmark %s: %v %.100q", v.name, err, out))
			continue
		}
		rps, _ := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
		r.pubs = append(r.pubs, pubResult{v.name, rps})
		fmt.Fprintf(os.Stderr, "redis-benchmark %s: %.0f/s\n", v.name, rps)
	}
}

// median returns the median of f over rs (0 when empty).
func median(rs []bench.Result, f func(bench.Result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// busyRuns counts the single-node runs during which other processes used
// more than a quarter of a CPU.
func (r *runner) busyRuns() int {
	n := 0
	for _, byT := range r.single {
		for _, rs := range byT {
			for _, x := range rs {
				if x.OtherUtil > 0.25 {
					n++
				}
			}
		}
	}
	return n
}

func (r *runner) totalRuns() int {
	n := 0
	for _, byT := range r.single {
		for _, rs := range byT {
			n += len(rs)
		}
	}
	return n
}

func sumErrors(rs []bench.Result) int64 {
	var n int64
	for _, r := range rs {
		n += r.Errors + r.ProtocolErrors
	}
	return n
}

// metric says how one scenario is read.
type metric struct {
	rate    string // what the rate column counts
	rateOf  func(bench.Result) float64
	cpuOf   func(bench.Result) float64
	cpuUnit string
	target  string  // the target, in words
	limit   float64 // the ratio it allows
	versus  string  // "floor" or "node"
}

var metrics = map[string]metric{
	"echo": {"acks/s", func(r bench.Result) float64 { return r.OpsPerSec },
		func(r bench.Result) float64 { return r.ServerCPUPerOp }, "µs/ack", "≤ 1.15× floor", 1.15, "floor"},
	"broadcast": {"deliveries/s", func(r bench.Result) float64 { return r.DeliveriesSec },
		func(r bench.Result) float64 { return r.ServerCPUPerDelivery }, "µs/delivery", "≤ 1.0× floor", 1.0, "floor"},
	"connect": {"connections/s", func(r bench.Result) float64 { return r.OpsPerSec },
		func(r bench.Result) float64 { return r.ServerCPUPerOp }, "µs/connection", "≤ 1.2× floor", 1.2, "floor"},
	"binary-echo": {"acks/s", func(r bench.Result) float64 { return r.OpsPerSec },
		func(r bench.Result) float64 { return r.ServerCPUPerOp }, "µs/ack", "≤ 1.3× floor", 1.3, "floor"},
	"polling-echo": {"acks/s", func(r bench.Result) float64 { return r.OpsPerSec },
		func(r bench.Result) float64 { return r.ServerCPUPerOp }, "µs/ack", "≤ 0.5× Node", 0.5, "node"},
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func num(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func (r *runner) writeReport() error {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	now := time.Now().UTC()
	w("# Benchmarks\n\n")
	w("Measured %s by `bench/cmd/benchrun` (`cd bench && go run ./cmd/benchrun`). ", now.Format("2006-01-02 15:04 MST"))
	w("Each cell is the median of %d rounds; each run warms up %v then measures %v (or until its operation cap). ", r.o.rounds, r.o.warmup, r.o.duration)
	w("Servers run on CPU 0 (`taskset -c 0`), the load generator `siobench` on CPU 1 (`taskset -c 1`); targets alternate within each round and every run starts a fresh server. ")
	w("Server CPU is user+system time of the server process(es) from `/proc/<pid>/stat` over the measured window, divided by the operations in it; lower is better. Ratios are siogate over the floor or Node (CPU per operation).\n\n")
	w("## Machine and versions\n\n")
	w("| | |\n|---|---|\n")
	w("| CPU | %s × %s |\n", cmdOut("nproc"), cpuModel())
	w("| kernel | %s |\n", cmdOut("uname", "-sr"))
	w("| load average at start / end | %s / %s |\n", r.load0, loadAvg())
	w("| Go | %s |\n", cmdOut("go", "version"))
	w("| Node | %s, socket.io %s |\n", cmdOut("node", "--version"), npmVersion(r.root, "socket.io"))
	w("| Go modules | %s |\n", r.goModules())
	kafka := "Kafka: not run"
	if r.kafka.version != "" {
		kafka = "Kafka: no real broker; librdkafka's mock cluster (" + r.kafka.version + ", `bench/cmd/kafkamock`)"
	}
	w("| brokers | Redis %s; %s; RabbitMQ %s; %s |\n", redisVersion(), cmdOut("nats-server", "--version"), rabbitVersion(), kafka)
	w("| source | %s |\n\n", r.source())
	if busy := r.busyRuns(); busy > 0 {
		w("**Note:** the machine was not quiet: in %d of %d runs other processes (other engineers' builds and test suites, brokers excluded) used more than 0.25 CPU on average while the run measured (the *others* column below, in CPUs, from `/proc/stat` minus the server and the generator). Absolute numbers are noisy; the ratios, from alternating runs and medians, are the figures to read.\n\n", busy, r.totalRuns())
	}
	if len(r.single) > 0 {
		w("## Single node: siogate vs the floor vs Node socket.io\n\n")
		w("The floor (`bench/cmd/floor`) is a gws WebSocket server with default options answering the same events by rewriting bytes, with no Socket.IO implementation: the least a server on gws can spend. For polling-echo the same binary answers long-polling requests with plain net/http, rewriting bytes the same way (no Engine.IO implementation, no heartbeat): what net/http and the kernel cost for those requests, below which no server built on net/http can go. Node is socket.io %s (`js/fixtures/bench-server.mjs`). The siogate server is `bench/cmd/benchnode` (gateway library, in-memory adapter).\n\n", npmVersion(r.root, "socket.io"))
		w("| scenario | clients | rate | siogate | floor | Node | server CPU | siogate | floor | Node | siogate ÷ floor | siogate ÷ Node | target | p99 siogate / floor / Node (ms) | errors |\n")
		w("|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|---:|\n")
		for _, sc := range strings.Split(r.o.scenarios, ",") {
			m, ok := metrics[sc]
			byT := r.single[sc]
			if !ok || byT == nil {
				continue
			}
			rate := func(t string) float64 { return median(byT[t], m.rateOf) }
			cpu := func(t string) float64 { return median(byT[t], m.cpuOf) }
			p99 := func(t string) string {
				v := median(byT[t], func(r bench.Result) float64 { return r.P99Micros })
				if v == 0 {
					return "–"
				}
				return fmt.Sprintf("%.1f", v/1000)
			}
			clients := 0
			var errs int64
			for _, rs := range byT {
				if len(rs) > 0 {
					clients = rs[0].Clients
				}
				errs += sumErrors(rs)
			}
			sio := cpu("siogate")
			cmp := cpu(m.versus)
			verdict := "–"
			if sio > 0 && cmp > 0 {
				if sio/cmp <= m.limit {
					verdict = m.target + ": **met**"
				} else {
					verdict = m.target + ": **missed**"
				}
			}
			w("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %d |\n",
				sc, clients, m.rate, num(rate("siogate")), num(rate("floor")), num(rate("node")), m.cpuUnit,
				num(sio), num(cpu("floor")), num(cpu("node")), ratio(sio, cpu("floor")), ratio(sio, cpu("node")),
				verdict, p99("siogate"), p99("floor"), p99("node"), errs)
		}
		if byT := r.single["connect"]; byT != nil {
			rss := func(t string) float64 {
				return median(byT[t], func(r bench.Result) float64 { return r.RSSPerConn }) / 1024
			}
			verdict := "≤ 12 KiB: **missed**"
			if v := rss("siogate"); v > 0 && v <= 12 {
				verdict = "≤ 12 KiB: **met**"
			}
			w("\nIdle WebSocket connections (connect scenario, held %s after opening): server RSS growth per connection, KiB: siogate **%.1f**, floor %.1f, Node %.1f (target %s).\n",
				"2s", rss("siogate"), rss("floor"), rss("node"), verdict)
			peak := func(t string) float64 {
				return median(byT[t], func(r bench.Result) float64 { return float64(r.PeakRSS) }) / (1 << 20)
			}
			w("Peak RSS (VmHWM) with those connections open, MiB: siogate %.1f, floor %.1f, Node %.1f.\n", peak("siogate"), peak("floor"), peak("node"))
		}
		w("\nUtilisation (median CPU ÷ wall time; 1.00 = one core busy): server (generator on CPU 1) / others, where *others* is every other process on the machine over the same window:\n\n")
		w("| scenario | siogate | floor | Node |\n|---|---:|---:|---:|\n")
		for _, sc := range strings.Split(r.o.scenarios, ",") {
			byT := r.single[sc]
			if byT == nil {
				continue
			}
			u := func(t string) string {
				if len(byT[t]) == 0 {
					return "–"
				}
				return fmt.Sprintf("%.2f (%.2f) / %.2f", median(byT[t], func(r bench.Result) float64 { return r.ServerUtil }),
					median(byT[t], func(r bench.Result) float64 { return r.GenUtil }),
					median(byT[t], func(r bench.Result) float64 { return r.OtherUtil }))
			}
			w("| %s | %s | %s | %s |\n", sc, u("siogate"), u("floor"), u("node"))
		}
		w("\n")
	}

	if len(r.cross) > 0 {
		w("## Cross-node broadcast (siogate cluster)\n\n")
		w("`cross-node` scenario: %d WebSocket clients spread evenly over the nodes; one sender on the first node asks for broadcasts (up to 4 in flight) that reach every client on every node through the adapter. All nodes share CPU 0; the broker runs unpinned. Server CPU is summed over the nodes (the broker's own CPU is not counted).\n\n", r.o.crossC)
		w("| adapter | nodes | deliveries/s | server CPU µs/delivery (sum over nodes) | p50 / p99 latency (ms) | others incl. broker (CPUs) | errors |\n|---|---:|---:|---:|---|---:|---:|\n")
		keys := []string{"memory/1"}
		for _, br := range strings.Split(r.o.brokers, ",") {
			keys = append(keys, strings.TrimSpace(br)+"/1", strings.TrimSpace(br)+"/3")
		}
		for _, k := range keys {
			rs, ok := r.cross[k]
			if !ok {
				continue
			}
			ad, nodes, _ := strings.Cut(k, "/")
			name := map[string]string{"memory": "memory (single node, reference)", "redis": "Redis 127.0.0.1:6379", "nats": "NATS 127.0.0.1:4222", "amqp": "RabbitMQ 127.0.0.1:5672",
				"kafka": fmt.Sprintf("Kafka (librdkafka mock cluster, FetchWait %v; not a real Kafka)", r.o.kafkaWait)}[ad]
			w("| %s | %s | %s | %s | %.1f / %.1f | %.2f | %d |\n", name, nodes,
				num(median(rs, func(r bench.Result) float64 { return r.DeliveriesSec })),
				num(median(rs, func(r bench.Result) float64 { return r.ServerCPUPerDelivery })),
				median(rs, func(r bench.Result) float64 { return r.P50Micros })/1000,
				median(rs, func(r bench.Result) float64 { return r.P99Micros })/1000,
				median(rs, func(r bench.Result) float64 { return r.OtherUtil }), sumErrors(rs))
		}
		if len(r.cross["kafka/1"])+len(r.cross["kafka/3"]) > 0 {
			w("\nThe Kafka rows do not measure a Kafka broker: none could be installed on this machine, so the broker is librdkafka's mock cluster (`bench/cmd/kafkamock`, %s), which speaks the Kafka protocol from memory, and the nodes run the real Kafka adapter (segmentio/kafka-go, one single-partition topic per channel, created through the mock's own API). ", r.kafka.version)
			w("The mock does not answer a waiting fetch when a message arrives, so a message reaches the other nodes only when the reader's pending fetch ends, after the adapter's `FetchWait` (%v here; the adapter's default is 500ms): the delay Kafka adds to a cross-node delivery (up to %v) is set by that option, not by the broker, and every reader polls the mock every %v even when idle (CPU the nodes' column includes). ", r.o.kafkaWait, r.o.kafkaWait, r.o.kafkaWait)
			w("The mock broker's CPU is not in the server CPU column (like every broker's, it is under *others*), and its throughput is the mock's, not Kafka's: read these rows as the adapter's cost on the nodes, not as a Kafka figure.\n")
		}
		if len(r.pubs) > 0 {
			w("\nRedis PUBLISH throughput on the same machine in the same run (`redis-benchmark -n 200000 PUBLISH <channel> <64 bytes>`, pinned to CPU 1, no subscriber):\n\n")
			w("| redis-benchmark | publishes/s |\n|---|---:|\n")
			for _, p := range r.pubs {
				w("| %s | %.0f |\n", p.name, p.rps)
			}
		}
		w("\n")
	}
	if len(r.notes) > 0 {
		w("## Notes from this run\n\n")
		for _, n := range r.notes {
			w("- %s\n", n)
		}
		w("\n")
	}
	// The analysis of the targets (what the profiles show) is written by
	// hand next to the tool and copied in as it stands.
	if analysis, err := os.ReadFile(filepath.Join(r.root, "bench", "ANALYSIS.md")); err == nil {
		w("%s\n", strings.TrimSpace(string(analysis)))
		w("\n")
	}
	w("## Reproduce\n\n")
	w("```sh\ncd bench\ngo run ./cmd/benchrun -rounds %d -duration %v   # writes ../BENCHMARKS.md\n", r.o.rounds, r.o.duration)
	w("go build -o /tmp/sb/ ./cmd/...\n/tmp/sb/benchnode --addr 127.0.0.1:3000 &   # or /tmp/sb/floor, or node ../js/fixtures/bench-server.mjs 3000\n")
	w("/tmp/sb/siobench -scenario echo -addr 127.0.0.1:3000 -pids $! -duration 5s\n```\n")
	if err := os.WriteFile(r.o.out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "benchrun: wrote", r.o.out)
	return nil
}

func cmdOut(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func npmVersion(root, pkg string) string {
	b, err := os.ReadFile(filepath.Join(root, "js", "node_modules", pkg, "package.json"))
	if err != nil {
		return "unknown"
	}
	var v struct{ Version string }
	if json.Unmarshal(b, &v) != nil {
		return "unknown"
	}
	return v.Version
}

func redisVersion() string {
	for _, f := range strings.Fields(cmdOut("redis-server", "--version")) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return "unknown"
}

// source names the code measured: the commit and how many files differ
// from it in the working tree.
func (r *runner) source() string {
	head := cmdOut("git", "-C", r.root, "rev-parse", "--short", "HEAD")
	status := cmdOut("git", "-C", r.root, "status", "--porcelain")
	n := 0
	if status != "unknown" && status != "" {
		n = len(strings.Split(status, "\n"))
	}
	return fmt.Sprintf("git %s, working tree with %d changed or new paths (built once at the start of the run)", head, n)
}

func rabbitVersion() string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", "version").Output()
	if err != nil {
		return "unknown"
	}
	return firstLine(strings.TrimSpace(string(out)))
}

// goModules lists the versions of the third-party modules under test.
func (r *runner) goModules() string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "github.com/lxzan/gws", "github.com/redis/go-redis/v9", "github.com/nats-io/nats.go", "github.com/rabbitmq/amqp091-go", "github.com/segmentio/kafka-go")
	cmd.Dir = filepath.Join(r.root, "bench")
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", ",")), " ")
}
