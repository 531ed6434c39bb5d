package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/protocol/socketio"
)

// chatNS is a class-based namespace used by the tests.
type chatNS struct {
	gateway.ClassNamespace
	mu     sync.Mutex
	events []string
}

func (c *chatNS) OnConnect(s *gateway.Socket, auth json.RawMessage) error {
	s.SaveSession(map[string]any{"auth": string(auth)})
	return nil
}

func (c *chatNS) OnDisconnect(s *gateway.Socket, r gateway.DisconnectReason) {
	c.mu.Lock()
	c.events = append(c.events, "disconnect:"+string(r))
	c.mu.Unlock()
}

// OnMyEvent handles "my_event", python's on_my_event.
func (c *chatNS) OnMyEvent(s *gateway.Socket, e *gateway.Event) []any {
	_ = c.Emit(context.Background(), "seen", e.Args.String(0)) // namespace-defaulting helper
	sess := s.GetSession()
	return []any{"class", sess["auth"]}
}

// OnShadowed is overridden by a handler set with On.
func (c *chatNS) OnShadowed(*gateway.Socket, *gateway.Event) []any { return []any{"class"} }

// OnRenamed is mapped to "renamedEvent" by EventNames.
func (c *chatNS) OnRenamed(*gateway.Socket, *gateway.Event) []any { return []any{"renamed"} }

func (c *chatNS) CatchAll(_ *gateway.Socket, e *gateway.Event) []any { return []any{"caught", e.Name} }

func (c *chatNS) EventNames() map[string]string {
	return map[string]string{"OnRenamed": "renamedEvent"}
}

func TestClassNamespace(t *testing.T) {
	for _, tr := range []string{"websocket", "polling"} {
		t.Run(tr, func(t *testing.T) {
			ts := newSIO(t, gateway.Config{})
			h := &chatNS{}
			ns, err := ts.srv.Register("/chat", h)
			if err != nil {
				t.Fatal(err)
			}
			ns.On("shadowed", func(*gateway.Socket, *gateway.Event) []any { return []any{"function"} })
			c := ts.dial(t, tr)
			c.connect(t, "/chat", `{"token":"t1"}`)

			c.send(t, `42/chat,1["my_event","hi"]`)
			// The broadcast from the helper and the ack, in either order.
			got := []string{string(c.next(t).data), string(c.next(t).data)}
			slices.Sort(got)
			want := []string{`42/chat,["seen","hi"]`, `43/chat,1["class","{\"token\":\"t1\"}"]`}
			if !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
			c.send(t, `42/chat,2["shadowed"]`)
			c.expect(t, `43/chat,2["function"]`)
			c.send(t, `42/chat,3["renamedEvent"]`)
			c.expect(t, `43/chat,3["renamed"]`)
			c.send(t, `42/chat,4["whatever",1]`)
			c.expect(t, `43/chat,4["caught","whatever"]`)

			c.send(t, "41/chat,")
			eventually(t, "the class disconnect handler runs", func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				return slices.Equal(h.events, []string{"disconnect:client namespace disconnect"})
			})
		})
	}
}

type badSignature struct{}

func (badSignature) OnThing(s *gateway.Socket) []any { return nil }

func TestRegisterRejectsBadSignatures(t *testing.T) {
	srv := gateway.NewServer(gateway.Config{})
	if _, err := srv.Register("/x", badSignature{}); err == nil {
		t.Fatal("a method with the wrong signature was accepted")
	}
	if _, err := srv.Register("/x", nil); err == nil {
		t.Fatal("nil was accepted")
	}
}

func TestSnakeCaseEventNames(t *testing.T) {
	type named struct{ gateway.ClassNamespace }
	cases := map[string]string{"MyEvent": "my_event", "HTTPPing": "http_ping", "Message": "message", "Step2Done": "step2_done"}
	_ = named{}
	for method, want := range cases {
		if got := gateway.SnakeCase(method); got != want {
			t.Errorf("%s → %q, want %q", method, got, want)
		}
	}
}

func TestSessions(t *testing.T) {
	ts := newSIO(t, gateway.Config{AsyncHandlers: true})
	ns := ts.srv.Of("/")
	sids := make(chan string, 1)
	ns.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		sids <- s.ID()
		return nil
	})
	ns.On("count", func(s *gateway.Socket, _ *gateway.Event) []any {
		s.UpdateSession(func(m map[string]any) {
			n, _ := m["n"].(int)
			m["n"] = n + 1
		})
		return nil
	})
	c := ts.dial(t, "websocket")
	c.connect(t, "/", "")
	sid := recv(t, sids, "connect")

	if err := ns.SaveSession(sid, map[string]any{"user": "ann"}); err != nil {
		t.Fatal(err)
	}
	// Concurrent updates from handlers (AsyncHandlers) and from outside
	// must not lose each other's changes.
	var wg sync.WaitGroup
	for i := range 50 {
		c.send(t, fmt.Sprintf(`42%d["count"]`, i))
		wg.Go(func() {
			_ = ns.UpdateSession(sid, func(m map[string]any) {
				n, _ := m["n"].(int)
				m["n"] = n + 1
			})
		})
	}
	wg.Wait()
	for range 50 {
		c.next(t) // the acks
	}
	got, err := ns.GetSession(sid)
	if err != nil {
		t.Fatal(err)
	}
	if got["user"] != "ann" || got["n"] != 100 {
		t.Fatalf("session = %v, want user ann and n 100", got)
	}
	got["user"] = "mutated copy"
	if again, _ := ns.GetSession(sid); again["user"] != "ann" {
		t.Fatal("GetSession returned the live map")
	}
	if r, err := ns.Request(sid); err != nil || r.URL.Query().Get("EIO") != "4" {
		t.Fatalf("Request = %v, %v", r, err)
	}
	if tr, err := ns.Transport(sid); err != nil || tr != "websocket" {
		t.Fatalf("Transport = %q, %v", tr, err)
	}

	// Unknown sids: errors, no panics.
	for _, err := range []error{
		ns.SaveSession("nope", nil),
		ns.UpdateSession("nope", func(map[string]any) {}),
		func() error { _, err := ns.GetSession("nope"); return err }(),
		func() error { _, err := ns.Request("nope"); return err }(),
		func() error { _, err := ns.Transport("nope"); return err }(),
	} {
		if !errors.Is(err, gateway.ErrUnknownSocket) {
			t.Errorf("unknown sid: err = %v", err)
		}
	}

	// The session goes with the socket.
	c.send(t, "41")
	eventually(t, "the socket leaves", func() bool {
		_, err := ns.GetSession(sid)
		return errors.Is(err, gateway.ErrUnknownSocket)
	})
}

func TestReservedEventNames(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	ns := ts.srv.Of("/")
	socks := make(chan *gateway.Socket, 1)
	handled := make(chan string, 4)
	ns.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		socks <- s
		return nil
	})
	ns.On("*", func(_ *gateway.Socket, e *gateway.Event) []any {
		handled <- e.Name
		return nil
	})
	c := ts.dial(t, "websocket")
	c.connect(t, "/", "")
	s := recv(t, socks, "connect")
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		if err := s.Emit(name); !errors.Is(err, gateway.ErrReserved) {
			t.Errorf("Socket.Emit(%q): %v, want ErrReserved", name, err)
		}
		if err := ns.Emit(context.Background(), name); !errors.Is(err, gateway.ErrReserved) {
			t.Errorf("Namespace.Emit(%q): %v, want ErrReserved", name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := s.EmitWithAck(ctx, name); !errors.Is(err, gateway.ErrReserved) {
			t.Errorf("Call(%q): %v, want ErrReserved", name, err)
		}
		cancel()
	}
	// A client sending a reserved name reaches no handler; the next event
	// does.
	c.send(t, `42["disconnect"]`)
	c.send(t, `42["message","x"]`)
	if got := recv(t, handled, "an event"); got != "message" {
		t.Fatalf("handler got %q first, want message (the reserved name ignored)", got)
	}
}

type obsRecorder struct {
	mu  sync.Mutex
	log []string
}

func (r *obsRecorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *obsRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

func (r *obsRecorder) SocketConnected(s *gateway.Socket) { r.add("connected " + s.Namespace().Name()) }
func (r *obsRecorder) SocketDisconnected(s *gateway.Socket, reason gateway.DisconnectReason) {
	r.add("disconnected " + string(reason))
}
func (r *obsRecorder) RoomJoined(nsp, room, sid string) {
	if room != sid {
		r.add("joined " + nsp + " " + room)
	}
}
func (r *obsRecorder) RoomLeft(nsp, room, sid string) {
	if room != sid {
		r.add("left " + nsp + " " + room)
	}
}
func (r *obsRecorder) EventReceived(_ *gateway.Socket, event string, args socketio.Args) {
	r.add(fmt.Sprintf("event %s %d", event, args.Len()))
}

func TestObserver(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	rec := &obsRecorder{}
	stop := ts.srv.Observe(rec)
	ns := ts.srv.Of("/")
	ns.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		s.Join(e.Args.String(0))
		return nil
	})
	c := ts.dial(t, "websocket")
	sid := c.connect(t, "/", "")
	c.send(t, `421["join","r1"]`)
	c.expect(t, `431[]`)
	if err := ns.EnterRoom(context.Background(), sid, "r2"); err != nil {
		t.Fatal(err)
	}
	if err := ns.CloseRoom(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	c.send(t, "41")
	want := []string{"connected /", "event join 1", "joined / r1", "joined / r2", "left / r1", "left / r2", "disconnected client namespace disconnect"}
	eventually(t, "every change observed", func() bool { return len(rec.lines()) >= len(want) })
	if got := rec.lines(); !slices.Equal(got, want) {
		t.Fatalf("observed %q\nwant     %q", got, want)
	}
	stop()
	c2 := ts.dial(t, "websocket")
	c2.connect(t, "/", "")
	if got := rec.lines(); len(got) != len(want) {
		t.Fatalf("observed after stop: %q", got[len(want):])
	}
	if n := len(ts.srv.Namespaces()); n != 1 || len(ns.Sockets()) != 1 {
		t.Fatalf("Namespaces=%d Sockets=%d", n, len(ns.Sockets()))
	}
}

// TestAsyncHandlers: by default a client's events are handled one at a
// time in arrival order; with AsyncHandlers they run concurrently (a
// handler blocked on a later event of the same client does not stall it).
func TestAsyncHandlers(t *testing.T) {
	t.Run("ordered", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		var mu sync.Mutex
		var got []string
		ts.srv.Of("/").On("n", func(_ *gateway.Socket, e *gateway.Event) []any {
			time.Sleep(time.Millisecond) // would let a concurrent later event overtake
			mu.Lock()
			got = append(got, e.Args.String(0))
			mu.Unlock()
			return nil
		})
		c := ts.dial(t, "websocket")
		c.connect(t, "/", "")
		var want []string
		for i := range 20 {
			want = append(want, fmt.Sprint(i))
			c.send(t, fmt.Sprintf(`42["n","%d"]`, i))
		}
		eventually(t, "all handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 20 })
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(got, want) {
			t.Fatalf("handled in order %v, want %v", got, want)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{AsyncHandlers: true})
		release := make(chan struct{})
		ts.srv.Of("/").On("wait", func(*gateway.Socket, *gateway.Event) []any {
			<-release // returns only once "go" has been handled
			return []any{"waited"}
		})
		ts.srv.Of("/").On("go", func(_ *gateway.Socket, e *gateway.Event) []any {
			// Answer before releasing "wait", so that the answers' order is
			// fixed (returning "went" after the close raced with "waited").
			_ = e.Ack("went")
			close(release)
			return nil
		})
		c := ts.dial(t, "websocket")
		c.connect(t, "/", "")
		c.send(t, `421["wait"]`)
		c.send(t, `422["go"]`)
		c.expect(t, `432["went"]`)
		c.expect(t, `431["waited"]`)
	})
}

// A client that leaves right after seeing its CONNECT answer, while the
// connect handler's emits are still being paced out, still gets its
// disconnect handler run.
func TestDisconnectRightAfterConnect(t *testing.T) {
	for i := range 20 {
		ts := newSIO(t, gateway.Config{})
		disc := make(chan gateway.DisconnectReason, 1)
		ts.srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
			return s.Emit("hello") // paced after the CONNECT answer
		})
		ts.srv.Of("/").OnDisconnect(func(_ *gateway.Socket, r gateway.DisconnectReason) { disc <- r })
		c := ts.dial(t, "websocket")
		c.connect(t, "/", "")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if r := recv(t, disc, fmt.Sprintf("disconnect handler (round %d)", i)); r != gateway.ReasonServerShutdown {
			t.Fatalf("reason %q", r)
		}
	}
}

// TestDisconnectFromConnectHandler: a socket told to leave while its
// CONNECT answer has not gone out yet (here from the connect handler,
// which CI once hit from another goroutine) must reach the client as the
// answer then a DISCONNECT, run the disconnect handler, and not stay in
// its namespace.
func TestDisconnectFromConnectHandler(t *testing.T) {
	for _, tr := range []string{"websocket", "polling"} {
		t.Run(tr, func(t *testing.T) {
			ts := newSIO(t, gateway.Config{})
			disc := make(chan gateway.DisconnectReason, 1)
			sids := make(chan string, 1)
			ts.srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
				sids <- s.ID()
				if err := s.Emit("hello"); err != nil {
					return err
				}
				s.Disconnect(false)
				return nil
			})
			ts.srv.Of("/").OnDisconnect(func(_ *gateway.Socket, r gateway.DisconnectReason) { disc <- r })
			c := ts.dial(t, tr)
			c.connect(t, "/", "")
			c.expect(t, `42["hello"]`)
			c.expect(t, "41")
			if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonServerNamespaceDisconnect {
				t.Fatalf("reason %q", r)
			}
			sid := <-sids
			if n := ts.srv.Of("/").Count(); n != 0 {
				t.Errorf("namespace still holds %d sockets", n)
			}
			if rooms := ts.srv.Of("/").Rooms(sid); len(rooms) != 0 {
				t.Errorf("the socket is still in rooms %v", rooms)
			}
		})
	}
}
