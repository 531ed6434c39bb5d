package main

// Redis interop: one cluster made of two siogate nodes (in-process, each
// with its own Redis connection, as separate processes would have), one
// Node socket.io server using @socket.io/redis-adapter 8.x
// (js/interop/redis-node-server.mjs), official socket.io-client sockets on
// all three (js/interop/redis-clients.mjs), and @socket.io/redis-emitter
// 5.x (js/interop/redis-emitter.mjs), all sharing one random key prefix on
// the Redis at 127.0.0.1:6379.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/protocol/socketio"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

const (
	redisInteropAddr    = "127.0.0.1:6379"
	redisInteropURL     = "redis://" + redisInteropAddr + "/0"
	redisInteropWait    = 45 * time.Second       // one expected observation (a loaded machine starts Node slowly)
	redisInteropSettle  = 300 * time.Millisecond // for duplicates to show up
	redisInteropLife    = 150 * time.Second      // whole node processes
	redisInteropRequest = 3 * time.Second        // siogate and Node request timeouts
)

// redisInteropPrereqs fails (never skips) when node, the npm packages or
// Redis are missing.
func redisInteropPrereqs(t *testing.T) (node, jsDir string) {
	t.Helper()
	jsDir, err := filepath.Abs(filepath.Join("..", "..", "..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		t.Fatalf("Redis interop needs Node.js: `node` is not on PATH (%v); install Node.js 18+ and run `npm ci` in %s", err, jsDir)
	}
	for _, pkg := range []string{"socket.io", "socket.io-client", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis"} {
		if _, err := os.Stat(filepath.Join(jsDir, "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("Redis interop needs the npm package %s: %s/node_modules is missing or incomplete (%v); run `npm ci` in %s", pkg, jsDir, err, jsDir)
		}
	}
	conn, err := net.DialTimeout("tcp", redisInteropAddr, 2*time.Second)
	if err != nil {
		t.Fatalf("Redis interop needs Redis on %s: %v", redisInteropAddr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		t.Fatalf("Redis on %s: %v", redisInteropAddr, err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+PONG") {
		t.Fatalf("Redis on %s does not answer PING: %q, %v", redisInteropAddr, line, err)
	}
	return node, jsDir
}

// obsLog collects observations (JSON lines from a node process, or records
// of siogate handlers) and lets a test wait for them.
type obsLog struct {
	mu     sync.Mutex
	items  []map[string]any
	notify chan struct{}
}

func newObsLog() *obsLog { return &obsLog{notify: make(chan struct{})} }

func (l *obsLog) add(m map[string]any) {
	l.mu.Lock()
	l.items = append(l.items, m)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

func (l *obsLog) all(match func(map[string]any) bool) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.items {
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}

// wait returns the first observation matching, failing after
// redisInteropWait.
func (l *obsLog) wait(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	timer := time.NewTimer(redisInteropWait)
	defer timer.Stop()
	for {
		l.mu.Lock()
		for _, m := range l.items {
			if match(m) {
				l.mu.Unlock()
				return m
			}
		}
		ch := l.notify
		l.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("never observed %s", what)
		}
	}
}

func fields(kv ...any) func(map[string]any) bool {
	return func(m map[string]any) bool {
		for i := 0; i+1 < len(kv); i += 2 {
			if m[kv[i].(string)] != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// jsProc is a node process speaking JSON lines.
type jsProc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	log    *obsLog
	stderr bytes.Buffer
	mu     sync.Mutex // stdin writes
	done   chan struct{}
	nextID int
}

func startJS(t *testing.T, node, jsDir, script string, args ...string) *jsProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), redisInteropLife)
	p := &jsProc{name: script, log: newObsLog(), done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, node, append([]string{filepath.Join(jsDir, "interop", script)}, args...)...)
	p.cmd.Dir = jsDir
	p.cmd.Stderr = &lockedWriter{w: &p.stderr, mu: &p.mu}
	p.cmd.WaitDelay = 2 * time.Second
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		cancel()
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting node %s: %v", script, err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"ev": "garbage", "line": sc.Text()}
			}
			p.log.add(m)
		}
	}()
	t.Cleanup(func() {
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
		}
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
		}
		_ = p.cmd.Wait()
		cancel()
		if errs := p.log.all(fields("ev", "error")); len(errs) > 0 {
			t.Errorf("%s reported errors: %v", script, errs)
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s stderr:\n%s", script, p.stderr.String())
			p.mu.Unlock()
		}
	})
	return p
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *jsProc) send(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	_, err = p.stdin.Write(append(b, '\n'))
	p.mu.Unlock()
	if err != nil {
		t.Fatalf("writing to %s: %v", p.name, err)
	}
}

// call runs a command of redis-node-server.mjs and returns its result.
func (p *jsProc) call(t *testing.T, cmd map[string]any) map[string]any {
	t.Helper()
	p.mu.Lock()
	p.nextID++
	id := float64(p.nextID)
	p.mu.Unlock()
	cmd["id"] = id
	p.send(t, cmd)
	res := p.log.wait(t, fmt.Sprintf("result of %v from the Node server", cmd), fields("ev", "result", "id", id))
	if res["ok"] != true {
		t.Fatalf("Node server command %v failed: %v", cmd, res["error"])
	}
	return res
}

// goNode is one siogate node of the cluster.
type goNode struct {
	name string
	srv  *gateway.Server
	url  string
}

// startGoNode starts a siogate node with its own Redis connection. Server
// events land in obs as {"ev":"server-event","node","nsp","name","args"};
// adapter warnings (a message it could not decode, say) in warns.
func startGoNode(t *testing.T, name, prefix string, obs *obsLog, warns *obsLog) *goNode {
	t.Helper()
	logger := slog.New(&warnHandler{node: name, log: warns})
	factory, closer, err := redisadapter.New(redisadapter.Options{
		URL:     redisInteropURL,
		Cluster: adapter.ClusterConfig{Prefix: prefix, RequestTimeout: redisInteropRequest, Logger: logger},
		Logger:  logger,
	})
	if err != nil {
		t.Fatalf("siogate node %s: %v", name, err)
	}
	srv := gateway.NewServer(gateway.Config{Adapter: factory})
	for _, nsName := range []string{"/", "/chat"} {
		ns := srv.Of(nsName)
		ns.OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			var a struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(auth, &a)
			s.SetData(map[string]any{"origin": name, "name": a.Name})
			return nil
		})
		ns.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
			room := e.Args.String(0)
			s.Join(room)
			return []any{"joined", room}
		})
		for _, ev := range []string{"sse", "sse-ack", "emitter-sse"} {
			ns.OnServerEvent(ev, func(args socketio.Args) []any {
				vals, err := args.Values()
				if err != nil {
					vals = []any{"undecodable: " + err.Error()}
				}
				obs.add(map[string]any{"ev": "server-event", "node": name, "nsp": nsName, "name": ev, "args": vals})
				return []any{map[string]any{"from": name, "name": ev}}
			})
		}
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
		_ = closer.Close()
	})
	return &goNode{name: name, srv: srv, url: ts.URL}
}

// warnHandler records the adapter's warnings and errors.
type warnHandler struct {
	node string
	log  *obsLog
}

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *warnHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"node": h.node, "msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.log.add(m)
	return nil
}
func (h *warnHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warnHandler) WithGroup(string) slog.Handler      { return h }

// cluster is the whole test setup.
type cluster struct {
	t       *testing.T
	node    string
	jsDir   string
	prefix  string
	a, b    *goNode
	nodeSrv *jsProc
	nodeURL string
	clients *jsProc
	goObs   *obsLog
	warns   *obsLog
	wire    *obsLog           // every message published under the prefix
	sids    map[string]string // client name → socket id
	root    []string          // clients of "/" that stay connected
	chat    []string          // clients of "/chat"
	token   string
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// connect opens a client named name on url's namespace nsp and returns its sid.
func (c *cluster) connect(name, url, nsp string) string {
	c.t.Helper()
	c.clients.send(c.t, map[string]any{"cmd": "connect", "name": name, "url": url, "nsp": nsp})
	m := c.clients.log.wait(c.t, "client "+name+" connected", func(m map[string]any) bool {
		return m["name"] == name && (m["ev"] == "connect" || m["ev"] == "connect_error")
	})
	if m["ev"] != "connect" {
		c.t.Fatalf("client %s could not connect to %s%s: %v", name, url, nsp, m["message"])
	}
	sid := m["id"].(string)
	c.sids[name] = sid
	return sid
}

// clientCall emits ev from a client with an ack and returns the ack args.
func (c *cluster) clientCall(name, ev string, args ...any) []any {
	c.t.Helper()
	id := "c" + randomHex(4)
	c.clients.send(c.t, map[string]any{"cmd": "emit", "name": name, "id": id, "ev": ev, "args": args})
	m := c.clients.log.wait(c.t, "ack of "+ev+" by "+name, fields("ev", "ack", "id", id))
	if m["error"] != nil {
		c.t.Fatalf("%s: %s not acknowledged: %v", name, ev, m["error"])
	}
	a, _ := m["args"].([]any)
	return a
}

// received returns the args of every event ev received by client name.
func (c *cluster) received(name, ev string) [][]any {
	var out [][]any
	for _, m := range c.clients.log.all(fields("ev", "event", "name", name, "event", ev)) {
		a, _ := m["args"].([]any)
		out = append(out, a)
	}
	return out
}

// expectDelivery waits until every client in want received ev, then checks
// that each did exactly once and that no other client of among got it.
// It returns the args each wanted client received.
func (c *cluster) expectDelivery(ev string, among, want []string) map[string][]any {
	c.t.Helper()
	got := map[string][]any{}
	for _, name := range want {
		m := c.clients.log.wait(c.t, fmt.Sprintf("client %s receiving %q", name, ev), fields("ev", "event", "name", name, "event", ev))
		got[name], _ = m["args"].([]any)
	}
	time.Sleep(redisInteropSettle)
	for _, name := range among {
		n := len(c.received(name, ev))
		switch {
		case slices.Contains(want, name) && n != 1:
			c.t.Errorf("client %s received %q %d times, want exactly once", name, ev, n)
		case !slices.Contains(want, name) && n != 0:
			c.t.Errorf("client %s received %q %d times, want none (targets %v)", name, ev, n, want)
		}
	}
	return got
}

func (c *cluster) all() []string { return append(slices.Clone(c.root), c.chat...) }

func (c *cluster) emitter(op map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(op)
	p := startJS(c.t, c.node, c.jsDir, "redis-emitter.mjs", redisInteropURL, c.prefix, string(b))
	p.log.wait(c.t, fmt.Sprintf("emitter op %s", b), func(m map[string]any) bool { return m["ev"] == "done" || m["ev"] == "error" })
	if errs := p.log.all(fields("ev", "error")); len(errs) > 0 {
		c.t.Fatalf("emitter op %s: %v", b, errs)
	}
}

// serverEvents returns the server events name seen by siogate node.
func (c *cluster) serverEvents(node, nsp, name string) []map[string]any {
	return c.goObs.all(fields("ev", "server-event", "node", node, "nsp", nsp, "name", name))
}

func bin(hexs string) map[string]any { return map[string]any{"$bin": "Buffer", "hex": hexs} }

func sortedStrings(v any) []string {
	var out []string
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			out = append(out, fmt.Sprint(e))
		}
	case []string:
		out = slices.Clone(t)
	}
	sort.Strings(out)
	return out
}

func (c *cluster) sidsOf(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = c.sids[n]
	}
	sort.Strings(out)
	return out
}

// ackSenders returns the sorted "from" of ack values.
func ackSenders(t *testing.T, vals []any) []string {
	t.Helper()
	var out []string
	for _, v := range vals {
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf("ack value %#v is not an object", v)
			continue
		}
		out = append(out, fmt.Sprint(m["from"]))
	}
	sort.Strings(out)
	return out
}

func TestRedisInterop(t *testing.T) {
	node, jsDir := redisInteropPrereqs(t)
	c := &cluster{
		t: t, node: node, jsDir: jsDir,
		prefix: "siogate-interop-" + randomHex(6),
		goObs:  newObsLog(), warns: newObsLog(), wire: newObsLog(),
		sids:  map[string]string{},
		token: randomHex(4),
	}
	captureWire(t, c.prefix, c.wire)
	c.a = startGoNode(t, "go-a", c.prefix, c.goObs, c.warns)
	c.b = startGoNode(t, "go-b", c.prefix, c.goObs, c.warns)
	c.startNodeServer("redis-node-server.mjs", redisInteropURL, c.prefix, "0")

	urls := map[string]string{"a": c.a.url, "b": c.b.url, "n": c.nodeURL}
	for _, n := range []string{"a1", "a2", "b1", "b2", "n1", "n2"} {
		c.connect(n, urls[n[:1]], "/")
		c.root = append(c.root, n)
	}
	for _, n := range []string{"ca", "cb", "cn"} {
		c.connect(n, urls[n[1:]], "/chat")
		c.chat = append(c.chat, n)
	}
	for name, room := range map[string]string{"a1": "r1", "b2": "r1", "n1": "r1", "a2": "r2", "n2": "r2"} {
		if got := c.clientCall(name, "join", room); !reflect.DeepEqual(got, []any{"joined", room}) {
			t.Fatalf("%s join %s: ack %v", name, room, got)
		}
	}
	ctx := t.Context()

	t.Run("serverCount", func(t *testing.T) {
		for _, nsp := range []string{"/", "/chat"} {
			if n := c.nodeSrv.call(t, map[string]any{"cmd": "serverCount", "nsp": nsp})["count"]; n != float64(3) {
				t.Errorf("Node serverCount(%s) = %v, want 3", nsp, n)
			}
			for _, g := range []*goNode{c.a, c.b} {
				if n, err := g.srv.Of(nsp).Adapter().ServerCount(ctx); err != nil || n != 3 {
					t.Errorf("%s ServerCount(%s) = %d, %v; want 3", g.name, nsp, n, err)
				}
			}
		}
	})

	t.Run("broadcast", func(t *testing.T) {
		c.t = t
		if err := c.a.srv.Emit(context.Background(), "bc-from-go", c.token, 1.5, map[string]any{"n": 42}); err != nil {
			t.Fatal(err)
		}
		got := c.expectDelivery("bc-from-go", c.all(), c.root)
		if want := []any{c.token, 1.5, map[string]any{"n": float64(42)}}; !reflect.DeepEqual(got["n1"], want) {
			t.Errorf("Node client got %v, want %v", got["n1"], want)
		}
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "ev": "bc-from-node", "args": []any{c.token, map[string]any{"deep": []any{1, "x", nil, true}}}})
		got = c.expectDelivery("bc-from-node", c.all(), c.root)
		if want := []any{c.token, map[string]any{"deep": []any{float64(1), "x", nil, true}}}; !reflect.DeepEqual(got["a1"], want) {
			t.Errorf("siogate client got %v, want %v", got["a1"], want)
		}
		if err := c.b.srv.Of("/").Except(c.sids["b1"]).Emit(context.Background(), "bc-from-go-b"); err != nil {
			t.Fatal(err)
		}
		c.expectDelivery("bc-from-go-b", c.all(), []string{"a1", "a2", "b2", "n1", "n2"})
	})

	t.Run("rooms", func(t *testing.T) {
		c.t = t
		_ = c.a.srv.To("r1").Emit(context.Background(), "room-go")
		c.expectDelivery("room-go", c.all(), []string{"a1", "b2", "n1"})
		// One room: Node publishes on the single-room channel prefix#/#r1#.
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": "r1", "ev": "room-node"})
		c.expectDelivery("room-node", c.all(), []string{"a1", "b2", "n1"})
		_ = c.b.srv.To("r1").Except(c.sids["n1"]).Emit(context.Background(), "room-go-except")
		c.expectDelivery("room-go-except", c.all(), []string{"a1", "b2"})
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": "r1", "except": c.sids["a1"], "ev": "room-node-except"})
		c.expectDelivery("room-node-except", c.all(), []string{"b2", "n1"})
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": []string{"r1", "r2"}, "ev": "rooms-node"})
		c.expectDelivery("rooms-node", c.all(), []string{"a1", "a2", "b2", "n1", "n2"})
		_ = c.a.srv.To("r1", "r2").Except("r2").Emit(context.Background(), "rooms-go-except-room")
		c.expectDelivery("rooms-go-except-room", c.all(), []string{"a1", "b2", "n1"})
		// A socket id is a room: Node's to(sid) uses prefix#/#sid#.
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": c.sids["b1"], "ev": "to-sid-node"})
		c.expectDelivery("to-sid-node", c.all(), []string{"b1"})
		_ = c.a.srv.To(c.sids["n2"]).Emit(context.Background(), "to-sid-go")
		c.expectDelivery("to-sid-go", c.all(), []string{"n2"})
		// A room nobody is in.
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": "nobody-here", "ev": "to-nobody"})
		_ = c.b.srv.To("nobody-here").Emit(context.Background(), "to-nobody")
		c.expectDelivery("to-nobody", c.all(), nil)
	})

	t.Run("namespace", func(t *testing.T) {
		c.t = t
		_ = c.b.srv.Of("/chat").Emit(context.Background(), "chat-go", "hi")
		c.expectDelivery("chat-go", c.all(), c.chat)
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "nsp": "/chat", "ev": "chat-node", "args": []any{"hi"}})
		c.expectDelivery("chat-node", c.all(), c.chat)
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "nsp": "/chat", "to": c.sids["ca"], "ev": "chat-node-sid"})
		c.expectDelivery("chat-node-sid", c.all(), []string{"ca"})
	})

	t.Run("binary", func(t *testing.T) {
		c.t = t
		_ = c.a.srv.Emit(context.Background(), "bin-go", []byte{1, 2, 3}, map[string]any{"nested": []byte{0xff, 0}, "list": []any{[]byte{}, "s"}}, "plain")
		got := c.expectDelivery("bin-go", c.all(), c.root)
		want := []any{bin("010203"), map[string]any{"nested": bin("ff00"), "list": []any{bin(""), "s"}}, "plain"}
		for _, n := range []string{"b1", "n1"} {
			if !reflect.DeepEqual(got[n], want) {
				t.Errorf("%s got %v, want %v", n, got[n], want)
			}
		}
		big := strings.Repeat("ab", 70000) // bin32 in msgpack, not bin8/16
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "ev": "bin-node", "args": []any{
			map[string]any{"$bin": "0a0b"}, map[string]any{"deep": []any{map[string]any{"$bin": "ff"}}}, map[string]any{"$bin": big},
		}})
		got = c.expectDelivery("bin-node", c.all(), c.root)
		want = []any{bin("0a0b"), map[string]any{"deep": []any{bin("ff")}}, bin(big)}
		for _, n := range []string{"a1", "b2", "n2"} {
			if !reflect.DeepEqual(got[n], want) {
				t.Errorf("%s got %.200v, want %.200v", n, got[n], want)
			}
		}
	})

	t.Run("types", func(t *testing.T) {
		c.t = t
		// Values JSON cannot carry cross the cluster as msgpack: Node's own
		// clients see them through JSON.stringify, and siogate's clients
		// must see the same.
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "ev": "types-node", "args": []any{
			map[string]any{"$date": 0}, map[string]any{"$date": 1700000000123},
			map[string]any{"$num": "NaN"}, map[string]any{"$num": "Infinity"}, map[string]any{"$num": "-Infinity"},
			[]any{map[string]any{"$undef": true}, 1}, map[string]any{"a": map[string]any{"$undef": true}, "b": map[string]any{"$num": "NaN"}},
			1 << 40, -5, 0.1, -129, 4294967296.5, "",
		}})
		got := c.expectDelivery("types-node", c.all(), c.root)
		for _, n := range []string{"a1", "b1"} {
			if !reflect.DeepEqual(got[n], got["n1"]) {
				t.Errorf("siogate client %s got %v; Node's client got %v", n, got[n], got["n1"])
			}
		}
	})

	t.Run("wire", func(t *testing.T) {
		c.t = t
		// The same operations from siogate (go-a) and from Node, compared
		// as they travel: broadcasts byte for byte (but the uid), requests
		// and responses by their shape (key order and value types, ids
		// masked).
		goUID := c.a.srv.Of("/").Adapter().(*adapter.Cluster).UID()
		nodeUID := c.nodeSrv.call(t, map[string]any{"cmd": "uid"})["uid"].(string)
		from := len(c.wire.all(func(map[string]any) bool { return true }))

		// The same event from both sides: each target gets it twice.
		_ = c.a.srv.To("r1").Except("r2").Emit(context.Background(), "wire-bc", "x", 1, []byte{1})
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": "r1", "except": "r2", "ev": "wire-bc", "args": []any{"x", 1, map[string]any{"$bin": "01"}}})
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "ev": "wire-bc-all"})
		_ = c.a.srv.Emit(context.Background(), "wire-bc-all")
		targets := map[string][]string{"wire-bc": {"a1", "b2", "n1"}, "wire-bc-all": c.root}
		for ev, want := range targets {
			for _, n := range want {
				waitCount(t, fmt.Sprintf("%s receiving %s twice", n, ev), func() int { return len(c.received(n, ev)) }, 2)
			}
		}
		time.Sleep(redisInteropSettle)
		for ev, want := range targets {
			for _, n := range c.all() {
				w := 0
				if slices.Contains(want, n) {
					w = 2
				}
				if got := len(c.received(n, ev)); got != w {
					t.Errorf("client %s received %s %d times, want %d", n, ev, got, w)
				}
			}
		}

		if _, err := c.a.srv.To("r1").FetchSockets(ctx); err != nil {
			t.Fatal(err)
		}
		c.nodeSrv.call(t, map[string]any{"cmd": "fetchSockets", "to": "r1"})
		if _, err := c.a.srv.Of("/").Adapter().(*adapter.Cluster).ClusterRooms(ctx); err != nil {
			t.Fatal(err)
		}
		nodeRooms := c.nodeSrv.call(t, map[string]any{"cmd": "allRooms"})["rooms"]
		for _, r := range []string{"r1", "r2", c.sids["a1"], c.sids["b2"], c.sids["n1"]} {
			if !slices.Contains(sortedStrings(nodeRooms), r) {
				t.Errorf("Node allRooms %v lacks %s", nodeRooms, r)
			}
		}
		_, _ = c.a.srv.Of("/").Adapter().ServerSideEmit(ctx, "sse", []any{"wire"}, false)
		c.nodeSrv.call(t, map[string]any{"cmd": "serverSideEmit", "ev": "sse", "args": []any{"wire"}})
		if _, err := c.a.srv.Of("/").Adapter().ServerSideEmit(ctx, "sse-ack", []any{"wire"}, true); err != nil {
			t.Fatal(err)
		}
		c.nodeSrv.call(t, map[string]any{"cmd": "serverSideEmitWithAck", "ev": "sse-ack", "args": []any{"wire"}})
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, err := c.a.srv.To("r1").EmitWithAck(actx, "wire-ask", "q"); err != nil {
			t.Fatal(err)
		}
		c.nodeSrv.call(t, map[string]any{"cmd": "emitWithAck", "to": "r1", "ev": "wire-ask", "args": []any{"q"}, "timeout": 3000})
		_ = c.a.srv.To("nobody-here").SocketsJoin(context.Background(), "wire-j")
		c.nodeSrv.call(t, map[string]any{"cmd": "socketsJoin", "to": "nobody-here", "rooms": []string{"wire-j"}})
		_ = c.a.srv.To("nobody-here").DisconnectSockets(context.Background(), false)
		c.nodeSrv.call(t, map[string]any{"cmd": "disconnectSockets", "to": "nobody-here"})
		time.Sleep(redisInteropSettle)

		msgs := c.wire.all(func(map[string]any) bool { return true })[from:]
		ch := wire.ChannelsFor(c.prefix, "/")
		type wireMsg struct {
			channel, data, shape, uid, requestID string
			typ                                  int
		}
		var bcasts, reqs, resps []wireMsg
		for _, m := range msgs {
			w := wireMsg{channel: m["channel"].(string), data: m["data"].(string)}
			w.shape, w.uid, w.requestID, w.typ = wireShape([]byte(w.data))
			switch {
			case strings.HasPrefix(w.channel, ch.Broadcast):
				bcasts = append(bcasts, w)
			case w.channel == ch.Request:
				reqs = append(reqs, w)
			case strings.HasPrefix(w.channel, ch.Response):
				resps = append(resps, w)
			}
		}
		// Broadcasts: [uid, packet, opts], equal once the uid is set aside.
		for _, ev := range []string{"wire-bc", "wire-bc-all"} {
			var goMsg, nodeMsg *wireMsg
			for i, b := range bcasts {
				if !strings.Contains(b.data, string([]byte{byte(0xa0 + len(ev))})+ev) { // fixstr ev
					continue
				}
				switch b.uid {
				case goUID:
					goMsg = &bcasts[i]
				case nodeUID:
					nodeMsg = &bcasts[i]
				}
			}
			if goMsg == nil || nodeMsg == nil {
				t.Errorf("%s: broadcasts not captured (siogate %v, Node %v)", ev, goMsg != nil, nodeMsg != nil)
				continue
			}
			strip := func(d string, uid string) string {
				return strings.Replace(string(withoutSeq([]byte(d))), uid, "UUUUUU", 1)
			}
			if g, n := strip(goMsg.data, goUID), strip(nodeMsg.data, nodeUID); g != n {
				t.Errorf("%s: siogate publishes\n  % x\nNode publishes\n  % x\n(shapes %s vs %s)", ev, g, n, goMsg.shape, nodeMsg.shape)
			}
		}
		// Requests of each type, from each side.
		reqOf := func(uid string, typ int) *wireMsg {
			for i, r := range reqs {
				if r.uid == uid && r.typ == typ {
					return &reqs[i]
				}
			}
			return nil
		}
		for _, typ := range []int{1, 2, 4, 5, 6, 7} {
			g, n := reqOf(goUID, typ), reqOf(nodeUID, typ)
			if g == nil || n == nil {
				t.Errorf("request type %d not captured (siogate %v, Node %v)", typ, g != nil, n != nil)
				continue
			}
			if typ == 6 {
				// Both the plain and the ack form: compare each.
				for _, withAck := range []bool{false, true} {
					var gs, ns string
					for _, r := range reqs {
						if r.typ == 6 && (r.requestID != "") == withAck {
							switch r.uid {
							case goUID:
								gs = r.shape
							case nodeUID:
								ns = r.shape
							}
						}
					}
					if gs != ns {
						t.Errorf("serverSideEmit request (ack %v): siogate %s, Node %s", withAck, gs, ns)
					}
				}
				continue
			}
			if g.shape != n.shape {
				t.Errorf("request type %d: siogate %s\n  Node %s", typ, g.shape, n.shape)
			}
		}
		// Responses to go-a's requests come from go-b and Node, to Node's
		// from go-a and go-b.
		// siogate's requesters ask siogate responders to name themselves
		// ("named"): those answers add the responder's uid, which Node's
		// requesters never get.
		named := map[string]bool{}
		for _, r := range reqs {
			if r.requestID != "" && strings.Contains(r.data, `"named":true`) {
				named[r.requestID] = true
			}
		}
		var shapes []string
		for _, r := range resps {
			if named[r.requestID] {
				r.shape = strings.Replace(r.shape, ",uid:string}", "}", 1)
			}
			shapes = append(shapes, r.shape)
		}
		sort.Strings(shapes)
		shapes = slices.Compact(shapes)
		// Every response kind must come in exactly one shape, whoever sent it.
		kinds := map[string][]string{}
		for _, sh := range shapes {
			k := responseKind(sh)
			kinds[k] = append(kinds[k], sh)
		}
		for k, v := range kinds {
			if len(v) != 1 {
				t.Errorf("response kind %s comes in several shapes:\n  %s", k, strings.Join(v, "\n  "))
			}
		}
		if len(kinds) < 5 {
			t.Errorf("captured only response kinds %v", keys(kinds))
		}
	})

	t.Run("fetchSockets", func(t *testing.T) {
		c.t = t
		res := c.nodeSrv.call(t, map[string]any{"cmd": "fetchSockets"})
		socks, _ := res["sockets"].([]any)
		byID := map[string]map[string]any{}
		for _, s := range socks {
			m := s.(map[string]any)
			byID[m["id"].(string)] = m
		}
		if ids := sortedStrings(keys(byID)); !reflect.DeepEqual(ids, c.sidsOf(c.root...)) {
			t.Errorf("Node fetchSockets ids = %v, want %v", ids, c.sidsOf(c.root...))
		}
		if s := byID[c.sids["a1"]]; s != nil {
			if rooms := sortedStrings(s["rooms"]); !reflect.DeepEqual(rooms, sortedStrings([]string{c.sids["a1"], "r1"})) {
				t.Errorf("Node sees a1 rooms %v", rooms)
			}
			if !reflect.DeepEqual(s["data"], map[string]any{"origin": "go-a", "name": "a1"}) {
				t.Errorf("Node sees a1 data %v", s["data"])
			}
			hs, _ := s["handshake"].(map[string]any)
			auth, _ := hs["auth"].(map[string]any)
			if auth["name"] != "a1" || !strings.HasPrefix(fmt.Sprint(hs["url"]), "/socket.io/") || hs["address"] == "" {
				t.Errorf("Node sees a1 handshake %v", hs)
			}
		}
		if s := byID[c.sids["b2"]]; s != nil && !reflect.DeepEqual(s["data"], map[string]any{"origin": "go-b", "name": "b2"}) {
			t.Errorf("Node sees b2 data %v", s["data"])
		}
		res = c.nodeSrv.call(t, map[string]any{"cmd": "fetchSockets", "to": "r1", "except": c.sids["b2"]})
		var ids []string
		for _, s := range res["sockets"].([]any) {
			ids = append(ids, s.(map[string]any)["id"].(string))
		}
		if sort.Strings(ids); !reflect.DeepEqual(ids, c.sidsOf("a1", "n1")) {
			t.Errorf("Node fetchSockets(to r1 except b2) = %v, want a1 n1 %v", ids, c.sidsOf("a1", "n1"))
		}

		infos, err := c.a.srv.Of("/").To().FetchSockets(ctx)
		if err != nil {
			t.Fatalf("siogate FetchSockets: %v", err)
		}
		gotIDs := map[string]adapter.SocketInfo{}
		for _, s := range infos {
			gotIDs[s.ID] = s
		}
		if ids := sortedStrings(keys(gotIDs)); !reflect.DeepEqual(ids, c.sidsOf(c.root...)) {
			t.Errorf("siogate FetchSockets ids = %v, want %v", ids, c.sidsOf(c.root...))
		}
		n1 := gotIDs[c.sids["n1"]]
		if !reflect.DeepEqual(sortedStrings(n1.Rooms), sortedStrings([]string{c.sids["n1"], "r1"})) {
			t.Errorf("siogate sees n1 rooms %v", n1.Rooms)
		}
		if !reflect.DeepEqual(n1.Data, map[string]any{"origin": "node", "name": "n1"}) {
			t.Errorf("siogate sees n1 data %#v", n1.Data)
		}
		if !strings.Contains(string(n1.Handshake.Auth), `"n1"`) || n1.Handshake.Address == "" || n1.Handshake.Time.IsZero() {
			t.Errorf("siogate sees n1 handshake %+v", n1.Handshake)
		}
		if b1 := gotIDs[c.sids["b1"]]; !reflect.DeepEqual(b1.Data, map[string]any{"origin": "go-b", "name": "b1"}) {
			t.Errorf("siogate sees b1 data %#v", b1.Data)
		}
		infos, err = c.b.srv.To("r2").FetchSockets(ctx)
		if err != nil {
			t.Fatalf("siogate FetchSockets(r2): %v", err)
		}
		ids = nil
		for _, s := range infos {
			ids = append(ids, s.ID)
		}
		if sort.Strings(ids); !reflect.DeepEqual(ids, c.sidsOf("a2", "n2")) {
			t.Errorf("siogate FetchSockets(r2) = %v, want a2 n2 %v", ids, c.sidsOf("a2", "n2"))
		}
	})

	t.Run("socketsJoin", func(t *testing.T) {
		c.t = t
		// Node → siogate sockets.
		c.nodeSrv.call(t, map[string]any{"cmd": "socketsJoin", "to": []string{c.sids["a2"], c.sids["b1"]}, "rooms": []string{"j-node"}})
		waitRooms(t, "a2 joining j-node", func() []string { return c.a.srv.Of("/").Rooms(c.sids["a2"]) }, "j-node", true)
		waitRooms(t, "b1 joining j-node", func() []string { return c.b.srv.Of("/").Rooms(c.sids["b1"]) }, "j-node", true)
		_ = c.a.srv.To("j-node").Emit(context.Background(), "j-node-ev")
		c.expectDelivery("j-node-ev", c.all(), []string{"a2", "b1"})
		c.nodeSrv.call(t, map[string]any{"cmd": "socketsLeave", "to": c.sids["b1"], "rooms": []string{"j-node"}})
		waitRooms(t, "b1 leaving j-node", func() []string { return c.b.srv.Of("/").Rooms(c.sids["b1"]) }, "j-node", false)
		// siogate → Node sockets.
		if err := c.b.srv.Of("/").In(c.sids["n2"]).SocketsJoin(context.Background(), "j-go"); err != nil {
			t.Fatal(err)
		}
		waitRooms(t, "n2 joining j-go", func() []string {
			r, _ := c.nodeSrv.call(t, map[string]any{"cmd": "rooms", "sid": c.sids["n2"]})["rooms"].([]any)
			return sortedStrings(r)
		}, "j-go", true)
		if err := c.a.srv.To("r2").SocketsLeave(context.Background(), "r2"); err != nil {
			t.Fatal(err)
		}
		waitRooms(t, "n2 leaving r2", func() []string {
			r, _ := c.nodeSrv.call(t, map[string]any{"cmd": "rooms", "sid": c.sids["n2"]})["rooms"].([]any)
			return sortedStrings(r)
		}, "r2", false)
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": "j-go", "ev": "j-go-ev"})
		c.expectDelivery("j-go-ev", c.all(), []string{"n2"})
		// Restore r2 for the later scenarios.
		_ = c.a.srv.Of("/").In(c.sids["a2"], c.sids["n2"]).SocketsJoin(context.Background(), "r2")
		waitRooms(t, "n2 back in r2", func() []string {
			r, _ := c.nodeSrv.call(t, map[string]any{"cmd": "rooms", "sid": c.sids["n2"]})["rooms"].([]any)
			return sortedStrings(r)
		}, "r2", true)
	})

	t.Run("serverSideEmit", func(t *testing.T) {
		c.t = t
		tok := "sse-" + randomHex(3)
		c.nodeSrv.call(t, map[string]any{"cmd": "serverSideEmit", "ev": "sse", "args": []any{tok, 7}})
		for _, g := range []string{"go-a", "go-b"} {
			c.goObs.wait(t, g+" receiving Node's serverSideEmit", func(m map[string]any) bool {
				return m["node"] == g && m["name"] == "sse" && reflect.DeepEqual(m["args"], []any{tok, float64(7)})
			})
		}
		res := c.nodeSrv.call(t, map[string]any{"cmd": "serverSideEmitCb", "ev": "sse-ack", "args": []any{"cb"}})
		if res["err"] != nil {
			t.Errorf("Node serverSideEmit with callback: err %v (responses %v)", res["err"], res["responses"])
		}
		if from := ackSenders(t, asSlice(res["responses"])); !reflect.DeepEqual(from, []string{"go-a", "go-b"}) {
			t.Errorf("Node serverSideEmit responses from %v, want go-a go-b", from)
		}
		res = c.nodeSrv.call(t, map[string]any{"cmd": "serverSideEmitWithAck", "ev": "sse-ack", "args": []any{"promise"}})
		if res["err"] != nil {
			t.Errorf("Node serverSideEmitWithAck: err %v", res["err"])
		}
		if from := ackSenders(t, asSlice(res["responses"])); !reflect.DeepEqual(from, []string{"go-a", "go-b"}) {
			t.Errorf("Node serverSideEmitWithAck responses from %v, want go-a go-b", from)
		}
		time.Sleep(redisInteropSettle)
		for _, g := range []string{"go-a", "go-b"} {
			for _, arg := range []string{"cb", "promise"} {
				n := 0
				for _, m := range c.serverEvents(g, "/", "sse-ack") {
					if reflect.DeepEqual(m["args"], []any{arg}) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s handled sse-ack(%q) %d times, want once", g, arg, n)
				}
			}
		}

		tok2 := "sse-go-" + randomHex(3)
		if _, err := c.a.srv.Of("/").Adapter().ServerSideEmit(ctx, "sse", []any{tok2}, false); err != nil {
			t.Fatal(err)
		}
		m := c.nodeSrv.log.wait(t, "Node receiving siogate's serverSideEmit", func(m map[string]any) bool {
			return m["ev"] == "server-event" && m["name"] == "sse" && reflect.DeepEqual(m["args"], []any{tok2})
		})
		if m["withAck"] != false {
			t.Errorf("Node got an ack callback for a serverSideEmit without ack")
		}
		c.goObs.wait(t, "go-b receiving go-a's serverSideEmit", func(m map[string]any) bool {
			return m["node"] == "go-b" && m["name"] == "sse" && reflect.DeepEqual(m["args"], []any{tok2})
		})
		answers, err := c.a.srv.Of("/").Adapter().ServerSideEmit(ctx, "sse-ack", []any{"from-go"}, true)
		if err != nil {
			t.Fatalf("siogate ServerSideEmit with ack: %v (answers %v)", err, answers)
		}
		var vals []any
		for _, a := range answers {
			v, err := a.Values()
			if err != nil || len(v) != 1 {
				t.Fatalf("answer %v: %v", a, err)
			}
			vals = append(vals, v[0])
		}
		if from := ackSenders(t, vals); !reflect.DeepEqual(from, []string{"go-b", "node"}) {
			t.Errorf("siogate ServerSideEmit answers from %v, want go-b node", from)
		}
		time.Sleep(redisInteropSettle)
		for _, m := range c.serverEvents("go-a", "/", "sse") {
			if reflect.DeepEqual(m["args"], []any{tok2}) {
				t.Errorf("go-a received its own serverSideEmit")
			}
		}
		// /chat is its own channel set.
		c.nodeSrv.call(t, map[string]any{"cmd": "serverSideEmit", "nsp": "/chat", "ev": "sse", "args": []any{"chat"}})
		c.goObs.wait(t, "go-a receiving a /chat serverSideEmit", fields("ev", "server-event", "node", "go-a", "nsp", "/chat", "name", "sse"))
	})

	t.Run("broadcastWithAck", func(t *testing.T) {
		c.t = t
		res := c.nodeSrv.call(t, map[string]any{"cmd": "emitWithAck", "ev": "ask-node", "args": []any{"q"}, "timeout": 3000})
		if res["timedOut"] == true {
			t.Errorf("Node emitWithAck timed out: %v", res["message"])
		}
		if from := ackSenders(t, asSlice(res["responses"])); !reflect.DeepEqual(from, c.root) {
			t.Errorf("Node emitWithAck acks from %v, want %v", from, c.root)
		}
		// Each ack carries a Buffer: siogate relays it as msgpack bin.
		for _, v := range asSlice(res["responses"]) {
			m, _ := v.(map[string]any)
			if name, _ := m["from"].(string); !reflect.DeepEqual(m["bin"], bin(hex.EncodeToString([]byte(name)))) {
				t.Errorf("Node got ack %v: bin is not the Buffer %q", m, name)
			}
		}
		res = c.nodeSrv.call(t, map[string]any{"cmd": "emitWithAck", "to": "r1", "ev": "ask-node-r1", "timeout": 3000})
		if from := ackSenders(t, asSlice(res["responses"])); res["timedOut"] == true || !reflect.DeepEqual(from, []string{"a1", "b2", "n1"}) {
			t.Errorf("Node to(r1) emitWithAck: acks from %v, timedOut %v", from, res["timedOut"])
		}
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		answers, err := c.b.srv.Of("/").To().EmitWithAck(actx, "ask-go", "q")
		if err != nil {
			t.Errorf("siogate EmitWithAck: %v", err)
		}
		var vals []any
		for _, a := range answers {
			v, err := a.Values()
			if err != nil || len(v) < 1 {
				t.Fatalf("ack %v: %v", a, err)
			}
			vals = append(vals, v[0])
		}
		if from := ackSenders(t, vals); !reflect.DeepEqual(from, c.root) {
			t.Errorf("siogate EmitWithAck acks from %v, want %v", from, c.root)
		}
		for _, v := range vals {
			m, _ := v.(map[string]any)
			if name, _ := m["from"].(string); !reflect.DeepEqual(m["bin"], []byte(name)) {
				t.Errorf("siogate got ack %v: bin is not []byte(%q)", m, name)
			}
		}
		actx2, cancel2 := context.WithTimeout(ctx, 3*time.Second)
		defer cancel2()
		answers, err = c.a.srv.To("r2").Except(c.sids["a2"]).EmitWithAck(actx2, "ask-go-r2", []byte{9})
		if err != nil || len(answers) != 1 {
			t.Errorf("siogate To(r2).Except(a2).EmitWithAck = %d answers, %v; want n2's only", len(answers), err)
		}
		// n2's answer may come back before the client driver's log line.
		c.clients.log.wait(t, "n2 logs ask-go-r2", fields("ev", "event", "name", "n2", "event", "ask-go-r2"))
		if got := c.received("n2", "ask-go-r2"); len(got) != 1 || !reflect.DeepEqual(got[0], []any{bin("09")}) {
			t.Errorf("n2 got ask-go-r2 %v", got)
		}
	})

	t.Run("disconnectSockets", func(t *testing.T) {
		c.t = t
		c.connect("da", c.a.url, "/")
		c.connect("db", c.b.url, "/")
		c.connect("dn", c.nodeURL, "/")
		c.nodeSrv.call(t, map[string]any{"cmd": "disconnectSockets", "to": c.sids["da"]})
		m := c.clients.log.wait(t, "da disconnected by Node", fields("ev", "disconnect", "name", "da"))
		if m["reason"] != "io server disconnect" {
			t.Errorf("da disconnect reason %v", m["reason"])
		}
		if err := c.a.srv.Of("/").In(c.sids["dn"], c.sids["db"]).DisconnectSockets(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"dn", "db"} {
			m := c.clients.log.wait(t, n+" disconnected by siogate", fields("ev", "disconnect", "name", n))
			if m["reason"] != "io server disconnect" {
				t.Errorf("%s disconnect reason %v", n, m["reason"])
			}
		}
		// With close: Node's server sends DISCONNECT before it closes the
		// connection, and so must siogate, whoever asks: the client sees
		// "io server disconnect" and stays away.
		c.connect("dc", c.b.url, "/")
		c.connect("dm", c.nodeURL, "/")
		c.nodeSrv.call(t, map[string]any{"cmd": "disconnectSockets", "to": c.sids["dc"], "close": true})
		if m := c.clients.log.wait(t, "dc closed by Node", fields("ev", "disconnect", "name", "dc")); m["reason"] != "io server disconnect" {
			t.Errorf("dc (siogate socket, closed by Node) reason %v, want io server disconnect", m["reason"])
		}
		if err := c.a.srv.Of("/").In(c.sids["dm"]).DisconnectSockets(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		if m := c.clients.log.wait(t, "dm closed by siogate", fields("ev", "disconnect", "name", "dm")); m["reason"] != "io server disconnect" {
			t.Errorf("dm (Node socket, closed by siogate) reason %v, want io server disconnect", m["reason"])
		}
		time.Sleep(redisInteropSettle)
		for _, n := range c.all() {
			if d := c.clients.log.all(fields("ev", "disconnect", "name", n)); len(d) > 0 {
				t.Errorf("client %s was disconnected too: %v", n, d)
			}
		}
	})

	t.Run("emitter", func(t *testing.T) {
		c.t = t
		c.emitter(map[string]any{"ev": "em-all", "args": []any{"x", 1}})
		got := c.expectDelivery("em-all", c.all(), c.root)
		if !reflect.DeepEqual(got["a1"], []any{"x", float64(1)}) {
			t.Errorf("a1 got em-all %v", got["a1"])
		}
		c.emitter(map[string]any{"ev": "em-room", "to": "r1"})
		c.expectDelivery("em-room", c.all(), []string{"a1", "b2", "n1"})
		c.emitter(map[string]any{"ev": "em-rooms", "to": []string{"r1", "r2"}, "except": c.sids["n1"]})
		c.expectDelivery("em-rooms", c.all(), []string{"a1", "a2", "b2", "n2"})
		c.emitter(map[string]any{"ev": "em-sid", "to": c.sids["b1"]})
		c.expectDelivery("em-sid", c.all(), []string{"b1"})
		c.emitter(map[string]any{"ev": "em-except", "except": "r2"})
		c.expectDelivery("em-except", c.all(), []string{"a1", "b1", "b2", "n1"})
		c.emitter(map[string]any{"ev": "em-volatile", "volatile": true, "to": "r2"})
		c.expectDelivery("em-volatile", c.all(), []string{"a2", "n2"})
		c.emitter(map[string]any{"ev": "em-chat", "nsp": "/chat"})
		c.expectDelivery("em-chat", c.all(), c.chat)
		c.emitter(map[string]any{"ev": "em-chat-sid", "nsp": "chat", "to": c.sids["cb"]})
		c.expectDelivery("em-chat-sid", c.all(), []string{"cb"})
		c.emitter(map[string]any{"ev": "em-bin", "args": []any{map[string]any{"$bin": "c0ffee"}, map[string]any{"k": map[string]any{"$bin": "00"}}}})
		got = c.expectDelivery("em-bin", c.all(), c.root)
		for _, n := range []string{"a1", "b1", "n1"} {
			if want := []any{bin("c0ffee"), map[string]any{"k": bin("00")}}; !reflect.DeepEqual(got[n], want) {
				t.Errorf("%s got em-bin %v, want %v", n, got[n], want)
			}
		}

		c.emitter(map[string]any{"action": "socketsJoin", "to": c.sids["b2"], "rooms": []string{"em-joined"}})
		waitRooms(t, "b2 joining em-joined", func() []string { return c.b.srv.Of("/").Rooms(c.sids["b2"]) }, "em-joined", true)
		c.emitter(map[string]any{"action": "socketsJoin", "to": "r2", "rooms": "em-joined"})
		waitRooms(t, "a2 joining em-joined", func() []string { return c.a.srv.Of("/").Rooms(c.sids["a2"]) }, "em-joined", true)
		waitRooms(t, "n2 joining em-joined", func() []string {
			r, _ := c.nodeSrv.call(t, map[string]any{"cmd": "rooms", "sid": c.sids["n2"]})["rooms"].([]any)
			return sortedStrings(r)
		}, "em-joined", true)
		c.emitter(map[string]any{"ev": "em-joined-ev", "to": "em-joined"})
		c.expectDelivery("em-joined-ev", c.all(), []string{"a2", "b2", "n2"})
		c.emitter(map[string]any{"action": "socketsLeave", "to": c.sids["a2"], "rooms": []string{"em-joined"}})
		waitRooms(t, "a2 leaving em-joined", func() []string { return c.a.srv.Of("/").Rooms(c.sids["a2"]) }, "em-joined", false)

		c.connect("ea", c.a.url, "/")
		c.connect("eb", c.b.url, "/")
		c.emitter(map[string]any{"action": "disconnectSockets", "to": c.sids["ea"]})
		if m := c.clients.log.wait(t, "ea disconnected by the emitter", fields("ev", "disconnect", "name", "ea")); m["reason"] != "io server disconnect" {
			t.Errorf("ea disconnect reason %v", m["reason"])
		}
		c.emitter(map[string]any{"action": "disconnectSockets", "to": c.sids["eb"], "close": true})
		// As a Node server does: DISCONNECT before the close, so the
		// client stays away.
		if m := c.clients.log.wait(t, "eb closed by the emitter", fields("ev", "disconnect", "name", "eb")); m["reason"] != "io server disconnect" {
			t.Errorf("eb disconnect reason %v, want io server disconnect (close=true)", m["reason"])
		}

		tok := "em-sse-" + randomHex(3)
		c.emitter(map[string]any{"action": "serverSideEmit", "ev": "emitter-sse", "args": []any{tok, map[string]any{"k": 1}}})
		for _, g := range []string{"go-a", "go-b"} {
			m := c.goObs.wait(t, g+" receiving the emitter's serverSideEmit", fields("ev", "server-event", "node", g, "name", "emitter-sse"))
			if !reflect.DeepEqual(m["args"], []any{tok, map[string]any{"k": float64(1)}}) {
				t.Errorf("%s got emitter-sse %v", g, m["args"])
			}
		}
		c.nodeSrv.log.wait(t, "Node receiving the emitter's serverSideEmit", fields("ev", "server-event", "name", "emitter-sse"))
		time.Sleep(redisInteropSettle)
		for _, n := range c.all() {
			if d := c.clients.log.all(fields("ev", "disconnect", "name", n)); len(d) > 0 {
				t.Errorf("client %s was disconnected: %v", n, d)
			}
		}
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// waitCount polls count() until it reaches n.
func waitCount(t *testing.T, what string, count func() int, n int) {
	t.Helper()
	deadline := time.Now().Add(redisInteropWait)
	for count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("never observed %s (count %d)", what, count())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRooms polls rooms() until room is (or is no longer) in it.
func waitRooms(t *testing.T, what string, rooms func() []string, room string, in bool) {
	t.Helper()
	deadline := time.Now().Add(redisInteropWait)
	for {
		r := rooms()
		if slices.Contains(r, room) == in {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: rooms are %v", what, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// captureWire records every message published on a channel under prefix,
// as {"channel", "data" (string of the raw bytes)}. It uses PSUBSCRIBE,
// which PUBSUB NUMSUB does not count, so the cluster's node counts stay
// right.
func captureWire(t *testing.T, prefix string, log *obsLog) {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: redisInteropAddr, DialTimeout: 2 * time.Second})
	ps := rc.PSubscribe(t.Context(), prefix+"*")
	if _, err := ps.Receive(t.Context()); err != nil {
		t.Fatalf("capturing the wire: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel(redis.WithChannelSize(4096)) {
			log.add(map[string]any{"channel": m.Channel, "data": m.Payload})
		}
	}()
	t.Cleanup(func() {
		_ = ps.Close()
		<-done
		_ = rc.Close()
	})
}

// wireShape describes a cluster message: its structure with keys in order
// and values replaced by their types (except small integers, booleans and
// the type field), ids masked. It also returns the uid, requestId and type.
func wireShape(data []byte) (shape, uid, requestID string, typ int) {
	data = withoutSeq(data)
	if len(data) > 0 && data[0] == '{' {
		var v orderedJSON
		if err := json.Unmarshal(data, &v); err != nil {
			return "bad JSON: " + err.Error(), "", "", -1
		}
		uid, _ = v.get("uid").(string)
		requestID, _ = v.get("requestId").(string)
		if f, ok := v.get("type").(float64); ok {
			typ = int(f)
		}
		// siogate numbers its requests ("seq", package adapter/wire's
		// StampRequest), which Node ignores.
		v.drop("seq")
		// and asks siogate responders to name themselves ("named").
		v.drop("named")
		// and says how long it waits for answers ("wait", ms), so that
		// responders keep theirs queued that long.
		v.drop("wait")
		if typ == 5 {
			// siogate's fetch requests add "parts": true (answers in
			// parts, package adapter/wire), which Node ignores.
			v.drop("parts")
		}
		return "json" + v.shape(""), uid, requestID, typ
	}
	d := msgpack.NewDecoder(bytes.NewReader(data))
	var sb strings.Builder
	vals := map[string]any{}
	if err := mpShape(d, &sb, "", vals); err != nil {
		return "bad msgpack: " + err.Error(), "", "", -1
	}
	uid, _ = vals["uid"].(string)
	requestID, _ = vals["requestId"].(string)
	if n, ok := vals["type"].(int64); ok {
		typ = int(n)
	}
	if u, ok := vals["[0]"].(string); ok { // a broadcast [uid, packet, opts]
		uid = u
	}
	return "msgpack" + sb.String(), uid, requestID, typ
}

// withoutSeq takes off the sequence number siogate appends to its msgpack
// broadcasts and requests (adapter/wire's StampBroadcast, StampRequest),
// which Node's receivers ignore, so the shapes compare with Node's.
func withoutSeq(data []byte) []byte {
	n := len(data)
	switch {
	case n > 10 && data[0] == 0x94 && data[n-9] == 0xcf: // [uid, packet, opts, seq]
		return append([]byte{0x93}, data[1:n-9]...)
	case n > 14 && data[0] > 0x80 && data[0] <= 0x8f && string(data[n-13:n-9]) == "\xa3seq" && data[n-9] == 0xcf:
		return append([]byte{data[0] - 1}, data[1:n-13]...)
	}
	return data
}

// maskedKey says whether the value under key is shown by type only.
func maskedKey(key string) bool {
	switch key {
	case "type", "close", "xdomain", "secure":
		return false
	}
	return true
}

func mpShape(d *msgpack.Decoder, sb *strings.Builder, key string, vals map[string]any) error {
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case key == "packet" && vals["type"] == int64(9):
		// An ack value: a client's object. A Go node holds it as a map and
		// does not keep its key order, so only its presence is compared.
		sb.WriteString("{…}")
		return d.Skip()
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return err
		}
		sb.WriteString("{")
		for i := range n {
			k, err := d.DecodeString()
			if err != nil {
				return err
			}
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString(k + ":")
			if err := mpShape(d, sb, k, vals); err != nil {
				return err
			}
		}
		sb.WriteString("}")
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return err
		}
		sb.WriteString("[")
		for i := range n {
			if i > 0 {
				sb.WriteString(",")
			}
			k := key
			if key == "" {
				k = fmt.Sprintf("[%d]", i)
			}
			if err := mpShape(d, sb, k, vals); err != nil {
				return err
			}
		}
		sb.WriteString("]")
	default:
		v, err := d.DecodeInterfaceLoose()
		if err != nil {
			return err
		}
		if _, seen := vals[key]; !seen {
			vals[key] = v
		}
		if maskedKey(key) {
			fmt.Fprintf(sb, "%T(0x%02x)", v, c)
		} else {
			fmt.Fprintf(sb, "%v", v)
		}
	}
	return nil
}

// orderedJSON is a JSON value that keeps object key order.
type orderedJSON struct {
	keys []string
	obj  map[string]*orderedJSON
	arr  []*orderedJSON
	val  any
	kind byte // 'o', 'a' or 'v'
}

func (o *orderedJSON) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	return o.decode(d)
}

func (o *orderedJSON) decode(d *json.Decoder) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		o.kind, o.obj = 'o', map[string]*orderedJSON{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return err
			}
			v := new(orderedJSON)
			if err := v.decode(d); err != nil {
				return err
			}
			o.keys = append(o.keys, k.(string))
			o.obj[k.(string)] = v
		}
		_, err = d.Token()
		return err
	case json.Delim('['):
		o.kind = 'a'
		for d.More() {
			v := new(orderedJSON)
			if err := v.decode(d); err != nil {
				return err
			}
			o.arr = append(o.arr, v)
		}
		_, err = d.Token()
		return err
	}
	o.kind, o.val = 'v', tok
	return nil
}

func (o *orderedJSON) get(k string) any {
	if o.kind != 'o' || o.obj[k] == nil {
		return nil
	}
	return o.obj[k].val
}

// drop removes key k from an object.
func (o *orderedJSON) drop(k string) {
	if o.kind != 'o' {
		return
	}
	delete(o.obj, k)
	o.keys = slices.DeleteFunc(o.keys, func(x string) bool { return x == k })
}

// shape writes the structure; the contents of headers, query, auth and
// data are not compared (they describe different sockets), nor array
// lengths past the first element.
func (o *orderedJSON) shape(key string) string {
	switch o.kind {
	case 'o':
		if key == "headers" || key == "query" || key == "auth" || key == "data" {
			return "{…}"
		}
		parts := make([]string, len(o.keys))
		for i, k := range o.keys {
			parts[i] = k + ":" + o.obj[k].shape(k)
		}
		return "{" + strings.Join(parts, ",") + "}"
	case 'a':
		if len(o.arr) == 0 {
			return "[]"
		}
		return "[" + o.arr[0].shape(key) + ",…]"
	}
	if maskedKey(key) {
		return fmt.Sprintf("%T", o.val)
	}
	return fmt.Sprint(o.val)
}

// responseKind names a response shape by its type and payload key.
func responseKind(shape string) string {
	for _, k := range []string{"sockets:", "rooms:", "clientCount:", "packet:", "data:"} {
		if strings.Contains(shape, k) {
			return shape[:strings.Index(shape, "{")] + "/" + strings.TrimSuffix(k, ":")
		}
	}
	return shape
}

// startNodeServer starts the Node socket.io server script (args after
// it) and the JS client driver, and waits for both; at the end of the
// test, any warning a siogate adapter logged fails it.
func (c *cluster) startNodeServer(script string, args ...string) {
	t := c.t
	t.Helper()
	c.nodeSrv = startJS(t, c.node, c.jsDir, script, args...)
	listening := c.nodeSrv.log.wait(t, "the Node server listening", func(m map[string]any) bool { return m["ev"] == "listening" || m["ev"] == "error" })
	if listening["ev"] != "listening" {
		t.Fatalf("Node server failed: %v", listening["message"])
	}
	c.nodeURL = fmt.Sprintf("http://127.0.0.1:%v", listening["port"])
	c.clients = startJS(t, c.node, c.jsDir, "redis-clients.mjs")
	c.clients.log.wait(t, "the client driver ready", fields("ev", "ready"))
	t.Cleanup(func() {
		if w := c.warns.all(func(map[string]any) bool { return true }); len(w) > 0 {
			t.Errorf("siogate adapters logged warnings (a Node message they could not handle?): %v", w)
		}
	})
}
