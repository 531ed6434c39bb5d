//go:build linux

package main

// Multi-node tests with real processes: three gateway nodes (the
// internal/clusternode fixture, built once) on the Redis adapter over the
// shared Redis at 127.0.0.1:6379 with a channel prefix of their own, and
// clients spread over them: Go clients (module client) and the official
// socket.io-client run by node (js/interop/cluster-client.mjs). The last
// subtest SIGKILLs one node and checks that the two others keep working
// and that cluster requests end within the request timeout.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/client"
	"github.com/siogate/siogate/emitter"
)

const (
	clusterRedisAddr   = "127.0.0.1:6379"
	clusterReqTimeout  = 2 * time.Second  // the nodes' cluster request timeout
	clusterWait        = 10 * time.Second // bound of every wait for something to happen
	clusterCallTimeout = 8 * time.Second  // bound of one client request to a node
	clusterSettle      = 300 * time.Millisecond
)

// clusterBuild is the fixture binary, built once per test binary.
var clusterBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{clusterBuild.dir, workersBuild.dir} {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// raceBuild reports whether this test binary was built with -race; the
// fixture is then built with it too, and a race it reports fails the test.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// clusterNodeBinary builds ./internal/clusternode once into a temp dir.
func clusterNodeBinary(t *testing.T) string {
	t.Helper()
	clusterBuild.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		dir, err := os.MkdirTemp("", "siogate-clusternode-")
		if err != nil {
			clusterBuild.err = err
			return
		}
		clusterBuild.dir = dir
		clusterBuild.path = filepath.Join(dir, "clusternode")
		args := []string{"build", "-o", clusterBuild.path}
		if raceBuild() {
			args = append(args, "-race")
		}
		args = append(args, "./internal/clusternode")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			clusterBuild.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if clusterBuild.err != nil {
		t.Fatalf("building the cluster node fixture: %v", clusterBuild.err)
	}
	return clusterBuild.path
}

// clusterRequirements fails (never skips) with a clear message when Redis,
// node or socket.io-client is missing, and returns node and the js dir.
func clusterRequirements(t *testing.T) (nodeBin, jsDir string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", clusterRedisAddr, 2*time.Second)
	if err != nil {
		t.Fatalf("cluster tests need Redis on %s: %v", clusterRedisAddr, err)
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write([]byte("PING\r\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || !strings.HasPrefix(line, "+PONG") {
		t.Fatalf("cluster tests need Redis on %s: PING answered %q, %v", clusterRedisAddr, line, err)
	}
	jsDir, err = filepath.Abs(filepath.Join("..", "..", "..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	nodeBin, err = exec.LookPath("node")
	if err != nil {
		t.Fatalf("cluster tests need Node.js: `node` is not on PATH (%v); install Node.js 18+ and run `npm ci` in %s", err, jsDir)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client", "package.json")); err != nil {
		t.Fatalf("cluster tests need socket.io-client: %s/node_modules is incomplete (%v); run `npm ci` in %s", jsDir, err, jsDir)
	}
	return nodeBin, jsDir
}

// clusterLines is a goroutine-safe writer keeping what a process printed.
type clusterLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *clusterLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *clusterLines) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// clusterProc is a child process in its own process group, SIGKILLed with
// its group at the end of the test (or by kill).
type clusterProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startClusterProc(t *testing.T, name string, cmd *exec.Cmd) *clusterProc {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &clusterProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	return p
}

// kill SIGKILLs the process group and waits (bounded) for the exit.
func (p *clusterProc) kill(t *testing.T) {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Errorf("%s did not exit within 5s of SIGKILL", p.name)
	}
}

// stop SIGSTOPs the process group and waits until every thread of the
// process is stopped. kill(2) returns before the stop takes effect: the
// group stop is carried out by a thread of the target once it is
// scheduled, so on a busy machine another of its threads can go on running
// (and answer a request) for milliseconds after the signal was sent.
func (p *clusterProc) stop(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", p.name, err)
	}
	task := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		running, err := runningThreads(task)
		if err != nil {
			t.Fatalf("reading the threads of %s: %v", p.name, err)
		}
		if running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d threads still running 10s after SIGSTOP", p.name, running)
		}
		time.Sleep(time.Millisecond)
	}
}

// runningThreads counts the threads under a /proc/<pid>/task folder that
// are not in the stopped state (T or t in field 3 of their stat file).
func runningThreads(task string) (int, error) {
	entries, err := os.ReadDir(task)
	if err != nil {
		return 0, err
	}
	running := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(task, e.Name(), "stat"))
		if err != nil {
			continue // the thread exited
		}
		// The command name (field 2) is in parentheses and may hold
		// spaces: the state follows the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			return 0, fmt.Errorf("unexpected stat line %q", b)
		}
		if st := b[i+2]; st != 'T' && st != 't' {
			running++
		}
	}
	return running, nil
}

func (p *clusterProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// clusterNode is one gateway process.
type clusterNode struct {
	name   string
	url    string
	proc   *clusterProc
	stderr *clusterLines
}

func startClusterNode(t *testing.T, bin, name, prefix string) *clusterNode {
	t.Helper()
	stdout, stderr := &clusterLines{}, &clusterLines{}
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0", "--redis-url", "redis://"+clusterRedisAddr+"/0",
		"--prefix", prefix, "--name", name, "--request-timeout", clusterReqTimeout.String(),
		"--ping-interval", "1s", "--ping-timeout", "2s")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	n := &clusterNode{name: name, stderr: stderr}
	// Registered before the kill, so it runs after it, on the final output.
	t.Cleanup(func() { n.checkHealthy(t) })
	n.proc = startClusterProc(t, "node "+name, cmd)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, addr, ok := strings.Cut(stdout.String(), "clusternode listening on "); ok {
			if addr, _, ok = strings.Cut(addr, "\n"); ok {
				n.url = "http://" + strings.TrimSpace(addr)
				return n
			}
		}
		if n.proc.exited() {
			t.Fatalf("node %s exited (%v) before listening; stderr:\n%s", name, n.proc.err, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node %s did not print its address within 15s; stderr:\n%s", name, stderr)
	return nil
}

// checkHealthy reports data races and panics the node printed.
func (n *clusterNode) checkHealthy(t *testing.T) {
	t.Helper()
	if s := n.stderr.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
		t.Errorf("node %s reported a race or panic:\n%s", n.name, s)
	}
}

// clusterPeer is a client of the cluster, Go or JS.
type clusterPeer interface {
	Label() string
	SID() string
	// call emits event with an ack and returns the first ack argument
	// (every fixture answer is one JSON object).
	call(event string, args ...any) (map[string]any, error)
	// got returns the first argument of each receipt of event, as a
	// string when it is a JSON string, else as raw JSON.
	got(event string) []string
	// reason returns why the socket was disconnected ("" while connected).
	reason() string
}

func clusterPayload(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// goPeer is a client of module client.
type goPeer struct {
	label string
	sid   string
	c     *client.Client

	mu     sync.Mutex
	events map[string][]string
	why    string
}

// clusterEvents are the events the Go peers record.
var clusterEvents = []string{"room-msg", "ns-msg", "except-msg", "jl-msg", "close-msg", "after-kill",
	"emitter-msg", "emitter-direct", "question", "ping-me"}

func newGoPeer(t *testing.T, label, url string, transports ...string) *goPeer {
	t.Helper()
	p := &goPeer{label: label, events: map[string][]string{}}
	p.c = client.New(client.Options{Transports: transports, DisableReconnection: true})
	for _, ev := range clusterEvents {
		p.c.On(ev, func(e *client.Event) []any {
			p.mu.Lock()
			p.events[ev] = append(p.events[ev], clusterPayload(e.Args.Raw(0)))
			p.mu.Unlock()
			switch ev {
			case "question":
				return []any{map[string]any{"from": p.sid, "label": p.label}}
			case "ping-me":
				// One argument: acks crossing nodes carry their first
				// argument only (the redis-adapter protocol's BROADCAST_ACK).
				return []any{[]any{"pong", p.label, clusterPayload(e.Args.Raw(0))}}
			}
			return nil
		})
	}
	p.c.OnDisconnect(func(r client.DisconnectReason) {
		p.mu.Lock()
		p.why = string(r)
		p.mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	if err := p.c.Connect(ctx, url); err != nil {
		t.Fatalf("Go client %s cannot connect to %s: %v", label, url, err)
	}
	p.sid = p.c.SID("/")
	if p.sid == "" {
		t.Fatalf("Go client %s has no sid after Connect", label)
	}
	t.Cleanup(func() { _ = p.c.Disconnect() })
	return p
}

func (p *goPeer) Label() string { return p.label }
func (p *goPeer) SID() string   { return p.sid }

func (p *goPeer) call(event string, args ...any) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	res, err := p.c.EmitWithAck(ctx, event, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", p.label, event, err)
	}
	var m map[string]any
	if err := res.Decode(0, &m); err != nil {
		return nil, fmt.Errorf("%s: %s: ack %v: %w", p.label, event, res, err)
	}
	return m, nil
}

func (p *goPeer) got(event string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events[event])
}

func (p *goPeer) reason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.why
}

// jsPeer is socket.io-client in a node process (cluster-client.mjs).
type jsPeer struct {
	label string
	proc  *clusterProc
	errs  *clusterLines

	wmu   sync.Mutex
	stdin io.WriteCloser
	next  atomic.Int64

	mu      sync.Mutex
	partial []byte
	sid     string
	events  map[string][]string
	replies map[int64][]json.RawMessage
	why     string
	failure string
}

type jsMsg struct {
	Ev      string            `json:"ev"`
	SID     string            `json:"sid"`
	Name    string            `json:"name"`
	Args    []json.RawMessage `json:"args"`
	ID      int64             `json:"id"`
	Reason  string            `json:"reason"`
	Message string            `json:"message"`
}

// Write receives the script's stdout.
func (p *jsPeer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := p.partial[:i]
		p.partial = p.partial[i+1:]
		var m jsMsg
		if err := json.Unmarshal(line, &m); err != nil {
			p.failure += "unparsable line: " + string(line) + "\n"
			continue
		}
		switch m.Ev {
		case "connect":
			p.sid = m.SID
		case "event":
			var first json.RawMessage
			if len(m.Args) > 0 {
				first = m.Args[0]
			}
			p.events[m.Name] = append(p.events[m.Name], clusterPayload(first))
		case "reply":
			p.replies[m.ID] = m.Args
		case "disconnect":
			p.why = m.Reason
		case "error":
			p.failure += m.Message + "\n"
		}
	}
	return len(b), nil
}

func newJSPeer(t *testing.T, nodeBin, jsDir, label, url, transports string, silent bool) *jsPeer {
	t.Helper()
	p := &jsPeer{label: label, errs: &clusterLines{}, events: map[string][]string{}, replies: map[int64][]json.RawMessage{}}
	args := []string{filepath.Join(jsDir, "interop", "cluster-client.mjs"), url, label, transports}
	if silent {
		args = append(args, "silent")
	}
	cmd := exec.Command(nodeBin, args...)
	cmd.Dir = jsDir
	cmd.Stdout, cmd.Stderr = p, p.errs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	p.proc = startClusterProc(t, "js "+label, cmd)
	t.Cleanup(func() {
		p.wmu.Lock()
		_ = p.stdin.Close()
		p.wmu.Unlock()
	})
	return p
}

// waitConnected waits for the connect line.
func (p *jsPeer) waitConnected(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		sid, failure := p.sid, p.failure
		p.mu.Unlock()
		if failure != "" {
			t.Fatalf("JS client %s failed: %s\nstderr:\n%s", p.label, failure, p.errs)
		}
		if sid != "" {
			return
		}
		if p.proc.exited() {
			t.Fatalf("JS client %s exited (%v) before connecting; stderr:\n%s", p.label, p.proc.err, p.errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("JS client %s did not connect within %v; stderr:\n%s", p.label, clusterWait, p.errs)
}

func (p *jsPeer) Label() string { return p.label }

func (p *jsPeer) SID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sid
}

func (p *jsPeer) call(event string, args ...any) (map[string]any, error) {
	if args == nil {
		args = []any{}
	}
	id := p.next.Add(1)
	line, err := json.Marshal(map[string]any{"id": id, "event": event, "args": args})
	if err != nil {
		return nil, err
	}
	p.wmu.Lock()
	_, err = p.stdin.Write(append(line, '\n'))
	p.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: writing to node: %w", p.label, event, err)
	}
	deadline := time.Now().Add(clusterCallTimeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		ack, ok := p.replies[id]
		failure := p.failure
		p.mu.Unlock()
		if failure != "" {
			return nil, fmt.Errorf("%s: script failed: %s", p.label, failure)
		}
		if ok {
			if len(ack) == 0 {
				return nil, fmt.Errorf("%s: %s: empty ack", p.label, event)
			}
			var m map[string]any
			if err := json.Unmarshal(ack[0], &m); err != nil {
				return nil, fmt.Errorf("%s: %s: ack %s: %w", p.label, event, ack[0], err)
			}
			return m, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil, fmt.Errorf("%s: %s: no ack within %v", p.label, event, clusterCallTimeout)
}

func (p *jsPeer) got(event string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events[event])
}

func (p *jsPeer) reason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.why
}

// mustCall calls and fails the test on an error or an {"error"} answer.
func clusterCall(t *testing.T, p clusterPeer, event string, args ...any) map[string]any {
	t.Helper()
	m, err := p.call(event, args...)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := m["error"]; ok && e != nil {
		t.Fatalf("%s: %s%v answered error %v (%v)", p.Label(), event, args, e, m)
	}
	return m
}

func clusterEventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting until %s: %v", clusterWait, what, err)
}

func clusterCount(p clusterPeer, event, payload string) int {
	n := 0
	for _, g := range p.got(event) {
		if g == payload {
			n++
		}
	}
	return n
}

// expectOnce waits until every clusterPeer of want received event with payload,
// settles, then checks that each of them got it exactly once and that the
// other peers of all never did.
func clusterExpectOnce(t *testing.T, event, payload string, want, all []clusterPeer) {
	t.Helper()
	clusterEventually(t, fmt.Sprintf("%s %q reaches %s", event, payload, clusterLabels(want)), func() error {
		for _, p := range want {
			if clusterCount(p, event, payload) == 0 {
				return fmt.Errorf("%s has not got it (got %v)", p.Label(), p.got(event))
			}
		}
		return nil
	})
	time.Sleep(clusterSettle)
	for _, p := range all {
		n := clusterCount(p, event, payload)
		switch {
		case slices.Contains(want, p) && n != 1:
			t.Errorf("%s received %s %q %d times, want exactly once", p.Label(), event, payload, n)
		case !slices.Contains(want, p) && n != 0:
			t.Errorf("%s received %s %q %d times, want never", p.Label(), event, payload, n)
		}
	}
}

func clusterLabels(ps []clusterPeer) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Label())
	}
	return strings.Join(s, ",")
}

func clusterStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func clusterMaps(v any) []map[string]any {
	var out []map[string]any
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func clusterElapsed(m map[string]any) time.Duration {
	f, _ := m["elapsedMs"].(float64)
	return time.Duration(f) * time.Millisecond
}

func clusterPrefix(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "siotest-cluster-" + hex.EncodeToString(b[:])
}

func TestClusterProcesses(t *testing.T) {
	start := time.Now()
	nodeBin, jsDir := clusterRequirements(t)
	bin := clusterNodeBinary(t)
	t.Logf("fixture ready in %v (race=%v)", time.Since(start).Round(time.Millisecond), raceBuild())
	prefix := clusterPrefix(t)

	A := startClusterNode(t, bin, "A", prefix)
	B := startClusterNode(t, bin, "B", prefix)
	C := startClusterNode(t, bin, "C", prefix)

	// JS clients first: their node processes start in parallel.
	jA := newJSPeer(t, nodeBin, jsDir, "jA", A.url, "websocket", false)
	jB := newJSPeer(t, nodeBin, jsDir, "jB", B.url, "-", false)
	jC := newJSPeer(t, nodeBin, jsDir, "jC", C.url, "polling", false)
	jS := newJSPeer(t, nodeBin, jsDir, "jS", C.url, "websocket", true) // never acks "question"
	jV := newJSPeer(t, nodeBin, jsDir, "jV", B.url, "-", false)        // disconnected remotely
	gA := newGoPeer(t, "gA", A.url)
	gB := newGoPeer(t, "gB", B.url, "websocket")
	gC := newGoPeer(t, "gC", C.url, "polling")
	gV := newGoPeer(t, "gV", C.url, "websocket") // disconnected remotely
	for _, p := range []*jsPeer{jA, jB, jC, jS, jV} {
		p.waitConnected(t)
	}
	t.Logf("3 nodes and 9 clients up in %v", time.Since(start).Round(time.Millisecond))

	main6 := []clusterPeer{gA, jA, gB, jB, gC, jC}
	everyone := []clusterPeer{gA, jA, gB, jB, gC, jC, jS, jV, gV}
	nodeOf := map[string]string{}
	for _, p := range everyone {
		m := clusterCall(t, p, "whoami")
		if m["sid"] != p.SID() {
			t.Fatalf("%s: whoami sid %v, client sid %s", p.Label(), m["sid"], p.SID())
		}
		nodeOf[p.SID()], _ = m["node"].(string)
	}
	clusterEventually(t, "every node counts 3 nodes", func() error {
		for _, p := range []clusterPeer{gA, gB, gC} {
			m, err := p.call("count")
			if err != nil {
				return err
			}
			if m["nodes"] != float64(3) {
				return fmt.Errorf("%s's node counts %v", p.Label(), m["nodes"])
			}
		}
		return nil
	})
	joinAll := func(t *testing.T, room string, ps ...clusterPeer) {
		t.Helper()
		for _, p := range ps {
			clusterCall(t, p, "join", room)
		}
	}

	t.Run("RoomBroadcastExactlyOnce", func(t *testing.T) {
		joinAll(t, "r-all", main6...)
		clusterCall(t, gB, "emit-room", "r-all", "room-msg", "from-B")
		clusterExpectOnce(t, "room-msg", "from-B", main6, everyone)
		clusterCall(t, jC, "emit-room", "r-all", "room-msg", "from-C")
		clusterExpectOnce(t, "room-msg", "from-C", main6, everyone)
		// The whole namespace, from A.
		clusterCall(t, jA, "emit-room", "", "ns-msg", "to-all")
		clusterExpectOnce(t, "ns-msg", "to-all", everyone, everyone)
	})

	t.Run("ExceptSids", func(t *testing.T) {
		clusterCall(t, gA, "broadcast-except", "r-all", "except-msg", "skip-1", []string{jB.SID(), gC.SID()})
		clusterExpectOnce(t, "except-msg", "skip-1", []clusterPeer{gA, jA, gB, jC}, everyone)
		clusterCall(t, jC, "broadcast-except", "", "except-msg", "skip-2", []string{gA.SID(), jC.SID(), jV.SID()})
		clusterExpectOnce(t, "except-msg", "skip-2", []clusterPeer{jA, gB, jB, gC, jS, gV}, everyone)
	})

	t.Run("RemoteJoinLeave", func(t *testing.T) {
		// Issued from A, the joins reach B and C before the broadcast
		// (one publisher, one Redis: order kept).
		clusterCall(t, gA, "join-sid", jC.SID(), "r-jl")
		clusterCall(t, gA, "join-sid", gB.SID(), "r-jl")
		clusterCall(t, gA, "emit-room", "r-jl", "jl-msg", "joined")
		clusterExpectOnce(t, "jl-msg", "joined", []clusterPeer{jC, gB}, everyone)
		clusterCall(t, gC, "leave-sid", gB.SID(), "r-jl")
		clusterCall(t, gC, "emit-room", "r-jl", "jl-msg", "left")
		clusterExpectOnce(t, "jl-msg", "left", []clusterPeer{jC}, everyone)
		m := clusterCall(t, jB, "fetch", "r-jl")
		if ids := clusterIDs(m); !slices.Equal(ids, []string{jC.SID()}) {
			t.Errorf("r-jl members %v, want only jC %s", ids, jC.SID())
		}
	})

	t.Run("CloseRoom", func(t *testing.T) {
		members := []clusterPeer{gA, jB, gC}
		joinAll(t, "r-close", members...)
		clusterCall(t, jA, "emit-room", "r-close", "close-msg", "open")
		clusterExpectOnce(t, "close-msg", "open", members, everyone)
		clusterCall(t, jA, "close-room", "r-close")
		clusterCall(t, jA, "emit-room", "r-close", "close-msg", "closed")
		time.Sleep(clusterSettle)
		for _, p := range everyone {
			if n := clusterCount(p, "close-msg", "closed"); n != 0 {
				t.Errorf("%s received a broadcast to a closed room", p.Label())
			}
		}
		if ids := clusterIDs(clusterCall(t, gB, "fetch", "r-close")); len(ids) != 0 {
			t.Errorf("closed room still has members %v", ids)
		}
	})

	t.Run("FetchSocketsAcrossNodes", func(t *testing.T) {
		members := []clusterPeer{gA, jB, gC, jC}
		joinAll(t, "r-fetch", members...)
		for _, from := range []clusterPeer{gB, jA} {
			m := clusterCall(t, from, "fetch", "r-fetch")
			socks := clusterMaps(m["sockets"])
			var ids, want []string
			for _, s := range socks {
				id, _ := s["id"].(string)
				ids = append(ids, id)
				rooms := clusterStrings(s["rooms"])
				if !slices.Contains(rooms, "r-fetch") || !slices.Contains(rooms, id) {
					t.Errorf("fetched %s with rooms %v, want r-fetch and its own id", id, rooms)
				}
				if s["node"] != nodeOf[id] {
					t.Errorf("fetched %s with node %v, want %s", id, s["node"], nodeOf[id])
				}
			}
			for _, p := range members {
				want = append(want, p.SID())
			}
			sort.Strings(ids)
			sort.Strings(want)
			if !slices.Equal(ids, want) {
				t.Errorf("fetch from %s: %v, want %v", from.Label(), ids, want)
			}
		}
	})

	t.Run("ServerSideEmitWithAcks", func(t *testing.T) {
		m := clusterCall(t, jA, "ssemit", "who", "sse-1")
		var from []string
		for _, a := range clusterMaps(m["answers"]) {
			from = append(from, fmt.Sprint(a["node"]))
			if a["got"] != "sse-1" {
				t.Errorf("node %v got %v, want sse-1", a["node"], a["got"])
			}
		}
		sort.Strings(from)
		if !slices.Equal(from, []string{"B", "C"}) {
			t.Errorf("server-side answers from %v, want B and C (%v)", from, m)
		}
	})

	t.Run("BroadcastAcksAcrossNodes", func(t *testing.T) {
		full := []clusterPeer{gA, jB, gC}
		joinAll(t, "r-ack", full...)
		joinAll(t, "r-ack-silent", gA, jB, gC, jS)
		fromOf := func(m map[string]any) []string {
			var from []string
			for _, a := range clusterMaps(m["answers"]) {
				from = append(from, fmt.Sprint(a["from"]))
			}
			sort.Strings(from)
			return from
		}
		want := []string{gA.SID(), jB.SID(), gC.SID()}
		sort.Strings(want)

		m := clusterCall(t, jA, "ack-room", "r-ack", "question", "q-full", 3000)
		if got := fromOf(m); !slices.Equal(got, want) {
			t.Errorf("answers from %v, want %v (%v)", got, want, m)
		}
		if el := clusterElapsed(m); el > 1500*time.Millisecond {
			t.Errorf("complete acks took %v", el)
		}

		began := time.Now()
		m, err := jA.call("ack-room", "r-ack-silent", "question", "q-partial", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if m["timeout"] != true || m["error"] == nil {
			t.Errorf("jS never acks, want a timeout error: %v", m)
		}
		if got := fromOf(m); !slices.Equal(got, want) {
			t.Errorf("partial answers from %v, want %v", got, want)
		}
		if el := clusterElapsed(m); el < 900*time.Millisecond || el > 2500*time.Millisecond {
			t.Errorf("a 1s ack timeout ended after %v", el)
		}
		if wall := time.Since(began); wall > 4*time.Second {
			t.Errorf("the ack-room request took %v end to end", wall)
		}
		if clusterCount(jS, "question", "q-partial") != 1 {
			t.Errorf("jS got the question %d times, want once", clusterCount(jS, "question", "q-partial"))
		}
	})

	t.Run("CallSidOnAnotherNode", func(t *testing.T) {
		m := clusterCall(t, gA, "call-sid", jC.SID(), "ping-me", "p1", 3000)
		if got := fmt.Sprint(m["args"]); got != "[[pong jC p1]]" {
			t.Errorf("A calling jC on C: %s, want [pong jC p1]", got)
		}
		m = clusterCall(t, jB, "call-sid", gA.SID(), "ping-me", "p2", 3000)
		if got := fmt.Sprint(m["args"]); got != "[[pong gA p2]]" {
			t.Errorf("B calling gA on A: %s, want [pong gA p2]", got)
		}
		m, err := gC.call("call-sid", "no-such-sid", "ping-me", "p3", 3000)
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := m["error"].(string); !strings.Contains(e, "no such socket") {
			t.Errorf("calling an unknown sid: %v, want the unknown-socket error", m)
		}
		if el := clusterElapsed(m); el > 1500*time.Millisecond {
			t.Errorf("calling an unknown sid took %v; every node answers at once", el)
		}
	})

	t.Run("Emitter", func(t *testing.T) {
		b, err := redisadapter.NewBroker(redisadapter.Options{URL: "redis://" + clusterRedisAddr + "/0"})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		e := emitter.New(b, emitter.Options{Prefix: prefix})
		members := []clusterPeer{jA, gB, jC}
		joinAll(t, "r-emit", members...)
		ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
		defer cancel()
		if err := e.To("r-emit").Emit(ctx, "emitter-msg", "em-1"); err != nil {
			t.Fatal(err)
		}
		clusterExpectOnce(t, "emitter-msg", "em-1", members, everyone)
		if err := e.To(gC.SID()).Emit(ctx, "emitter-direct", "ed-1"); err != nil {
			t.Fatal(err)
		}
		clusterExpectOnce(t, "emitter-direct", "ed-1", []clusterPeer{gC}, everyone)
		if err := e.To(jA.SID()).Emit(ctx, "emitter-direct", "ed-2"); err != nil {
			t.Fatal(err)
		}
		clusterExpectOnce(t, "emitter-direct", "ed-2", []clusterPeer{jA}, everyone)
	})

	t.Run("RemoteDisconnect", func(t *testing.T) {
		clusterCall(t, gA, "disconnect-sid", jV.SID(), false) // A → B
		clusterCall(t, jB, "disconnect-sid", gV.SID(), false) // B → C
		clusterEventually(t, "jV and gV see the server disconnect", func() error {
			for _, p := range []clusterPeer{jV, gV} {
				if r := p.reason(); r != "io server disconnect" {
					return fmt.Errorf("%s reason %q", p.Label(), r)
				}
			}
			return nil
		})
		time.Sleep(clusterSettle)
		for _, p := range main6 {
			if r := p.reason(); r != "" {
				t.Errorf("%s was disconnected too (%s)", p.Label(), r)
			}
		}
		m := clusterCall(t, gC, "fetch", "")
		for _, id := range clusterIDs(m) {
			if id == jV.SID() || id == gV.SID() {
				t.Errorf("disconnected socket %s still fetched", id)
			}
		}
		if n := len(clusterIDs(m)); n != 7 {
			t.Errorf("fetched %d sockets after 2 disconnects, want 7", n)
		}
	})

	t.Run("NodeFrozenThenKilled", func(t *testing.T) {
		joinAll(t, "r-after", gA, jA, gB, jB)
		survivors := []clusterPeer{gA, jA, gB, jB}
		onC := []clusterPeer{gC, jC, jS}
		survivorIDs := []string{gA.SID(), jA.SID(), gB.SID(), jB.SID()}
		sort.Strings(survivorIDs)

		// Cluster requests from A and B, concurrently: each must end
		// within the request timeout (+ slack), never hang.
		type result struct {
			what string
			m    map[string]any
		}
		requests := func(t *testing.T, phase string) map[string]result {
			t.Helper()
			reqs := []struct {
				what string
				p    clusterPeer
				args []any
			}{
				{"fetch", gA, []any{""}},
				{"ssemit", jB, []any{"who", phase}},
				{"ack-room", gB, []any{"r-after", "question", phase, 0}},
			}
			type answer struct {
				result
				err  error
				wall time.Duration
			}
			ch := make(chan answer, len(reqs))
			for _, r := range reqs {
				go func() {
					t0 := time.Now()
					m, err := r.p.call(r.what, r.args...)
					ch <- answer{result{r.what, m}, err, time.Since(t0)}
				}()
			}
			bound := clusterReqTimeout + 1500*time.Millisecond
			out := map[string]result{}
			for range reqs {
				a := <-ch
				if a.err != nil {
					t.Errorf("%s %s: %v", a.what, phase, a.err)
					continue
				}
				t.Logf("%s %s: error=%v timeout=%v elapsed=%vms, %d answers/sockets, in %v", a.what, phase,
					a.m["error"], a.m["timeout"], a.m["elapsedMs"], len(clusterMaps(a.m["answers"]))+len(clusterMaps(a.m["sockets"])), a.wall.Round(time.Millisecond))
				if a.wall > bound {
					t.Errorf("%s %s took %v, want at most %v", a.what, phase, a.wall, bound)
				}
				if e, _ := a.m["error"].(string); e != "" && a.m["timeout"] != true {
					t.Errorf("%s %s failed with %q, want success or a timeout", a.what, phase, e)
				}
				out[a.what] = a.result
			}
			return out
		}
		nodesOf := func(m map[string]any) []string {
			var from []string
			for _, a := range clusterMaps(m["answers"]) {
				from = append(from, fmt.Sprint(a["node"]))
			}
			return from
		}

		// A frozen node (SIGSTOP) still holds its Redis subscriptions, so
		// it is counted but never answers: every request times out with
		// the answers of A and B.
		C.proc.stop(t)
		res := requests(t, "while C is frozen")
		if r := res["fetch"]; r.m["timeout"] != true || !slices.Equal(clusterIDs(r.m), survivorIDs) {
			t.Errorf("fetch while C is frozen: %v, want a timeout with the 4 sockets of A and B %v", r.m, survivorIDs)
		}
		if r := res["ssemit"]; r.m["timeout"] != true || !slices.Equal(nodesOf(r.m), []string{"A"}) {
			t.Errorf("server-side emit while C is frozen: %v, want a timeout with A's answer", r.m)
		}
		if r := res["ack-room"]; r.m["timeout"] != true || len(clusterMaps(r.m["answers"])) != 4 {
			t.Errorf("ack-room while C is frozen: %v, want a timeout with the 4 answers of A and B", r.m)
		}

		killed := time.Now()
		C.proc.kill(t)
		t.Logf("node C killed (SIGKILL) in %v", time.Since(killed).Round(time.Millisecond))
		// Right after the kill Redis may or may not have dropped C's
		// subscriptions yet: complete answers or a clean timeout.
		res = requests(t, "right after the kill")
		if r := res["fetch"]; !slices.Equal(clusterIDs(r.m), survivorIDs) {
			t.Errorf("fetch after the kill: %v, want the 4 sockets of A and B %v", clusterIDs(r.m), survivorIDs)
		}
		if r := res["ssemit"]; !slices.Equal(nodesOf(r.m), []string{"A"}) {
			t.Errorf("server-side emit after the kill answered by %v, want A", nodesOf(r.m))
		}
		if r := res["ack-room"]; len(clusterMaps(r.m["answers"])) != 4 {
			t.Errorf("ack-room after the kill: %v, want the 4 answers of A and B", r.m)
		}

		// The two other nodes keep broadcasting to each other.
		clusterCall(t, gB, "emit-room", "r-after", "after-kill", "b-to-all")
		clusterExpectOnce(t, "after-kill", "b-to-all", survivors, survivors)
		clusterCall(t, jA, "emit-room", "r-after", "after-kill", "a-to-all")
		clusterExpectOnce(t, "after-kill", "a-to-all", survivors, survivors)
		clusterEventually(t, "A counts 2 nodes", func() error {
			m, err := gA.call("count")
			if err != nil {
				return err
			}
			if m["nodes"] != float64(2) {
				return fmt.Errorf("A counts %v", m["nodes"])
			}
			return nil
		})
		m := clusterCall(t, jB, "fetch", "", int(clusterReqTimeout/time.Millisecond))
		if n := len(clusterIDs(m)); n != 4 {
			t.Errorf("fetch once C is gone: %d sockets, want 4 (%v)", n, m)
		}
		clusterEventually(t, "the clients of C notice", func() error {
			for _, p := range onC {
				if p.reason() == "" {
					return fmt.Errorf("%s still connected", p.Label())
				}
			}
			return nil
		})
		for _, p := range survivors {
			if r := p.reason(); r != "" {
				t.Errorf("%s on a surviving node was disconnected (%s)", p.Label(), r)
			}
		}
	})
	t.Logf("whole cluster test: %v", time.Since(start).Round(time.Millisecond))
}

func clusterIDs(m map[string]any) []string {
	var ids []string
	for _, s := range clusterMaps(m["sockets"]) {
		if id, ok := s["id"].(string); ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
