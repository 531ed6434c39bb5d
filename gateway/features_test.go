package gateway_test

// Tests of the server features Node's socket.io has (middlewares, dynamic
// namespaces, disconnect semantics, per-emit options, server-side emit),
// driven by the official socket.io-client (../js/interop/features.mjs)
// where a client is involved.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/protocol/socketio"
)

func TestMiddlewares(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ts := newSIO(t, gateway.Config{})
			ns := ts.srv.Of("/guarded")
			var order []string
			var mu sync.Mutex
			step := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
			ns.Use(func(s *gateway.Socket) error {
				step("mw1")
				var auth struct{ Token string }
				_ = json.Unmarshal(s.Auth(), &auth)
				if auth.Token != "good" {
					return &gateway.ConnectError{Message: "unauthorized", Data: map[string]any{"code": 42}}
				}
				s.SetData("user-1")
				return nil
			}, func(s *gateway.Socket) error {
				step("mw2")
				return nil
			})
			ns.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
				step("connect")
				s.Use(func(s *gateway.Socket, e *gateway.Event) error {
					if e.Name == "blocked" {
						return &gateway.EventError{Message: "event blocked", Data: e.Args.Len()}
					}
					return nil
				})
				return s.Emit("mw", s.Data())
			})
			ns.On("blocked", func(s *gateway.Socket, e *gateway.Event) []any {
				t.Error("a rejected event reached its handler")
				return nil
			})
			ns.On("fine", func(s *gateway.Socket, e *gateway.Event) []any { return []any{"ok", e.Args.Items()[0]} })

			p := runNode(t, "features.mjs", ts.ts.URL, "middleware", tr)
			var refused, accepted map[string]any
			p.expect("refused", &refused)
			equalJSON(t, "refused", refused, `{"ev":"refused","ok":false,"message":"unauthorized","data":{"code":42}}`)
			p.expect("accepted", &accepted)
			equalJSON(t, "accepted", accepted, `{"ev":"accepted","ok":true}`)
			var got struct{ Args []any }
			p.expect("mw", &got)
			equalJSON(t, "data set by the middleware", got.Args, `["user-1"]`)
			p.expect("blocked-ack", &got)
			equalJSON(t, "rejected event's ack", got.Args, `[{"message":"event blocked","data":1}]`)
			p.expect("blocked-event", &got)
			equalJSON(t, "rejected event's error event", got.Args, `[{"message":"event blocked","data":1}]`)
			p.expect("fine-ack", &got)
			equalJSON(t, "accepted event's ack", got.Args, `["ok",3]`)
			p.finish()
			mu.Lock()
			defer mu.Unlock()
			// The refused connect stopped at the first middleware.
			if want := []string{"mw1", "mw1", "mw2", "connect"}; !slices.Equal(order, want) {
				t.Errorf("order = %v, want %v", order, want)
			}
		})
	}
}

func TestDynamicNamespaces(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ts := newSIO(t, gateway.Config{})
			parent := ts.srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
			var mwRuns sync.Map
			parent.Use(func(s *gateway.Socket) error {
				mwRuns.Store(s.Namespace().Name(), true)
				return nil
			})
			parent.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
				return s.Emit("hello", s.Namespace().Name())
			})
			parent.On("parent-emit", func(s *gateway.Socket, e *gateway.Event) []any {
				if err := parent.Emit(context.Background(), "news", e.Args.String(0)); err != nil {
					t.Errorf("parent emit: %v", err)
				}
				return nil
			})
			p := runNode(t, "features.mjs", ts.ts.URL, "dynamic", tr)
			var got any
			p.expect("a", &got)
			equalJSON(t, "child 1", got, `{"ev":"a","ok":true}`)
			got = nil
			p.expect("b", &got)
			equalJSON(t, "child 2", got, `{"ev":"b","ok":true}`)
			got = nil
			p.expect("hello", &got)
			equalJSON(t, "parent's connect handler", got, `{"ev":"hello","a":["/dyn-1"],"b":["/dyn-2"]}`)
			got = nil
			p.expect("elsewhere", &got)
			equalJSON(t, "unmatched name", got, `{"ev":"elsewhere","ok":false,"message":"Invalid namespace"}`)
			got = nil
			p.expect("news", &got)
			equalJSON(t, "parent broadcast", got, `{"ev":"news","a":["all children"],"b":["all children"]}`)
			p.finish()
			for _, n := range []string{"/dyn-1", "/dyn-2"} {
				if _, ok := mwRuns.Load(n); !ok {
					t.Errorf("the parent's middleware did not run for %s", n)
				}
				// Emptied children are removed, with their adapter.
				eventually(t, n+" removed", func() bool { _, ok := ts.srv.Namespace(n); return !ok })
			}
			if _, ok := ts.srv.Namespace("/elsewhere"); ok {
				t.Error("an unmatched name created a namespace")
			}
		})
	}
}

// closeRecorder records the namespaces whose adapter was closed.
type closeRecorder struct {
	adapter.Adapter
	name   string
	mu     *sync.Mutex
	closed map[string]int
}

func (c closeRecorder) Close() error {
	c.mu.Lock()
	c.closed[c.name]++
	c.mu.Unlock()
	return c.Adapter.Close()
}

func TestDynamicNamespacesBounded(t *testing.T) {
	var mu sync.Mutex
	created, closed := map[string]int{}, map[string]int{}
	ts := newSIO(t, gateway.Config{Namespaces: []string{"*"}, Adapter: func(l adapter.Local) adapter.Adapter {
		mu.Lock()
		created[l.Name()]++
		mu.Unlock()
		return closeRecorder{adapter.NewMemory(l), l.Name(), &mu, closed}
	}})
	const n = 200
	c := ts.dial(t, "websocket")
	for i := range n {
		c.connect(t, fmt.Sprintf("/x%d", i), "")
		c.send(t, fmt.Sprintf("41/x%d,", i)) // leave it again
	}
	eventually(t, "every client namespace removed", func() bool { return len(ts.srv.Namespaces()) == 1 })
	eventually(t, "every removed namespace's adapter closed once", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(closed) != n {
			return false
		}
		for name, k := range closed {
			if k != 1 || created[name] != 1 || name == "/" {
				t.Fatalf("%s: created %d, closed %d", name, created[name], k)
			}
		}
		return true
	})

	// Named by the application: kept when it empties.
	ts.srv.Of("/kept")
	c.connect(t, "/kept", "")
	c.send(t, "41/kept,")
	c.connect(t, "/", "")
	if _, ok := ts.srv.Namespace("/kept"); !ok {
		t.Error("a namespace created with Of was removed when it emptied")
	}
}

func TestUnhandledEventNotAcknowledged(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	ts.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })
	p := runNode(t, "features.mjs", ts.ts.URL, "unhandled", "websocket")
	var got any
	p.expect("unhandled", &got)
	equalJSON(t, "event without handler", got, `{"ev":"unhandled","err":"operation has timed out"}`)
	got = nil
	p.expect("handled", &got)
	equalJSON(t, "event with handler", got, `{"ev":"handled","ack":[2]}`)
	p.finish()
}

func TestServerDisconnectWithClose(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ts := newSIO(t, gateway.Config{})
			reasons := make(chan gateway.DisconnectReason, 1)
			ts.srv.Of("/").OnDisconnect(func(s *gateway.Socket, r gateway.DisconnectReason) { reasons <- r })
			ts.srv.Of("/").On("close-me", func(s *gateway.Socket, e *gateway.Event) []any {
				s.Disconnect(true)
				return nil
			})
			p := runNode(t, "features.mjs", ts.ts.URL, "serverclose", tr)
			var got map[string]any
			p.expect("disconnect", &got)
			equalJSON(t, "client's reason", got, `{"ev":"disconnect","reason":"io server disconnect"}`)
			p.finish()
			if r := recv(t, reasons, "server disconnect"); r != gateway.ReasonServerNamespaceDisconnect {
				t.Errorf("server reason = %q", r)
			}
		})
	}
}

func TestBySidInConnectHandler(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	ns := ts.srv.Of("/")
	ns.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		// python-socketio's way: everything by sid, from the connect handler.
		if err := ns.SaveSession(s.ID(), map[string]any{"user": "ann"}); err != nil {
			return err
		}
		return ns.EnterRoom(context.Background(), s.ID(), "r1")
	})
	ns.On("my-state", func(s *gateway.Socket, e *gateway.Event) []any {
		sess, err := ns.GetSession(s.ID())
		if err != nil {
			t.Error(err)
		}
		return []any{sess, slices.Contains(ns.Rooms(s.ID()), "r1")}
	})
	p := runNode(t, "features.mjs", ts.ts.URL, "bysid", "websocket")
	var got struct{ Args []any }
	p.expect("state", &got)
	equalJSON(t, "session and room set from the connect handler", got.Args, `[{"user":"ann"},true]`)
	p.finish()
}

func TestDisconnectHandlersSeeState(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	ns := ts.srv.Of("/")
	type seen struct {
		step    string
		rooms   []string
		session map[string]any
		found   bool
	}
	got := make(chan seen, 2)
	look := func(step string) gateway.DisconnectHandler {
		return func(s *gateway.Socket, _ gateway.DisconnectReason) {
			sess, err := ns.GetSession(s.ID())
			_, found := ns.Socket(s.ID())
			if err != nil {
				t.Errorf("%s: GetSession by sid: %v", step, err)
			}
			// A broadcast to a room of the leaving socket must not reach it.
			if err := ns.To("r").Emit(context.Background(), "late", 1); err != nil {
				t.Error(err)
			}
			got <- seen{step, ns.Rooms(s.ID()), sess, found}
		}
	}
	ns.OnDisconnecting(look("disconnecting"))
	ns.OnDisconnect(look("disconnect"))
	ns.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		s.Join("r")
		s.SaveSession(map[string]any{"k": "v"})
		return nil
	})
	c := ts.dial(t, "websocket")
	sid := c.connect(t, "/", "")
	c.send(t, "41")
	for _, step := range []string{"disconnecting", "disconnect"} {
		s := recv(t, got, step)
		if s.step != step || !s.found || !slices.Contains(s.rooms, "r") || s.session["k"] != "v" {
			t.Errorf("%s handler saw %+v", step, s)
		}
	}
	eventually(t, "socket forgotten after the handlers", func() bool {
		_, ok := ns.Socket(sid)
		return !ok && ns.Rooms(sid) == nil
	})
	if f, err := c.nextErr(300 * time.Millisecond); err == nil {
		t.Errorf("the leaving client received %s", f)
	}
}

func TestSocketEmitOptions(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	sockets := make(chan *gateway.Socket, 1)
	ts.srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error { sockets <- s; return nil })
	c := ts.dial(t, "websocket")
	c.connect(t, "/", "")
	s := recv(t, sockets, "socket")

	// Timeout: the client never answers; the callback gets ErrAckTimeout.
	errs := make(chan error, 1)
	if err := s.Timeout(100*time.Millisecond).EmitWithCallback(func(_ socketio.Args, err error) { errs <- err }, "q", 1); err != nil {
		t.Fatal(err)
	}
	c.expect(t, `420["q",1]`)
	if err := recv(t, errs, "timeout"); !errors.Is(err, gateway.ErrAckTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("callback error = %v, want ErrAckTimeout wrapping DeadlineExceeded", err)
	}
	// The late answer is ignored.
	c.send(t, `430[1]`)

	// EmitWithAck: the answer comes back.
	go func() { c.expect(t, `421["q2"]`); c.send(t, `431["a"]`) }()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	args, err := s.EmitWithAck(ctx, "q2")
	if err != nil || args.String(0) != "a" {
		t.Errorf("EmitWithAck = %v, %v", args.String(0), err)
	}
	// Volatile and Compress(false) still deliver to a ready client.
	if err := s.Volatile().Compress(false).Emit("v", 1); err != nil {
		t.Fatal(err)
	}
	c.expect(t, `42["v",1]`)
}

func TestServerSideEmit(t *testing.T) {
	bus := adapter.NewBus()
	factory := adapter.NewCluster(bus, adapter.ClusterConfig{})
	a := newSIO(t, gateway.Config{Adapter: factory})
	b := newSIO(t, gateway.Config{Adapter: factory})
	heard := make(chan string, 2)
	b.srv.Of("/").OnServerEvent("ping", func(args socketio.Args) []any {
		heard <- args.String(0)
		return []any{"pong from b"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	eventually(t, "two nodes", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2
	})
	if err := a.srv.ServerSideEmit(ctx, "ping", "one"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, heard, "server-side event"); got != "one" {
		t.Errorf("b heard %q", got)
	}
	res, err := a.srv.Of("/").ServerSideEmitWithAck(ctx, "ping", "two")
	if err != nil || len(res) != 1 || res[0].String(0) != "pong from b" {
		t.Errorf("ServerSideEmitWithAck = %v, %v", res, err)
	}
	recv(t, heard, "second server-side event")
}

func TestDynamicNamespaceByFunction(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	parent := ts.srv.OfFunc(func(name string, auth json.RawMessage) bool {
		return strings.HasPrefix(name, "/team-") && strings.Contains(string(auth), `"member"`)
	})
	parent.On("where", func(s *gateway.Socket, e *gateway.Event) []any { return []any{s.Namespace().Name()} })
	c := ts.dial(t, "websocket")
	c.connect(t, "/team-a", `{"role":"member"}`)
	c.send(t, `42/team-a,7["where"]`)
	c.expect(t, `43/team-a,7["/team-a"]`)
	c.send(t, connectPacket("/team-b", `{"role":"guest"}`))
	c.expect(t, `44/team-b,{"message":"Invalid namespace"}`)
	if _, ok := ts.srv.Namespace("/team-b"); ok {
		t.Error("a refused name created a namespace")
	}
	if parent.Count() != 1 {
		t.Errorf("parent counts %d sockets over its children, want 1", parent.Count())
	}
}

func TestDrain(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	p := runNode(t, "features.mjs", ts.ts.URL, "drain", "websocket")
	p.expect("connected", nil)
	var raw []*client
	for range 10 {
		c := ts.dial(t, "polling")
		c.connect(t, "/", "")
		raw = append(raw, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Drain(ctx, 500*time.Millisecond) }()
	eventually(t, "draining", ts.srv.Draining)
	var got map[string]any
	p.expect("disconnect", &got)
	equalJSON(t, "client's reason", got, `{"ev":"disconnect","reason":"transport close"}`)
	p.expect("reconnect_refused", nil)
	p.finish()
	for _, c := range raw {
		c.expectClosed(t)
	}
	if err := recv(t, done, "Drain"); err != nil {
		t.Fatal(err)
	}
	if n := ts.srv.Engine().Count(); n != 0 {
		t.Errorf("%d connections left after Drain", n)
	}
}
