//go:build linux

package main

// Worker forwarding with real processes: gateway nodes (this binary, with
// --workers), worker processes (internal/workerproc, on the worker
// module) and the official socket.io-client (js/interop/worker-clients.mjs),
// on the shared Redis and NATS with names of their own.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
)

const (
	workersNATSURL = "nats://127.0.0.1:4222"
	workersAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"
)

// workersBuild holds the gateway and workerproc binaries, built once per
// test binary; TestMain removes them.
var workersBuild struct {
	once    sync.Once
	dir     string
	gateway string
	worker  string
	err     error
}

func workersBinaries(t *testing.T) (gatewayBin, workerBin string) {
	t.Helper()
	workersBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "siogate-workers-")
		if err != nil {
			workersBuild.err = err
			return
		}
		workersBuild.dir = dir
		workersBuild.gateway = filepath.Join(dir, "gateway")
		workersBuild.worker = filepath.Join(dir, "workerproc")
		for _, b := range [][2]string{{workersBuild.gateway, "."}, {workersBuild.worker, "./internal/workerproc"}} {
			args := []string{"build", "-o", b[0]}
			if raceBuild() {
				args = append(args, "-race")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			out, err := exec.CommandContext(ctx, "go", append(args, b[1])...).CombinedOutput()
			cancel()
			if err != nil {
				workersBuild.err = fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
				return
			}
		}
	})
	if workersBuild.err != nil {
		t.Fatal(workersBuild.err)
	}
	return workersBuild.gateway, workersBuild.worker
}

// workersSetup names one test's cluster: channel prefix and queue.
type workersSetup struct {
	// redeliver is the workers' --redeliver (default 3s); replyWait the
	// nodes' --worker-timeout (default 30s).
	redeliver string
	replyWait time.Duration
	adapter   string // the cluster adapter, which carries the replies
	broker    string // the work queue's broker
	kafkaURL  string // librdkafka's mock cluster, for broker kafka
	prefix    string
	queue     string
	dir       string
}

func newWorkersSetup(t *testing.T, adapterName, broker string) *workersSetup {
	var b [5]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s := &workersSetup{redeliver: "3s", replyWait: 30 * time.Second, adapter: adapterName, broker: broker, prefix: "wtest-" + id, queue: "wtest_" + id, dir: t.TempDir()}
	t.Cleanup(func() { s.deleteQueue(t) })
	return s
}

func (s *workersSetup) brokerFlags() []string {
	return []string{"--redis-url", "redis://" + clusterRedisAddr + "/0", "--nats-url", workersNATSURL,
		"--amqp-url", workersAMQPURL, "--kafka-url", s.kafkaURL}
}

func (s *workersSetup) deleteQueue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch s.broker {
	case "redis":
		c := redis.NewClient(&redis.Options{Addr: clusterRedisAddr})
		defer c.Close()
		_ = c.Del(ctx, s.queue).Err()
	case "nats":
		nc, err := nats.Connect(workersNATSURL)
		if err != nil {
			t.Errorf("deleting stream %s: %v", s.queue, err)
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if err := js.DeleteStream(ctx, s.queue); err != nil && err != jetstream.ErrStreamNotFound {
			t.Errorf("deleting stream %s: %v", s.queue, err)
		}
	case "amqp":
		q := amqpadapter.NewWorkQueue(amqpadapter.WorkQueueOptions{URL: workersAMQPURL, Queue: s.queue})
		defer q.Close()
		if err := q.Delete(ctx); err != nil {
			t.Errorf("deleting queue %s: %v", s.queue, err)
		}
	}
}

// queued returns the events waiting in the queue (stream length).
func (s *workersSetup) queued(t *testing.T) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch s.broker {
	case "redis":
		c := redis.NewClient(&redis.Options{Addr: clusterRedisAddr})
		defer c.Close()
		n, err := c.XLen(ctx, s.queue).Result()
		if err != nil {
			t.Fatalf("XLEN %s: %v", s.queue, err)
		}
		return int(n)
	case "amqp":
		conn, err := amqp.Dial(workersAMQPURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ch.QueueDeclarePassive(s.queue, true, false, false, false, nil)
		if err != nil {
			t.Fatalf("queue %s: %v", s.queue, err)
		}
		return q.Messages
	default:
		nc, err := nats.Connect(workersNATSURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		st, err := js.Stream(ctx, s.queue)
		if err != nil {
			t.Fatalf("stream %s: %v", s.queue, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int(info.State.Msgs)
	}
}

// node starts one gateway node; it returns its URL and metrics URL.
func (s *workersSetup) node(t *testing.T, bin, name string, extra ...string) (url, metricsURL string) {
	args := append([]string{"--adapter", s.adapter, "--channel-prefix", s.prefix, "--workers", s.broker}, s.brokerFlags()...)
	args = append(args, "--worker-queue", s.queue, "--worker-events", "job,fail", "--demo=false",
		"--log-level", "warn", "--drain-window", "1s")
	n := startGateway(t, name, bin, true, append(args, extra...)...)
	return "http://" + n.addr, "http://" + n.metricsAddr + "/metrics"
}

// worker starts one worker process recording ids into its own file.
func (s *workersSetup) worker(t *testing.T, bin, name string) (*clusterProc, string) {
	out := filepath.Join(s.dir, name+".ids")
	args := append([]string{"--queue-broker", s.broker, "--reply-broker", s.adapter}, s.brokerFlags()...)
	cmd := exec.Command(bin, append(args,
		"--queue", s.queue, "--prefix", s.prefix, "--out", out, "--name", name, "--redeliver", s.redeliver)...)
	lines := &clusterLines{}
	cmd.Stdout, cmd.Stderr = lines, lines
	p := startClusterProc(t, name, cmd)
	t.Cleanup(func() {
		if s := lines.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
			t.Errorf("%s reported a race or panic:\n%s", name, s)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(lines.String(), "workerproc ready") {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s did not start: %s", name, lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p, out
}

// clientsResult is the last line of worker-clients.mjs.
type clientsResult struct {
	Acked  int               `json:"acked"`
	Wrong  int               `json:"wrong"`
	Codes  map[string]int    `json:"codes"`
	IDs    map[string]string `json:"ids"`
	Errors []string          `json:"errors"`
	MS     int               `json:"ms"`
}

// startClients runs worker-clients.mjs; wait returns its result.
func startClients(t *testing.T, urls []string, clients, events, window int, timeout time.Duration) (wait func() clientsResult) {
	return startClientsEvent(t, urls, clients, events, window, timeout, "job")
}

// startClientsEvent is startClients sending another event.
func startClientsEvent(t *testing.T, urls []string, clients, events, window int, timeout time.Duration, event string) (wait func() clientsResult) {
	nodeBin, jsDir := clusterRequirements(t)
	cmd := exec.Command(nodeBin, filepath.Join(jsDir, "interop", "worker-clients.mjs"), strings.Join(urls, ","),
		strconv.Itoa(clients), strconv.Itoa(events), strconv.Itoa(window), strconv.Itoa(int(timeout.Milliseconds())), event)
	cmd.Dir = jsDir
	stdout, stderr := &clusterLines{}, &clusterLines{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	p := startClusterProc(t, "worker-clients", cmd)
	return func() clientsResult {
		select {
		case <-p.done:
		case <-time.After(180 * time.Second):
			t.Fatalf("worker-clients did not finish within 180s; stderr: %s", stderr)
		}
		if p.err != nil {
			t.Fatalf("worker-clients failed: %v\nstdout: %s\nstderr: %s", p.err, tail(stdout.String()), stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var r clientsResult
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
			t.Fatalf("worker-clients result: %v: %s", err, tail(stdout.String()))
		}
		return r
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// readIDs counts the complete lines "id sid" of a worker's file.
func readIDs(t *testing.T, path string) map[string]int {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := sc.Text()
		if id, _, ok := strings.Cut(line, " "); ok {
			out[id]++
		}
	}
	// A worker killed mid-write may leave a last line without its end:
	// that line is not counted (its event was not answered).
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		last := string(raw[strings.LastIndexByte(string(raw[:len(raw)-1]), '\n')+1:])
		if id, _, ok := strings.Cut(last, " "); ok {
			out[id]--
			if out[id] == 0 {
				delete(out, id)
			}
		}
	}
	return out
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// TestWorkersExactlyOnce: two gateway nodes, three workers; 10,000 events
// with acks from socket.io-client sockets spread over both nodes. Every
// ack comes back to its socket with its own payload, every event reaches
// the workers once (by event id); with one worker SIGKILLed mid-stream,
// every event still reaches a worker, and only events the dead worker
// held are seen twice. The cluster adapter is the queue's broker.
func TestWorkersExactlyOnce(t *testing.T) {
	for _, broker := range []string{"redis", "nats", "amqp"} {
		for _, kill := range []bool{false, true} {
			name := broker
			if kill {
				name += "/kill-a-worker"
			}
			t.Run(name, func(t *testing.T) {
				maxDups := 0
				if kill {
					maxDups = 64 // at most the killed worker's window (32)
				}
				runExactlyOnce(t, newWorkersSetup(t, broker, broker), kill, maxDups, true)
			})
		}
	}
}

// runExactlyOnce runs the 10,000 events; with kill it SIGKILLs the first
// worker after its 1,000th event. At most maxDups events may be handled
// twice, and then only ones the killed worker handled when killedOnly.
func runExactlyOnce(t *testing.T, s *workersSetup, kill bool, maxDups int, killedOnly bool) {
	gatewayBin, workerBin := workersBinaries(t)
	url1, _ := s.node(t, gatewayBin, "node1", "--worker-timeout", s.replyWait.String())
	url2, _ := s.node(t, gatewayBin, "node2", "--worker-timeout", s.replyWait.String())
	var files []string
	var procs []*clusterProc
	for i := range 3 {
		p, f := s.worker(t, workerBin, fmt.Sprintf("w%d", i+1))
		procs, files = append(procs, p), append(files, f)
	}
	// Warm-up: every worker handles events before the run (a Kafka group
	// has then given each its partitions; no rebalance in the run).
	want := map[string]bool{}
	for deadline := time.Now().Add(2 * s.replyWait); ; {
		r := startClients(t, []string{url1, url2}, 2, 12, 4, s.replyWait+10*time.Second)()
		for _, id := range r.IDs {
			want[id] = true
		}
		idle := 0
		for _, f := range files {
			if countLines(f) == 0 {
				idle++
			}
		}
		if idle == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers have handled none of %d warm-up events in %v", idle, len(want), 2*s.replyWait)
		}
	}
	warm := make([]int, len(files))
	for i, f := range files {
		warm[i] = countLines(f)
	}
	const clients, perClient = 20, 500
	start := time.Now()
	wait := startClients(t, []string{url1, url2}, clients, perClient, 10, s.replyWait+30*time.Second)
	if kill {
		deadline := time.Now().Add(60 * time.Second)
		for countLines(files[0]) < warm[0]+1000 {
			if time.Now().After(deadline) {
				t.Fatalf("w1 handled only %d events in 60s", countLines(files[0])-warm[0])
			}
			time.Sleep(5 * time.Millisecond)
		}
		procs[0].kill(t)
	}
	r := wait()
	t.Logf("%d events acked in %v (clients' view %dms)", r.Acked, time.Since(start).Round(time.Millisecond), r.MS)
	if r.Acked != clients*perClient || r.Wrong != 0 || len(r.Codes) != 0 {
		t.Fatalf("acked %d of %d, wrong %d, error codes %v; first problems: %v", r.Acked, clients*perClient, r.Wrong, r.Codes, r.Errors)
	}
	// Every acked event's id, unique per event.
	for k, id := range r.IDs {
		if want[id] {
			t.Fatalf("event id %s answered for two events (%s)", id, k)
		}
		want[id] = true
	}
	seen := map[string]int{}
	perWorker := make([]map[string]int, len(files))
	for i, f := range files {
		perWorker[i] = readIDs(t, f)
		for id, n := range perWorker[i] {
			seen[id] += n
		}
	}
	dups := 0
	for id, n := range seen {
		if !want[id] {
			t.Errorf("a worker handled event %s, which no client got an ack for", id)
		}
		if n > 1 {
			dups++
			if killedOnly && (!kill || perWorker[0][id] == 0) {
				t.Errorf("event %s handled %d times, not by the killed worker", id, n)
			}
		}
	}
	for id := range want {
		if seen[id] == 0 {
			t.Errorf("event %s was acked but no worker recorded it", id)
		}
	}
	t.Logf("handled by the workers %d / %d / %d, %d events seen twice (redelivered)",
		len(perWorker[0]), len(perWorker[1]), len(perWorker[2]), dups)
	if dups > maxDups {
		t.Errorf("%d events handled twice, more than %d", dups, maxDups)
	}
	if s.broker != "kafka" {
		clusterEventually(t, "the queue drains", func() error {
			if n := s.queued(t); n != 0 {
				return fmt.Errorf("%d events still queued", n)
			}
			return nil
		})
	}
	// Refusals: an event off the allow-list, and a worker's error.
	for event, code := range map[string]string{"nope": "not_allowed", "fail": "worker_error"} {
		r := startClientsEvent(t, []string{url1, url2}, 2, 5, 5, 10*time.Second, event)()
		if r.Acked != 0 || r.Codes[code] != 10 {
			t.Errorf("event %q: want 10 answers with code %s, got %d acked, codes %v, %v", event, code, r.Acked, r.Codes, r.Errors)
		}
	}
}

// metricValue reads one unlabelled sample from a Prometheus text page.
func metricValue(t *testing.T, url, name string) float64 {
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("%s not found on %s", name, url)
	return 0
}

// TestWorkersDown: with no worker running, a flood of events gets clear
// errors (overloaded once the in-flight bound is reached, timeout for the
// events queued), the node's goroutines and heap stay bounded, and the
// events the broker accepted are all handled once a worker starts.
func TestWorkersDown(t *testing.T) {
	gatewayBin, workerBin := workersBinaries(t)
	for _, broker := range []string{"redis", "nats", "amqp"} {
		t.Run(broker, func(t *testing.T) {
			s := newWorkersSetup(t, broker, broker)
			url, murl := s.node(t, gatewayBin, "node", "--worker-timeout", "1s", "--worker-max-inflight", "100")
			goroutines0 := metricValue(t, murl, "go_goroutines")
			const clients, perClient = 20, 250
			wait := startClients(t, []string{url}, clients, perClient, 20, 30*time.Second)
			var maxG, maxHeap float64
			done := make(chan clientsResult, 1)
			go func() { done <- wait() }()
			var r clientsResult
		poll:
			for {
				select {
				case r = <-done:
					break poll
				case <-time.After(100 * time.Millisecond):
					maxG = max(maxG, metricValue(t, murl, "go_goroutines"))
					maxHeap = max(maxHeap, metricValue(t, murl, "go_memstats_heap_inuse_bytes"))
				}
			}
			t.Logf("%s: codes %v; node goroutines %v at rest, at most %v under the flood; heap in use at most %.1f MiB",
				broker, r.Codes, goroutines0, maxG, maxHeap/(1<<20))
			if r.Acked != 0 || r.Wrong != 0 {
				t.Fatalf("with no worker, %d events were acked (%d wrong)", r.Acked, r.Wrong)
			}
			// unavailable: the broker, slow on a loaded machine, did not
			// confirm a push in time (also a clear refusal).
			if r.Codes["overloaded"]+r.Codes["timeout"]+r.Codes["unavailable"] != clients*perClient || r.Codes["overloaded"] == 0 || r.Codes["timeout"] == 0 {
				t.Fatalf("want every event refused with overloaded, timeout or unavailable, got %v; %v", r.Codes, r.Errors)
			}
			// 20 sockets, 100 events in flight (pushes included): a few
			// hundred goroutines at most, whatever the flood's length.
			if maxG > goroutines0+300 {
				t.Errorf("goroutines grew from %v to %v under the flood", goroutines0, maxG)
			}
			if maxHeap > 64<<20 {
				t.Errorf("heap in use reached %.1f MiB", maxHeap/(1<<20))
			}
			// Every queued event was answered timeout, or unavailable when
			// the broker stored it but its confirmation came too late; a
			// push confirmed after the timeout is queued without counting as
			// forwarded: forwarded <= queued <= timeouts + unavailable.
			forwarded := metricValue(t, murl, "siogate_worker_events_forwarded_total")
			queued := s.queued(t)
			if answered := r.Codes["timeout"] + r.Codes["unavailable"]; forwarded > float64(queued) || queued > answered || queued == 0 {
				t.Errorf("forwarded %v, queued %d, answered timeout or unavailable %d: want 0 < forwarded <= queued <= answered", forwarded, queued, answered)
			}
			// A worker comes: it handles every queued event (their answers
			// come too late and are dropped by the node).
			_, f := s.worker(t, workerBin, "late")
			clusterEventually(t, "the late worker handles the queue", func() error {
				if n := len(readIDs(t, f)); n != queued {
					return fmt.Errorf("late worker handled %d of %d", n, queued)
				}
				if n := s.queued(t); n != 0 {
					return fmt.Errorf("%d still queued", n)
				}
				return nil
			})
		})
	}
}
