//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/client"
)

// drainReport is the last line of js/interop/drain-clients.mjs.
type drainReport struct {
	Ev                 string
	Clients            int
	Connected          int
	Complete           int
	ReconnectedClients int
	Reconnects         []int64 // epoch ms
	Disconnects        []int64 // epoch ms
	NotRecovered       int
	Reasons            map[string]int
	ConnectErrors      map[string]int
	Bad                []any
	LoopDelayMaxMs     float64
	Message            string
}

// drainClients is one node process of drain-clients.mjs.
type drainClients struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan drainReport
	stderr *strings.Builder
}

func startDrainClients(t *testing.T, jsDir, url string, n int) *drainClients {
	t.Helper()
	cmd := exec.Command("node", filepath.Join(jsDir, "interop", "drain-clients.mjs"), url, fmt.Sprint(n))
	cmd.Dir = jsDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	dc := &drainClients{cmd: cmd, stdin: stdin, lines: make(chan drainReport, 4), stderr: &strings.Builder{}}
	cmd.Stderr = dc.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(dc.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			var r drainReport
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				r = drainReport{Ev: "error", Message: "bad line: " + sc.Text()}
			}
			dc.lines <- r
		}
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-read
		_ = cmd.Wait()
	})
	return dc
}

// next returns the script's next line, which must be ev.
func (dc *drainClients) next(t *testing.T, ev string, within time.Duration) drainReport {
	t.Helper()
	select {
	case r, ok := <-dc.lines:
		if !ok {
			t.Fatalf("drain-clients.mjs ended before %q: %s", ev, dc.stderr.String())
		}
		if r.Ev != ev {
			t.Fatalf("drain-clients.mjs: %+v, want %q; stderr %s", r, ev, dc.stderr.String())
		}
		return r
	case <-time.After(within):
		t.Fatalf("no %q from drain-clients.mjs within %v", ev, within)
	}
	return drainReport{}
}

// TestDrainAtScale: three gateway processes behind the deploy/haproxy.cfg
// recipe, recovery on Redis (a private redis-server), 3,000 socket.io-client
// connections (three Node processes of 1,000, WebSocket, default
// reconnection settings). A Go client streams numbered chat messages into
// the lobby, four a second; the node that holds a third of the clients gets
// SIGTERM with --drain-window 10s. Every client ends connected to one of
// the two other nodes, every reconnection recovered the session (same id),
// every client got every message once and in order, and the reconnections
// per second the survivors see (their connection count, sampled) stay
// under the README's bound: 2 × held / window (plus what the clients' own
// stalls on this machine add, measured).
func TestDrainAtScale(t *testing.T) {
	if _, err := os.Stat(haproxyBin); err != nil {
		t.Fatalf("HAProxy is needed: apt-get install haproxy (%v)", err)
	}
	jsDir, err := filepath.Abs("../../../js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client")); err != nil {
		t.Fatalf("run npm ci in js/ first: %v", err)
	}
	const (
		procs     = 3
		perProc   = 1000
		clients   = procs * perProc
		window    = 10 * time.Second
		interval  = 250 * time.Millisecond // between messages
		recoverBy = 40 * time.Second       // after SIGTERM, for everyone to be back
	)
	// A redis-server of the test's own: no other test's load on it, and
	// nothing left behind (the stream, 3,000 sessions) once it is killed.
	redisURL := privateRedis(t)
	bin := buildGateway(t)
	nodes, nodeProcs, lb := startBehindHAProxy(t, bin, "--adapter", "redis", "--redis-url", redisURL,
		"--recovery", "--recovery-store", "redis",
		"--cookie", "io", "--log-level", "warn", "--drain-window", window.String())

	var scripts []*drainClients
	for range procs {
		scripts = append(scripts, startDrainClients(t, jsDir, "http://"+lb, perProc))
	}
	for _, s := range scripts {
		s.next(t, "ready", 90*time.Second)
	}
	held := make([]int, len(nodes))
	total := 0
	for i, n := range nodes {
		held[i] = status(t, n).Sockets
		total += held[i]
	}
	if total != clients {
		t.Fatalf("sockets over the nodes %v, want %d", held, clients)
	}
	drained, survivors := nodes[0], nodes[1:]
	if held[0] < clients/6 {
		t.Fatalf("the balancer gave the node to drain only %d of %d clients: %v", held[0], clients, held)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	producer := client.New(client.Options{Transports: []string{"websocket"}, DisableReconnection: true})
	if err := producer.Connect(ctx, "http://"+survivors[0]); err != nil {
		t.Fatal(err)
	}
	defer producer.Shutdown()

	exited := make(chan struct{})
	proc := nodeProcs[drained]
	var term, exitAt time.Time
	// From SIGTERM on, the connections and sockets the survivors hold,
	// five times a second. A reconnection is a connection at once (its
	// rate is the reconnection rate) and a socket once its session is
	// recovered from the store.
	samples := make(chan []socketSample, 1)
	stopSampling := make(chan struct{})
	sample := func() socketSample {
		var conns, socks int
		for _, s := range survivors {
			st, err := statusOf(s)
			if err != nil {
				return socketSample{at: time.Now(), n: -1, sockets: -1}
			}
			conns += st.Connections
			socks += st.Sockets
		}
		return socketSample{at: time.Now(), n: conns, sockets: socks}
	}
	var last atomic.Int64
	// Until the node exits and the survivors hold every client (and the
	// producer), then eight more messages (2 s) for the last ones to come
	// back.
	sent, tail := 0, -1
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for tail != 0 {
		<-tk.C
		sent++
		if err := producer.Emit("chat", fmt.Sprint(sent)); err != nil {
			t.Fatal(err)
		}
		switch {
		case sent == 5:
			term = time.Now()
			go func() { <-proc.done; exitAt = time.Now(); close(exited) }()
			if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			go func() {
				var got []socketSample
				tk := time.NewTicker(200 * time.Millisecond)
				defer tk.Stop()
				for {
					s := sample()
					got = append(got, s)
					last.Store(int64(s.sockets))
					select {
					case <-stopSampling:
						samples <- got
						return
					case <-tk.C:
					}
				}
			}()
		case tail > 0:
			tail--
		case sent > 5:
			select {
			case <-exited:
				if last.Load() == clients+1 {
					tail = 8
				}
			default:
			}
			if time.Since(term) > recoverBy {
				select {
				case <-exited:
					t.Fatalf("%v after SIGTERM the survivors hold %d sockets, want every client and the producer (%d)", recoverBy, last.Load(), clients+1)
				default:
					t.Fatalf("the drained node has not exited %v after SIGTERM (drain window %v)", recoverBy, window)
				}
			}
		}
	}
	close(stopSampling)
	seen := <-samples
	exitedAfter := exitAt.Sub(term)
	for _, s := range scripts {
		if _, err := fmt.Fprintf(s.stdin, "end %d\n", sent); err != nil {
			t.Fatal(err)
		}
	}
	var reconnects, disconnects []int64
	reconnected, reasons := 0, map[string]int{}
	var stall float64 // the longest event loop delay of the clients, ms
	for i, s := range scripts {
		r := s.next(t, "report", 60*time.Second)
		if r.Connected != r.Clients || r.Complete != r.Clients || r.NotRecovered != 0 {
			t.Errorf("clients of process %d: %d connected, %d got messages 1..%d once and in order, of %d; %d reconnections without recovery; first bad ones %v",
				i, r.Connected, r.Complete, sent, r.Clients, r.NotRecovered, r.Bad)
		}
		t.Logf("process %d: event loop delay up to %.0f ms; connect errors %v (retried)", i, r.LoopDelayMaxMs, r.ConnectErrors)
		stall = max(stall, r.LoopDelayMaxMs)
		reconnects = append(reconnects, r.Reconnects...)
		disconnects = append(disconnects, r.Disconnects...)
		reconnected += r.ReconnectedClients
		for k, v := range r.Reasons {
			reasons[k] += v
		}
	}
	// Every client of the drained node came back once, as a dropped
	// transport that reconnects (not "io server disconnect").
	if reconnected != held[0] || reasons["transport close"] != held[0] || len(reasons) != 1 {
		t.Errorf("%d clients reconnected, disconnect reasons %v; want the %d of the drained node, each once by %q",
			reconnected, reasons, held[0], "transport close")
	}
	// The reconnection rate at the survivors, against the README's bound
	// 2 × N / W. This machine runs the clients too: when their event
	// loops stall for D, the reconnections due in those D seconds start
	// together, so the test allows (2 + D/1s) × N / W, D measured (on a
	// quiet machine D is tens of milliseconds).
	peak := peakRate(seen)
	_, reconnectCurve := perSecond(term, reconnects)
	_, closeCurve := perSecond(term, disconnects)
	perSec := float64(held[0]) / window.Seconds()
	bound := (2 + stall/1000) * perSec
	t.Logf("%d clients (%v per node); drained node exited %v after SIGTERM; %d messages", clients, held, exitedAfter.Round(100*time.Millisecond), sent)
	t.Logf("as the clients saw them, per second after SIGTERM: disconnections %s; reconnections %s", closeCurve, reconnectCurve)
	t.Logf("reconnections at the survivors (new connections): peak %.0f/s over 1 s; bound 2 × %d / %v = %.0f/s, allowing for the clients' stalls (%.0f ms) %.0f/s",
		peak, held[0], window, 2*perSec, stall, bound)
	if peak > bound {
		t.Errorf("peak reconnection rate at the survivors %.0f/s over the bound (2 + %.2f) × %d / %v = %.0f/s", peak, stall/1000, held[0], window, bound)
	}
}

// perSecond counts the epoch-ms times in each second after t0, and
// returns the largest count and the counts as "second:count" words.
func perSecond(t0 time.Time, times []int64) (peak int, curve string) {
	counts := map[int64]int{}
	for _, ms := range times {
		counts[(ms-t0.UnixMilli())/1000]++
	}
	var secs []int64
	for s, n := range counts {
		secs = append(secs, s)
		peak = max(peak, n)
	}
	slices.Sort(secs)
	var words []string
	for _, s := range secs {
		words = append(words, fmt.Sprintf("%ds:%d", s, counts[s]))
	}
	return peak, strings.Join(words, " ")
}

// socketSample is what the survivors held at a time: n connections and
// the sockets (both < 0: a node did not answer).
type socketSample struct {
	at         time.Time
	n, sockets int
}

// peakRate returns the highest rate at which the count grew over an
// interval of at least one second between two samples.
func peakRate(samples []socketSample) float64 {
	var peak float64
	for i, s := range samples {
		if s.n < 0 {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			if p := samples[j]; p.n >= 0 && s.at.Sub(p.at) >= time.Second {
				peak = max(peak, float64(s.n-p.n)/s.at.Sub(p.at).Seconds())
				break
			}
		}
	}
	return peak
}

// statusOf reads a node's /status.
func statusOf(addr string) (nodeStatus, error) {
	var s nodeStatus
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get("http://" + addr + "/status")
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	err = json.NewDecoder(res.Body).Decode(&s)
	return s, err
}

// privateRedis starts a redis-server for the test alone, killed at its
// end, and returns its URL.
func privateRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed (Debian package redis-server): %v", err)
	}
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	startProc(t, nil, bin, "--port", port, "--bind", host, "--save", "", "--appendonly", "no")
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rc.Ping(ctx).Err()
		cancel()
		if err == nil {
			// A pool above go-redis's default (10 per CPU): see the
			// README's note on reconnection bursts with recovery.
			return "redis://" + addr + "/0?pool_size=64"
		}
		if time.Now().After(deadline) {
			t.Fatalf("private redis-server on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
