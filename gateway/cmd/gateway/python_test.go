package main

// python-socketio workers emitting into a siogate cluster: Debian's
// python3-socketio (5.7.2) with a real write-only RedisManager, or
// KombuManager on RabbitMQ, in testdata/pyworker.py; two siogate nodes
// (in-process, classic Redis adapter) each with a pybridge on the
// worker's channel; official socket.io-client sockets on both
// (js/interop/redis-clients.mjs).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter-redis/redistest"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/gateway/pybridge"
)

// pythonWorker is testdata/pyworker.py running under Debian's python3.
type pythonWorker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *bytes.Buffer
	n      int
}

func startPythonWorker(t *testing.T, kind, url, channel string) *pythonWorker {
	t.Helper()
	// Debian's python3-socketio is for /usr/bin/python3, not a pyenv
	// python3 earlier on PATH.
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import socketio, redis, kombu, kafka").CombinedOutput(); err != nil {
		t.Fatalf("python-socketio workers need Debian's packages: apt-get install -y python3-socketio python3-redis python3-kombu python3-kafka (make deps): %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	w := &pythonWorker{stderr: &bytes.Buffer{}}
	w.cmd = exec.CommandContext(ctx, python, filepath.Join("testdata", "pyworker.py"), kind, url, channel)
	w.cmd.Stderr = &lockedWriter{w: w.stderr, mu: &sync.Mutex{}}
	w.cmd.WaitDelay = 2 * time.Second
	var err error
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		cancel()
		t.Fatal(err)
	}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting the python worker: %v", err)
	}
	w.lines = bufio.NewScanner(out)
	t.Cleanup(func() {
		_ = w.stdin.Close()
		_ = w.cmd.Wait()
		cancel()
		if strings.Contains(w.stderr.String(), "pwned") {
			t.Error("the refused pickle ran code somewhere")
		}
		if t.Failed() {
			t.Logf("python worker stderr:\n%s", w.stderr.String())
		}
	})
	return w
}

// do runs one command of the worker and waits until it has published.
func (w *pythonWorker) do(t *testing.T, cmd map[string]any) {
	t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := w.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("python worker: %v\n%s", err, w.stderr.String())
	}
	w.n++
	done := make(chan bool, 1)
	go func() { done <- w.lines.Scan() }()
	select {
	case ok := <-done:
		if !ok || !strings.Contains(w.lines.Text(), fmt.Sprintf(`"done": %d`, w.n)) {
			t.Fatalf("python worker failed on %s: %q\n%s", b, w.lines.Text(), w.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("python worker did not publish %s in 30s\n%s", b, w.stderr.String())
	}
}

// pyLog records the bridges' refusals.
type pyLog struct{ log *obsLog }

func (h pyLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h pyLog) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.log.add(m)
	return nil
}
func (h pyLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h pyLog) WithGroup(string) slog.Handler      { return h }

func TestPythonWorkersRedis(t *testing.T) {
	testPythonWorkers(t, "redis", redisInteropURL, func(t *testing.T) adapter.Broker {
		b, err := redisadapter.NewBroker(redisadapter.Options{URL: redisInteropURL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

func TestPythonWorkersKombu(t *testing.T) {
	const amqpURL = "amqp://guest:guest@127.0.0.1:5672/"
	testPythonWorkers(t, "kombu", amqpURL, func(t *testing.T) adapter.Broker {
		b, err := amqpadapter.NewBroker(amqpadapter.Options{URL: amqpURL})
		if err != nil {
			t.Fatalf("RabbitMQ on 127.0.0.1:5672 is needed: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// testPythonWorkers: a real write-only manager of python-socketio 5.7.2
// emits to a room skipping a sid, emits several arguments (a tuple) to
// everyone, closes a room and disconnects a socket; the messages 5.7.2
// has no publisher for (enter_room, leave_room) and the JSON form of
// newer versions are published as python-socketio's source builds them;
// a pickle that would run code is refused and logged, and runs nothing.
// The JSON emits of python-socketio 5.16 (data wrapped in a list, bytes
// as base64 attachments behind placeholders) and of 5.14.2 to 5.15 are
// built by the worker's json_emit as PubSubManager.emit builds them.
func testPythonWorkers(t *testing.T, kind, url string, open func(t *testing.T) adapter.Broker) {
	testPythonWorkersOn(t, kind, url, func(string) {}, open)
}

// testPythonWorkersOn is testPythonWorkers with a hook that prepares the
// channel (a Kafka topic) first.
func testPythonWorkersOn(t *testing.T, kind, url string, prepare func(channel string), open func(t *testing.T) adapter.Broker) {
	node, jsDir := redisInteropPrereqs(t)
	channel := "siogate-py-" + randomHex(6)
	prepare(channel)
	c := &cluster{t: t, node: node, jsDir: jsDir, prefix: "siogate-py-" + randomHex(6), goObs: newObsLog(), warns: newObsLog(), sids: map[string]string{}}
	c.a = startGoNode(t, "go-a", c.prefix, c.goObs, c.warns)
	c.b = startGoNode(t, "go-b", c.prefix, c.goObs, c.warns)
	refusals := newObsLog()
	var bridges []*pybridge.Bridge
	for _, g := range []*goNode{c.a, c.b} {
		br, err := pybridge.Start(t.Context(), g.srv, open(t), pybridge.Config{Channel: channel, Logger: slog.New(pyLog{refusals})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = br.Close() })
		bridges = append(bridges, br)
	}
	c.clients = startJS(t, node, jsDir, "redis-clients.mjs")
	c.clients.log.wait(t, "the client driver ready", fields("ev", "ready"))
	for _, n := range []string{"a1", "a2", "b1", "b2"} {
		url := c.a.url
		if n[0] == 'b' {
			url = c.b.url
		}
		c.connect(n, url, "/")
		c.root = append(c.root, n)
	}
	for _, n := range []string{"a1", "b1", "b2"} {
		c.clientCall(n, "join", "r1")
	}
	w := startPythonWorker(t, kind, url, channel)

	// emit to a room, skipping one sid (on the other node).
	w.do(t, map[string]any{"op": "emit", "event": "to-room", "data": map[string]any{"x": 1, "bin": nil}, "room": "r1", "skip_sid": c.sids["b2"]})
	got := c.expectDelivery("to-room", c.root, []string{"a1", "b1"})
	if want := []any{map[string]any{"x": float64(1), "bin": nil}}; !reflect.DeepEqual(got["b1"], want) {
		t.Errorf("b1 got %v, want %v", got["b1"], want)
	}
	// a tuple is several arguments; no room is everyone.
	w.do(t, map[string]any{"op": "emit", "event": "multi", "data": []any{"one", 2, []any{"three"}}, "tuple": true})
	got = c.expectDelivery("multi", c.root, c.root)
	if want := []any{"one", float64(2), []any{"three"}}; !reflect.DeepEqual(got["a2"], want) {
		t.Errorf("a2 got %v, want %v", got["a2"], want)
	}
	// move b2 from r1 to r2: leave_room and enter_room as python-socketio
	// versions that publish them build them (5.7.2 has no publisher for
	// them), pickled as before 5.14, then as JSON as 5.14 and later.
	w.do(t, map[string]any{"op": "pickle", "message": map[string]any{"method": "leave_room", "sid": c.sids["b2"], "room": "r1", "namespace": "/", "host_id": "py"}})
	w.do(t, map[string]any{"op": "json", "message": map[string]any{"method": "enter_room", "sid": c.sids["b2"], "room": "r2", "namespace": "/", "host_id": "py"}})
	clusterEventually(t, "b2 moved from r1 to r2", func() error {
		rooms := c.b.srv.Of("/").Adapter().Rooms(c.sids["b2"])
		if !reflect.DeepEqual(rooms, []string{"r2", c.sids["b2"]}) && !reflect.DeepEqual(rooms, []string{c.sids["b2"], "r2"}) {
			return fmt.Errorf("b2 rooms %v", rooms)
		}
		return nil
	})
	w.do(t, map[string]any{"op": "emit", "event": "r2-news", "room": "r2"})
	c.expectDelivery("r2-news", c.root, []string{"b2"})
	// the JSON form of an emit.
	w.do(t, map[string]any{"op": "json", "message": map[string]any{"method": "emit", "event": "json-emit", "data": "j", "namespace": "/", "room": "r1", "skip_sid": nil, "callback": nil, "host_id": "py"}})
	c.expectDelivery("json-emit", c.root, []string{"a1", "b1"})
	// The JSON emits of the current python-socketio (5.16): a tuple with
	// bytes is several arguments with binary attachments; a list is one
	// argument.
	w.do(t, map[string]any{"op": "json-emit", "form": "5.16", "event": "json-bin", "tuple": true,
		"data": []any{map[string]any{"$bytes": "00ff"}, map[string]any{"k": map[string]any{"$bytes": "6869"}, "n": 1}, "t"}})
	got = c.expectDelivery("json-bin", c.root, c.root)
	if want := []any{bin("00ff"), map[string]any{"k": bin("6869"), "n": float64(1)}, "t"}; !reflect.DeepEqual(got["b2"], want) {
		t.Errorf("json-bin: b2 got %v, want %v", got["b2"], want)
	}
	w.do(t, map[string]any{"op": "json-emit", "form": "5.16", "event": "json-list", "data": []any{1, 2}, "room": "r2"})
	if got = c.expectDelivery("json-list", c.root, []string{"b2"}); !reflect.DeepEqual(got["b2"], []any{[]any{float64(1), float64(2)}}) {
		t.Errorf("json-list: b2 got %v, want one argument [1 2]", got["b2"])
	}
	// The form of 5.14.2 to 5.15 (data not wrapped), to a room less a sid.
	w.do(t, map[string]any{"op": "json-emit", "form": "5.15", "event": "json-bin-515", "room": "r1", "skip_sid": c.sids["a1"],
		"data": map[string]any{"b": map[string]any{"$bytes": "01"}}})
	if got = c.expectDelivery("json-bin-515", c.root, []string{"b1"}); !reflect.DeepEqual(got["b1"], []any{map[string]any{"b": bin("01")}}) {
		t.Errorf("json-bin-515: b1 got %v", got["b1"])
	}
	// close_room empties r1 on both nodes.
	w.do(t, map[string]any{"op": "close_room", "room": "r1"})
	clusterEventually(t, "r1 closed", func() error {
		for _, g := range []*goNode{c.a, c.b} {
			if s := g.srv.Of("/").Adapter().Sockets([]string{"r1"}); len(s) > 0 {
				return fmt.Errorf("%s still has %v in r1", g.name, s)
			}
		}
		return nil
	})
	w.do(t, map[string]any{"op": "emit", "event": "after-close", "room": "r1"})
	// a pickle that would call os.system: refused, logged, nothing runs.
	w.do(t, map[string]any{"op": "evil"})
	refusals.wait(t, "the unsafe pickle refused and logged", func(m map[string]any) bool {
		return strings.Contains(fmt.Sprint(m["err"]), "pickle refused")
	})
	// disconnect a socket of the other node.
	w.do(t, map[string]any{"op": "disconnect", "sid": c.sids["a2"]})
	c.clients.log.wait(t, "a2 disconnected by the worker", fields("ev", "disconnect", "name", "a2"))
	c.expectDelivery("after-close", c.root, nil)
	c.expectDelivery("evil", c.root, nil)
	for i, br := range bridges {
		if st := br.Stats(); st.Refused != 1 || st.Applied < 11 {
			t.Errorf("bridge %d: %+v, want 1 refused and every other message applied", i, st)
		}
	}
}

// TestPythonChannelFlag runs the binary's wiring: --python-channel needs
// a broker adapter; with --adapter redis on a Redis Cluster URL with
// sharded pub/sub (redis+cluster://...?sharded=dynamic), the node serves
// its namespaces on shard channels and still hears a Python worker's
// RedisManager, which publishes with classic PUBLISH.
func TestPythonChannelFlag(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	o, err := parseFlags([]string{"--python-channel", "socketio"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := newServer(o, logger); err == nil || !strings.Contains(err.Error(), "--python-channel needs --adapter") {
		t.Errorf("memory adapter: err = %v, want a clear start-up error", err)
	}

	node, jsDir := redisInteropPrereqs(t)
	rc := redistest.StartCluster(t)
	channel := "siogate-py-" + randomHex(6)
	o, err = parseFlags([]string{"--adapter", "redis", "--redis-url", rc.URL("sharded=dynamic"),
		"--channel-prefix", "siogate-flag-" + randomHex(4), "--python-channel", channel}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, closer, err := newServer(o, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	// The sharded layout has one channel per namespace for requests and
	// broadcasts alike.
	if cl, ok := srv.Of("/").Adapter().(interface{ Channels() wire.Channels }); !ok {
		t.Errorf("adapter %T is not the cluster adapter", srv.Of("/").Adapter())
	} else if ch := cl.Channels(); ch.Request != ch.Broadcast || !strings.HasSuffix(ch.Request, "#/#") {
		t.Errorf("channels %+v, want the sharded layout's", ch)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := &cluster{t: t, node: node, jsDir: jsDir, sids: map[string]string{}}
	c.clients = startJS(t, node, jsDir, "redis-clients.mjs")
	c.clients.log.wait(t, "the client driver ready", fields("ev", "ready"))
	c.connect("p1", ts.URL, "/")
	w := startPythonWorker(t, "redis", "redis://"+rc.Addrs[0]+"/0", channel)
	w.do(t, map[string]any{"op": "emit", "event": "from-python", "data": "hi"})
	c.expectDelivery("from-python", []string{"p1"}, []string{"p1"})
}
