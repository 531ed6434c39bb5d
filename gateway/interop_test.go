package gateway_test

// Interop tests: the gateway driven by the official JavaScript client
// (socket.io-client 4.x from npm, run by node from ../js/interop/client.mjs).
// Each subtest starts a gateway on 127.0.0.1, runs one client scenario, and
// asserts on what the server handlers recorded and on the JSON lines the
// client printed.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
	"github.com/siogate/siogate/protocol/socketio"
)

const (
	interopScenarioTimeout = 30 * time.Second // whole node process
	interopWait            = 10 * time.Second // one expected observation
)

// interopNode returns the node binary and the js directory, failing (not
// skipping) when the JavaScript side is not installed.
func interopNode(t *testing.T) (node, jsDir string) {
	t.Helper()
	jsDir, err := filepath.Abs(filepath.Join("..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		t.Fatalf("interop tests need Node.js: `node` is not on PATH (%v); install Node.js 18+ and run `npm ci` in %s", err, jsDir)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client", "package.json")); err != nil {
		t.Fatalf("interop tests need socket.io-client: %s/node_modules is missing or incomplete (%v); run `npm ci` in %s", jsDir, err, jsDir)
	}
	return node, jsDir
}

// record is one thing a server handler saw.
type record struct {
	Kind      string // connect, disconnect, event, result
	NS        string
	SID       string
	ConnID    string
	Transport string
	Handshake string // transport of the handshake request
	Reason    gateway.DisconnectReason
	Name      string // event or result name
	Values    []any
	Err       error
	Auth      json.RawMessage
}

// recorder collects records from handler goroutines.
type recorder struct {
	mu     sync.Mutex
	recs   []record
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{})} }

func (r *recorder) add(x record) {
	r.mu.Lock()
	r.recs = append(r.recs, x)
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) all(match func(record) bool) []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []record
	for _, x := range r.recs {
		if match(x) {
			out = append(out, x)
		}
	}
	return out
}

// wait returns the first record matching, waiting up to interopWait.
func (r *recorder) wait(t *testing.T, what string, match func(record) bool) record {
	t.Helper()
	timer := time.NewTimer(interopWait)
	defer timer.Stop()
	for {
		r.mu.Lock()
		for _, x := range r.recs {
			if match(x) {
				r.mu.Unlock()
				return x
			}
		}
		ch := r.notify
		r.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("server never recorded %s; records: %+v", what, r.all(func(record) bool { return true }))
		}
	}
}

func kind(k string) func(record) bool { return func(x record) bool { return x.Kind == k } }

func named(k, name string) func(record) bool {
	return func(x record) bool { return x.Kind == k && x.Name == name }
}

func values(t *testing.T, e *gateway.Event) []any {
	vals, err := e.Args.Values()
	if err != nil {
		t.Errorf("event %q: decoding args: %v", e.Name, err)
	}
	return vals
}

// startInterop starts a gateway with the interop handlers on 127.0.0.1.
// It returns the base URL and what the handlers record.
func startInterop(t *testing.T, cfg gateway.Config) (string, *recorder) {
	t.Helper()
	rec := newRecorder()
	srv := gateway.NewServer(cfg)
	installHandlers(t, srv, rec)
	ts := httptest.NewUnstartedServer(srv)
	ts.Start() // httptest listens on 127.0.0.1
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ts.URL, rec
}

func installHandlers(t *testing.T, srv *gateway.Server, rec *recorder) {
	onConnect := func(s *gateway.Socket, auth json.RawMessage) {
		rec.add(record{
			Kind: "connect", NS: s.Namespace().Name(), SID: s.ID(), ConnID: s.ConnID(), Auth: auth,
			Transport: s.Transport(), Handshake: s.Request().URL.Query().Get("transport"),
		})
	}
	onDisconnect := func(s *gateway.Socket, reason gateway.DisconnectReason) {
		rec.add(record{Kind: "disconnect", NS: s.Namespace().Name(), SID: s.ID(), ConnID: s.ConnID(), Reason: reason})
	}
	event := func(s *gateway.Socket, e *gateway.Event) {
		rec.add(record{Kind: "event", NS: s.Namespace().Name(), SID: s.ID(), Transport: s.Transport(), Name: e.Name, Values: values(t, e)})
	}
	result := func(s *gateway.Socket, name string, vals []any, err error) {
		rec.add(record{Kind: "result", NS: s.Namespace().Name(), SID: s.ID(), Name: name, Values: vals, Err: err})
	}
	argValues := func(a interface{ Values() ([]any, error) }) []any {
		v, err := a.Values()
		if err != nil {
			t.Errorf("decoding ack args: %v", err)
		}
		return v
	}

	root := srv.Of("/")
	root.OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		onConnect(s, auth)
		return s.Emit("welcome", s.Transport(), "hi")
	})
	root.OnDisconnect(onDisconnect)
	root.On("echo", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		return e.Args.Items()
	})
	root.On("whoami", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		return []any{s.Transport()}
	})
	root.On("auth-echo", func(s *gateway.Socket, e *gateway.Event) []any {
		return []any{s.Auth()}
	})
	root.On("sum", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		total := 0.0
		for i := range e.Args.Len() {
			var f float64
			if err := e.Args.Decode(i, &f); err != nil {
				t.Errorf("sum arg %d: %v", i, err)
			}
			total += f
		}
		return []any{total, "sum", e.Args.Len()}
	})
	root.On("noargs", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		return nil
	})
	root.On("start-calls", func(s *gateway.Socket, e *gateway.Event) []any {
		// Handlers run on the connection's reader: wait for acks elsewhere.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), interopWait)
			defer cancel()
			args, err := s.EmitWithAck(ctx, "question", "q1", 21)
			var vals []any
			if err == nil {
				vals = argValues(args)
			}
			result(s, "call", vals, err)
			cbDone := make(chan []any, 1)
			if err := s.EmitWithCallback(func(a socketio.Args, err error) {
				if err != nil {
					t.Errorf("EmitWithCallback: %v", err)
				}
				cbDone <- argValues(a)
			}, "question2", "hey"); err != nil {
				t.Errorf("EmitWithCallback: %v", err)
				return
			}
			select {
			case v := <-cbDone:
				result(s, "callback", v, nil)
			case <-ctx.Done():
				result(s, "callback", nil, ctx.Err())
			}
			_ = s.Emit("calls-done", "ok")
		}()
		return nil
	})
	root.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		s.Join(e.Args.String(0))
		return []any{true}
	})
	root.On("shout", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		if err := srv.To(e.Args.String(0)).Emit(context.Background(), "news", e.Args.String(1)); err != nil {
			t.Errorf("room broadcast: %v", err)
		}
		return []any{true}
	})
	root.On("relay", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		if err := s.To(e.Args.String(0)).Emit(context.Background(), "relay", e.Args.String(1)); err != nil {
			t.Errorf("socket room broadcast: %v", err)
		}
		return []any{true}
	})
	root.On("sync", func(s *gateway.Socket, e *gateway.Event) []any { return []any{true} })
	root.On("ready", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		return []any{true}
	})
	root.On("kick-me", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		s.Disconnect(false)
		return nil
	})
	root.On("close-me", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		s.Disconnect(true)
		return nil
	})
	root.On("bin", func(s *gateway.Socket, e *gateway.Event) []any {
		event(s, e)
		var b0, b1 []byte
		var nested struct {
			Nested struct {
				Buf []byte `json:"buf"`
			} `json:"nested"`
		}
		errs := errors.Join(e.Args.Decode(0, &b0), e.Args.Decode(1, &b1), e.Args.Decode(2, &nested))
		result(s, "bin-decoded", []any{b0, b1, nested.Nested.Buf}, errs)
		if err := s.Emit("bin-from-server", []byte{0xde, 0xad}, map[string]any{"x": []byte{1}, "y": "z"}); err != nil {
			t.Errorf("emit binary: %v", err)
		}
		return []any{[]byte{7, 8, 9}, map[string]any{"deep": []any{[]byte("yo"), "plain"}}, "str"}
	})
	root.On("start-bin-call", func(s *gateway.Socket, e *gateway.Event) []any {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), interopWait)
			defer cancel()
			args, err := s.EmitWithAck(ctx, "bin-call", map[string]any{"payload": []byte{0xca, 0xfe}})
			if err != nil {
				result(s, "bin-call", nil, err)
				return
			}
			var reply []byte
			var inner struct {
				Inner []byte `json:"inner"`
			}
			err = errors.Join(args.Decode(0, &reply), args.Decode(1, &inner))
			result(s, "bin-call", []any{reply, inner.Inner}, err)
			_ = s.Emit("bin-call-done")
		}()
		return nil
	})
	root.On("start-noack", func(s *gateway.Socket, e *gateway.Event) []any {
		go func() {
			short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			start := time.Now()
			_, err := s.EmitWithAck(short, "never", "x")
			cancel()
			result(s, "never-ctx", []any{time.Since(start)}, err)

			// No deadline on the context: Config.AckTimeout applies.
			start = time.Now()
			_, err = s.EmitWithAck(context.Background(), "never", "y")
			result(s, "never-default", []any{time.Since(start)}, err)

			// The ack comes after the timeout: the late answer is dropped.
			short, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
			_, err = s.EmitWithAck(short, "slow", "s")
			cancel()
			result(s, "slow", nil, err)
			time.Sleep(700 * time.Millisecond)

			ok, cancel := context.WithTimeout(context.Background(), interopWait)
			args, err := s.EmitWithAck(ok, "question", "q")
			cancel()
			var vals []any
			if err == nil {
				vals = argValues(args)
			}
			result(s, "after-timeouts", vals, err)
			_ = s.Emit("calls-done", "ok")
		}()
		return nil
	})

	for _, name := range []string{"/a", "/b"} {
		ns := srv.Of(name)
		ns.OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			onConnect(s, auth)
			return s.Emit("hello", "from "+name)
		})
		ns.OnDisconnect(onDisconnect)
		ns.On("which", func(s *gateway.Socket, e *gateway.Event) []any {
			event(s, e)
			return []any{s.Namespace().Name(), s.ConnID()}
		})
	}

	private := srv.Of("/private")
	private.OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		onConnect(s, auth)
		var a struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(auth, &a); err != nil || a.Token != "s3cret" {
			return &gateway.ConnectError{Message: "not authorized", Data: map[string]any{"code": 4001, "reason": "bad token"}}
		}
		return nil
	})
	private.On("whoami-private", func(s *gateway.Socket, e *gateway.Event) []any {
		return []any{s.Namespace().Name()}
	})
	srv.Of("/plain-refuse").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		onConnect(s, auth)
		return errors.New("plain refusal")
	})
}

// nodeLine is one JSON line printed by the script.
type nodeLine struct {
	Ev  string
	Raw json.RawMessage
}

// nodeProc is a running node script.
type nodeProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan nodeLine // closed at EOF
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
	err    error          // exit status, once exited is closed
	stdin  io.WriteCloser // the script's standard input (closeStdin)
}

func (p *nodeProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *nodeProc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// runNode starts `node <js>/interop/<script> args...`, killed when the test
// ends or after interopScenarioTimeout.
func runNode(t *testing.T, script string, args ...string) *nodeProc {
	t.Helper()
	return runNodeFor(t, interopScenarioTimeout, script, args...)
}

// runNodeFor is runNode with the process killed after limit.
func runNodeFor(t *testing.T, limit time.Duration, script string, args ...string) *nodeProc {
	t.Helper()
	node, jsDir := interopNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(jsDir, "interop", script)}, args...)...)
	cmd.Dir = jsDir
	cmd.WaitDelay = 2 * time.Second
	p := &nodeProc{t: t, cmd: cmd, lines: make(chan nodeLine, 256), exited: make(chan struct{})}
	cmd.Stderr = p
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting node: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var l struct {
				Ev string `json:"ev"`
			}
			raw := append(json.RawMessage(nil), sc.Bytes()...)
			if err := json.Unmarshal(raw, &l); err != nil {
				l.Ev = "non-json"
			}
			p.lines <- nodeLine{Ev: l.Ev, Raw: raw}
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cancel() // kills node if it is still running
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			t.Errorf("node %s did not exit", script)
		}
		if t.Failed() {
			t.Logf("node stderr:\n%s", p.stderrText())
		}
	})
	return p
}

// expect waits for the next line with event ev (skipping others) and
// decodes it into v.
func (p *nodeProc) expect(ev string, v any) {
	p.t.Helper()
	p.expectWithin(interopWait, ev, v)
}

// expectWithin is expect waiting up to d.
func (p *nodeProc) expectWithin(d time.Duration, ev string, v any) {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.exited
				p.t.Fatalf("node exited (%v) before printing %q; stderr:\n%s", p.err, ev, p.stderrText())
			}
			if l.Ev == "error" || l.Ev == "non-json" {
				p.t.Fatalf("node script failed waiting for %q: %s\nstderr:\n%s", ev, l.Raw, p.stderrText())
			}
			if l.Ev != ev {
				if l.Ev != "tick" { // progress lines (features.mjs steady)
					p.t.Logf("node (skipped while waiting for %q): %s", ev, l.Raw)
				}
				continue
			}
			if v != nil {
				if err := json.Unmarshal(l.Raw, v); err != nil {
					p.t.Fatalf("decoding %s: %v", l.Raw, err)
				}
			}
			return
		case <-timer.C:
			p.t.Fatalf("node never printed %q; stderr:\n%s", ev, p.stderrText())
		}
	}
}

// finish waits for "done" and a clean exit.
func (p *nodeProc) finish() {
	p.t.Helper()
	p.expect("done", nil)
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Fatalf("node exited with %v; stderr:\n%s", p.err, p.stderrText())
		}
	case <-time.After(interopWait):
		p.t.Fatal("node did not exit after done")
	}
}

// closeStdin closes the script's standard input (a script waiting for its
// end goes on).
func (p *nodeProc) closeStdin() {
	_ = p.stdin.Close()
}

// kill ends the node process abruptly (SIGKILL).
func (p *nodeProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("killing node: %v", err)
	}
	<-p.exited
}

func equalJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var gv, wv any
	if err := json.Unmarshal(g, &gv); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &wv); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if !reflect.DeepEqual(gv, wv) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, want)
	}
}

func TestInterop(t *testing.T) {
	interopNode(t) // fail early, once, when node or node_modules is missing
	base := gateway.Config{Engine: engineio.Config{PingInterval: 5 * time.Second, PingTimeout: 5 * time.Second}}

	for _, tr := range []string{"websocket", "polling"} {
		t.Run("transport-only-"+tr, func(t *testing.T) {
			t.Parallel()
			url, rec := startInterop(t, base)
			p := runNode(t, "client.mjs", url, "basic", tr)
			var conn struct{ ID, Transport string }
			p.expect("connect", &conn)
			if conn.Transport != tr {
				t.Errorf("client transport = %q, want %q", conn.Transport, tr)
			}
			var welcome struct{ Args []any }
			p.expect("welcome", &welcome)
			equalJSON(t, "welcome args", welcome.Args, fmt.Sprintf(`[%q,"hi"]`, tr))
			var ack struct{ Args []any }
			p.expect("ack", &ack)
			equalJSON(t, "echo ack", ack.Args, `["hello",42,{"a":[1,2]}]`)
			var last struct{ Transport string }
			p.expect("transport", &last)
			if last.Transport != tr {
				t.Errorf("client transport changed to %q", last.Transport)
			}
			p.finish()

			c := rec.wait(t, "connect", kind("connect"))
			if c.Transport != tr || c.SID != conn.ID || c.NS != "/" {
				t.Errorf("server connect = %+v, want transport %q sid %q", c, tr, conn.ID)
			}
			e := rec.wait(t, "echo", named("event", "echo"))
			equalJSON(t, "server echo args", e.Values, `["hello",42,{"a":[1,2]}]`)
			if e.Transport != tr {
				t.Errorf("server transport at echo = %q", e.Transport)
			}
			d := rec.wait(t, "disconnect", kind("disconnect"))
			if d.Reason != gateway.ReasonClientNamespaceDisconnect {
				t.Errorf("disconnect reason = %q", d.Reason)
			}
		})
	}

	t.Run("polling-upgrade", func(t *testing.T) {
		t.Parallel()
		url, rec := startInterop(t, base)
		p := runNode(t, "client.mjs", url, "upgrade")
		var conn struct {
			Handshake struct {
				Transport string
				Upgrades  []string
			}
		}
		p.expect("connect", &conn)
		if conn.Handshake.Transport != "polling" || !slices.Equal(conn.Handshake.Upgrades, []string{"websocket"}) {
			t.Errorf("handshake = %+v, want over polling offering websocket", conn.Handshake)
		}
		var before struct{ Args []string }
		p.expect("ack-before", &before)
		var up struct{ Transport string }
		p.expect("upgrade", &up)
		if up.Transport != "websocket" {
			t.Errorf("upgraded to %q", up.Transport)
		}
		var after struct {
			Args      []string
			Transport string
		}
		p.expect("ack", &after)
		if after.Transport != "websocket" || !slices.Equal(after.Args, []string{"websocket"}) {
			t.Errorf("after upgrade: client %q, server said %v; want websocket on both", after.Transport, after.Args)
		}
		p.finish()
		c := rec.wait(t, "connect", kind("connect"))
		if c.Handshake != "polling" {
			t.Errorf("server saw the handshake on %q, want polling", c.Handshake)
		}
		whoami := rec.all(named("event", "whoami"))
		if len(whoami) != 2 || whoami[1].Transport != "websocket" {
			t.Errorf("server whoami records = %+v", whoami)
		}
	})

	t.Run("namespaces-multiplexed", func(t *testing.T) {
		t.Parallel()
		url, rec := startInterop(t, base)
		p := runNode(t, "client.mjs", url, "namespaces")
		var conn struct {
			SharedManager bool
			EngineID      string
			Nsps          []string
		}
		p.expect("connected", &conn)
		if !conn.SharedManager || !slices.Equal(conn.Nsps, []string{"/a", "/b"}) {
			t.Errorf("client side: %+v, want one manager with /a and /b", conn)
		}
		var hello struct{ A, B []string }
		p.expect("hello", &hello)
		if !slices.Equal(hello.A, []string{"from /a"}) || !slices.Equal(hello.B, []string{"from /b"}) {
			t.Errorf("hello per namespace = %+v", hello)
		}
		var which struct{ A, B []string }
		p.expect("which", &which)
		if len(which.A) != 2 || len(which.B) != 2 || which.A[0] != "/a" || which.B[0] != "/b" {
			t.Fatalf("which = %+v", which)
		}
		if which.A[1] != conn.EngineID || which.B[1] != conn.EngineID {
			t.Errorf("namespaces not on the client's one connection %q: %+v", conn.EngineID, which)
		}
		var after struct {
			B                      []string
			AConnected, BConnected bool
		}
		p.expect("which-after", &after)
		if after.AConnected || !after.BConnected || len(after.B) == 0 || after.B[0] != "/b" {
			t.Errorf("after leaving /a: %+v", after)
		}
		p.finish()
		conns := rec.all(kind("connect"))
		if len(conns) != 2 || conns[0].ConnID != conns[1].ConnID || conns[0].ConnID != conn.EngineID {
			t.Errorf("server connects = %+v, want /a and /b on engine session %q", conns, conn.EngineID)
		}
		if len(rec.all(func(r record) bool { return r.NS == "/" })) != 0 {
			t.Error("the main namespace was joined though the client never asked")
		}
		da := rec.wait(t, "/a disconnect", func(r record) bool { return r.Kind == "disconnect" && r.NS == "/a" })
		if da.Reason != gateway.ReasonClientNamespaceDisconnect {
			t.Errorf("/a disconnect reason = %q", da.Reason)
		}
		rec.wait(t, "/b disconnect", func(r record) bool { return r.Kind == "disconnect" && r.NS == "/b" })
	})

	t.Run("auth-payload", func(t *testing.T) {
		t.Parallel()
		url, rec := startInterop(t, base)
		p := runNode(t, "client.mjs", url, "auth")
		var echo struct{ Args []any }
		p.expect("auth-echo", &echo)
		equalJSON(t, "auth echoed to the client", echo.Args, `[{"token":"s3cret","user":"ana","n":7}]`)
		var priv struct{ Args []string }
		p.expect("private", &priv)
		if !slices.Equal(priv.Args, []string{"/private"}) {
			t.Errorf("private namespace ack = %v", priv.Args)
		}
		p.finish()
		c := rec.wait(t, "connect /", func(r record) bool { return r.Kind == "connect" && r.NS == "/" })
		equalJSON(t, "auth in connect handler", c.Auth, `{"token":"s3cret","user":"ana","n":7}`)
	})

	t.Run("auth-refused", func(t *testing.T) {
		t.Parallel()
		url, rec := startInterop(t, base)
		p := runNode(t, "client.mjs", url, "refused")
		var got map[string]any
		p.expect("refused", &got)
		equalJSON(t, "connect_error (ConnectError)", got["private"], `{"message":"not authorized","data":{"code":4001,"reason":"bad token"},"active":false}`)
		equalJSON(t, "connect_error (plain error)", got["plain"], `{"message":"plain refusal","data":null,"active":false}`)
		equalJSON(t, "connect_error (unknown namespace)", got["unknown"], `{"message":"Invalid namespace","data":null,"active":false}`)
		p.finish()
		c := rec.wait(t, "/private connect attempt", func(r record) bool { return r.Kind == "connect" && r.NS == "/private" })
		equalJSON(t, "refused auth", c.Auth, `{"token":"wrong"}`)
		if d := rec.all(kind("disconnect")); len(d) != 0 {
			t.Errorf("refused sockets ran the disconnect handler: %+v", d)
		}
	})

	for _, tr := range []string{"websocket", "polling"} {
		t.Run("binary-"+tr, func(t *testing.T) {
			t.Parallel()
			url, rec := startInterop(t, base)
			p := runNode(t, "client.mjs", url, "binary", tr)
			var ack struct{ Args any }
			p.expect("bin-ack", &ack)
			equalJSON(t, "binary ack", ack.Args, `[{"$bin":"Buffer","hex":"070809"},{"deep":[{"$bin":"Buffer","hex":"796f"},"plain"]},"str"]`)
			var from struct{ Args any }
			p.expect("bin-from-server", &from)
			equalJSON(t, "binary event", from.Args, `[{"$bin":"Buffer","hex":"dead"},{"x":{"$bin":"Buffer","hex":"01"},"y":"z"}]`)
			var call struct{ Args any }
			p.expect("bin-call", &call)
			equalJSON(t, "binary call payload", call.Args, `[{"payload":{"$bin":"Buffer","hex":"cafe"}}]`)
			p.finish()

			dec := rec.wait(t, "bin decoded", named("result", "bin-decoded"))
			if dec.Err != nil {
				t.Fatalf("decoding client binary: %v", dec.Err)
			}
			want := []any{[]byte{1, 2, 3}, []byte{4, 5, 6}, []byte("hi")}
			if !reflect.DeepEqual(dec.Values, want) {
				t.Errorf("server decoded %#v\nwant %#v", dec.Values, want)
			}
			// Values() of the raw event: attachments as []byte in the tree.
			ev := rec.wait(t, "bin event", named("event", "bin"))
			wantVals := []any{[]byte{1, 2, 3}, []byte{4, 5, 6}, map[string]any{"nested": map[string]any{"buf": []byte("hi")}, "list": []any{[]byte{0xff, 0}, "text", []byte{7}}}, "plain"}
			if !reflect.DeepEqual(ev.Values, wantVals) {
				t.Errorf("event values %#v\nwant %#v", ev.Values, wantVals)
			}
			bc := rec.wait(t, "bin call", named("result", "bin-call"))
			if bc.Err != nil || !reflect.DeepEqual(bc.Values, []any{[]byte("reply"), []byte{1, 2}}) {
				t.Errorf("binary ack from client = %#v, %v", bc.Values, bc.Err)
			}
		})
	}

	for _, tr := range []string{"websocket", "polling"} {
		t.Run("acks-"+tr, func(t *testing.T) {
			t.Parallel()
			url, rec := startInterop(t, base)
			p := runNode(t, "client.mjs", url, "acks", tr)
			var sum struct{ Args []any }
			p.expect("sum", &sum)
			equalJSON(t, "multi-value ack", sum.Args, `[6,"sum",3]`)
			var first struct{ First any }
			p.expect("sum-promise", &first)
			equalJSON(t, "emitWithAck", first.First, `30`)
			p.expect("sum-timeout", &first)
			equalJSON(t, "timeout().emitWithAck", first.First, `5`)
			var none struct{ Args []any }
			p.expect("noargs", &none)
			if len(none.Args) != 0 {
				t.Errorf("empty ack carried %v", none.Args)
			}
			var q struct {
				A string
				B float64
			}
			p.expect("question", &q)
			if q.A != "q1" || q.B != 21 {
				t.Errorf("client got question %+v", q)
			}
			p.expect("calls-done", nil)
			p.finish()

			c := rec.wait(t, "Call result", named("result", "call"))
			if c.Err != nil {
				t.Fatalf("Call: %v", c.Err)
			}
			equalJSON(t, "Call ack args", c.Values, `["answer","q1",42,{"ok":true}]`)
			cb := rec.wait(t, "EmitWithCallback result", named("result", "callback"))
			if cb.Err != nil {
				t.Fatalf("EmitWithCallback: %v", cb.Err)
			}
			equalJSON(t, "EmitWithCallback ack args", cb.Values, `["hey!"]`)
		})
	}

	t.Run("rooms", func(t *testing.T) {
		t.Parallel()
		url, rec := startInterop(t, base)
		p := runNode(t, "client.mjs", url, "rooms")
		var joined struct{ IDs []string }
		p.expect("joined", &joined)
		var rooms struct {
			Got []struct{ News, Relay [][]string }
		}
		p.expect("rooms", &rooms)
		p.finish()
		if len(rooms.Got) != 3 {
			t.Fatalf("rooms result %+v", rooms)
		}
		want := []struct{ news, relay int }{{1, 0}, {1, 1}, {0, 0}}
		for i, g := range rooms.Got {
			if len(g.News) != want[i].news || len(g.Relay) != want[i].relay {
				t.Errorf("client %d got news %v relay %v; want %d news and %d relay", i, g.News, g.Relay, want[i].news, want[i].relay)
			}
			for _, n := range g.News {
				if !slices.Equal(n, []string{"hello r1"}) {
					t.Errorf("client %d news payload %v", i, n)
				}
			}
			for _, r := range g.Relay {
				if !slices.Equal(r, []string{"from c0"}) {
					t.Errorf("client %d relay payload %v", i, r)
				}
			}
		}
		conns := rec.all(kind("connect"))
		if len(conns) != 3 || conns[0].ConnID == conns[1].ConnID || conns[1].ConnID == conns[2].ConnID {
			t.Errorf("want three separate connections, got %+v", conns)
		}
	})

	t.Run("disconnect-by-client", func(t *testing.T) {
		t.Parallel()
		url, rec := startInterop(t, base)
		p := runNode(t, "client.mjs", url, "disconnect-client", "websocket")
		var d struct{ Reason string }
		p.expect("disconnect", &d)
		if d.Reason != "io client disconnect" {
			t.Errorf("client reason = %q", d.Reason)
		}
		p.finish()
		sd := rec.wait(t, "disconnect", kind("disconnect"))
		if sd.Reason != gateway.ReasonClientNamespaceDisconnect {
			t.Errorf("server reason = %q, want %q", sd.Reason, gateway.ReasonClientNamespaceDisconnect)
		}
	})

	for _, tr := range []string{"websocket", "polling"} {
		t.Run("disconnect-by-server-"+tr, func(t *testing.T) {
			t.Parallel()
			url, rec := startInterop(t, base)
			p := runNode(t, "client.mjs", url, "disconnect-server", tr)
			var d struct {
				Reason            string
				Connected, Active bool
			}
			p.expect("disconnect", &d)
			if d.Reason != "io server disconnect" || d.Connected || d.Active {
				t.Errorf("client saw %+v, want reason %q and no reconnection", d, "io server disconnect")
			}
			p.finish()
			sd := rec.wait(t, "disconnect", kind("disconnect"))
			if sd.Reason != gateway.ReasonServerNamespaceDisconnect {
				t.Errorf("server reason = %q", sd.Reason)
			}
			if n := len(rec.all(kind("connect"))); n != 1 {
				t.Errorf("%d connects, want 1 (no reconnection)", n)
			}
		})

		t.Run("connection-closed-by-server-"+tr, func(t *testing.T) {
			t.Parallel()
			url, rec := startInterop(t, base)
			p := runNode(t, "client.mjs", url, "close-server", tr)
			var d struct{ Reason string }
			p.expect("disconnect", &d)
			// As Node's server: a DISCONNECT goes out before the close, so
			// the client does not reconnect by itself.
			if d.Reason != "io server disconnect" {
				t.Errorf("client reason = %q, want %q", d.Reason, "io server disconnect")
			}
			p.finish()
			sd := rec.wait(t, "disconnect", kind("disconnect"))
			if sd.Reason != gateway.ReasonServerNamespaceDisconnect {
				t.Errorf("server reason = %q, want %q", sd.Reason, gateway.ReasonServerNamespaceDisconnect)
			}
		})

		t.Run("client-killed-"+tr, func(t *testing.T) {
			t.Parallel()
			cfg := base
			cfg.Engine.PingInterval = 300 * time.Millisecond
			cfg.Engine.PingTimeout = 300 * time.Millisecond
			url, rec := startInterop(t, cfg)
			p := runNode(t, "client.mjs", url, "hang", tr)
			var ready struct{ Transport string }
			p.expect("ready", &ready)
			if ready.Transport != tr {
				t.Errorf("client transport %q", ready.Transport)
			}
			start := time.Now()
			p.kill()
			sd := rec.wait(t, "disconnect", kind("disconnect"))
			if sd.Reason != gateway.ReasonTransportClose && sd.Reason != gateway.ReasonPingTimeout {
				t.Errorf("server reason = %q, want transport close or ping timeout", sd.Reason)
			}
			t.Logf("%s: server noticed the killed client after %v: %q", tr, time.Since(start).Round(time.Millisecond), sd.Reason)
		})
	}

	t.Run("call-timeout-without-ack", func(t *testing.T) {
		t.Parallel()
		cfg := base
		cfg.AckTimeout = 400 * time.Millisecond
		url, rec := startInterop(t, cfg)
		p := runNode(t, "client.mjs", url, "noack", "websocket")
		var never struct{ Args []string }
		p.expect("never", &never)
		if !slices.Equal(never.Args, []string{"x"}) {
			t.Errorf("client got never %v", never.Args)
		}
		p.expect("never", &never)
		p.expect("calls-done", nil)
		var still struct{ Args []any }
		p.expect("still-ok", &still)
		equalJSON(t, "ack after timeouts", still.Args, `[4,"sum",2]`)
		p.finish()

		for _, c := range []struct {
			name     string
			min, max time.Duration
		}{{"never-ctx", 250 * time.Millisecond, 3 * time.Second}, {"never-default", 350 * time.Millisecond, 3 * time.Second}} {
			r := rec.wait(t, c.name, named("result", c.name))
			if !errors.Is(r.Err, gateway.ErrAckTimeout) {
				t.Errorf("%s: err = %v, want ErrAckTimeout", c.name, r.Err)
			}
			if d := r.Values[0].(time.Duration); d < c.min || d > c.max {
				t.Errorf("%s: returned after %v, want between %v and %v", c.name, d, c.min, c.max)
			}
		}
		if r := rec.wait(t, "slow", named("result", "slow")); !errors.Is(r.Err, gateway.ErrAckTimeout) {
			t.Errorf("late ack: err = %v, want ErrAckTimeout", r.Err)
		}
		r := rec.wait(t, "after-timeouts", named("result", "after-timeouts"))
		if r.Err != nil {
			t.Fatalf("Call after timeouts: %v", r.Err)
		}
		equalJSON(t, "Call after a late ack", r.Values, `["answer q"]`)
		if !strings.Contains(fmt.Sprint(r.Values), "answer q") {
			t.Errorf("late ack leaked into a later call: %v", r.Values)
		}
	})
}
