package gateway_test

// Connection state recovery: the protocol byte for byte with a raw client,
// the edge cases, and the official socket.io-client through a proxy that
// keeps cutting its connection.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway"
)

// recoveryServer is a server with recovery on and a room "r" joined on
// connect; it reports its sockets on the channel.
func recoveryServer(t *testing.T, rc gateway.RecoveryConfig) (*testServer, chan *gateway.Socket) {
	t.Helper()
	rc.Enabled = true
	ts := newSIO(t, gateway.Config{Recovery: rc})
	socks := make(chan *gateway.Socket, 16)
	ts.srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		if !s.Recovered() {
			s.Join("r")
			s.SetData(map[string]any{"user": "ann"})
			s.SaveSession(map[string]any{"n": 1})
		}
		socks <- s
		return nil
	})
	return ts, socks
}

// connectAnswer reads a CONNECT answer of "/" and returns its sid and pid.
func connectAnswer(t *testing.T, f frame) (sid, pid string) {
	t.Helper()
	body, ok := strings.CutPrefix(f.String(), "40")
	if !ok {
		t.Fatalf("want a CONNECT answer, got %s", f)
	}
	var a struct{ SID, PID string }
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.SID == "" {
		t.Fatalf("CONNECT answer %s: %v", body, err)
	}
	return a.SID, a.PID
}

// tick reads an event ["tick", n, offset] and returns n and the offset.
func tick(t *testing.T, f frame) (int, string) {
	t.Helper()
	var args []any
	body, ok := strings.CutPrefix(f.String(), "42")
	if !ok || json.Unmarshal([]byte(body), &args) != nil || len(args) != 3 || args[0] != "tick" {
		t.Fatalf("want [\"tick\",n,offset], got %s", f)
	}
	off, _ := args[2].(string)
	if off == "" {
		t.Fatalf("no offset in %s", f)
	}
	return int(args[1].(float64)), off
}

func emitTicks(t *testing.T, op gateway.Operator, from, to int) {
	t.Helper()
	for n := from; n <= to; n++ {
		if err := op.Emit(context.Background(), "tick", n); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecoveryProtocol(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ts, socks := recoveryServer(t, gateway.RecoveryConfig{})
			c := ts.dial(t, tr)
			c.send(t, connectPacket("/", ""))
			sid, pid := connectAnswer(t, c.next(t))
			if pid == "" {
				t.Fatal("no pid in the CONNECT answer")
			}
			first := recv(t, socks, "socket")

			// Room, namespace and single-socket emits carry an offset.
			emitTicks(t, ts.srv.To("r"), 1, 2)
			if err := first.Emit("tick", 3); err != nil {
				t.Fatal(err)
			}
			var last string
			for want := 1; want <= 3; want++ {
				n, off := tick(t, c.next(t))
				if n != want {
					t.Fatalf("tick %d, want %d", n, want)
				}
				last = off
			}
			// Not stored: volatile events and events with an ack carry none.
			if err := ts.srv.To("r").Volatile().Emit(context.Background(), "v"); err != nil {
				t.Fatal(err)
			}
			c.expect(t, `42["v"]`)

			c.close() // the connection drops: "transport close"
			eventually(t, "old socket gone", func() bool { return !first.Connected() })
			emitTicks(t, ts.srv.To("r"), 4, 5)         // missed, in its room
			emitTicks(t, ts.srv.To("elsewhere"), 6, 6) // missed, not for it
			emitTicks(t, ts.srv.Of("/").Except("r"), 7, 7)

			c2 := ts.dial(t, tr)
			c2.send(t, connectPacket("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, last)))
			// The missed events come first, then the answer, same sid and pid.
			for want := 4; want <= 5; want++ {
				if n, _ := tick(t, c2.next(t)); n != want {
					t.Fatalf("replayed tick %d, want %d", n, want)
				}
			}
			sid2, pid2 := connectAnswer(t, c2.next(t))
			if sid2 != sid || pid2 != pid {
				t.Errorf("recovered sid/pid = %s/%s, want %s/%s", sid2, pid2, sid, pid)
			}
			s := recv(t, socks, "recovered socket")
			if !s.Recovered() || !slices.Contains(s.Rooms(), "r") {
				t.Errorf("recovered=%v rooms=%v", s.Recovered(), s.Rooms())
			}
			if d, _ := s.Data().(map[string]any); d["user"] != "ann" {
				t.Errorf("data = %v", s.Data())
			}
			if v := s.GetSession(); v["n"] != float64(1) {
				t.Errorf("session = %v", v)
			}
			// Live again.
			emitTicks(t, ts.srv.To("r"), 8, 8)
			if n, _ := tick(t, c2.next(t)); n != 8 {
				t.Fatalf("tick %d after recovery", n)
			}
		})
	}
}

func TestRecoveryEdgeCases(t *testing.T) {
	// start connects a client and returns it with its pid and the offset
	// of one event it received.
	start := func(t *testing.T, ts *testServer, socks chan *gateway.Socket) (c *client, s *gateway.Socket, pid, offset string) {
		c = ts.dial(t, "websocket")
		c.send(t, connectPacket("/", ""))
		_, pid = connectAnswer(t, c.next(t))
		s = recv(t, socks, "socket")
		emitTicks(t, ts.srv.To("r"), 1, 1)
		_, offset = tick(t, c.next(t))
		return c, s, pid, offset
	}
	// comeBack reconnects with auth and reports whether the session was
	// recovered (same sid) and the socket the server made.
	comeBack := func(t *testing.T, ts *testServer, socks chan *gateway.Socket, auth string) (*client, *gateway.Socket) {
		c := ts.dial(t, "websocket")
		c.send(t, connectPacket("/", auth))
		for {
			f := c.next(t)
			if strings.HasPrefix(f.String(), "40") {
				break
			}
			if !strings.HasPrefix(f.String(), "42") {
				t.Fatalf("unexpected %s before the CONNECT answer", f)
			}
		}
		return c, recv(t, socks, "socket after coming back")
	}
	auth := func(pid, offset string) string { return fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset) }

	t.Run("expired session", func(t *testing.T) {
		ts, socks := recoveryServer(t, gateway.RecoveryConfig{MaxDisconnectionDuration: 50 * time.Millisecond})
		c, s, pid, off := start(t, ts, socks)
		c.close()
		eventually(t, "gone", func() bool { return !s.Connected() })
		time.Sleep(100 * time.Millisecond) // past the session's lifetime
		_, s2 := comeBack(t, ts, socks, auth(pid, off))
		if s2.Recovered() || s2.ID() == s.ID() {
			t.Error("an expired session was recovered")
		}
	})
	t.Run("trimmed offset", func(t *testing.T) {
		store := adapter.NewMemoryStore(adapter.MemoryStoreOptions{MaxPackets: 5})
		ts, socks := recoveryServer(t, gateway.RecoveryConfig{Store: store})
		c, s, pid, off := start(t, ts, socks)
		c.close()
		eventually(t, "gone", func() bool { return !s.Connected() })
		emitTicks(t, ts.srv.To("r"), 2, 20) // pushes the client's offset out
		_, s2 := comeBack(t, ts, socks, auth(pid, off))
		if s2.Recovered() {
			t.Error("recovered past a trimmed offset (events would be missing)")
		}
	})
	t.Run("too many missed", func(t *testing.T) {
		ts, socks := recoveryServer(t, gateway.RecoveryConfig{MaxReplay: 3})
		c, s, pid, off := start(t, ts, socks)
		c.close()
		eventually(t, "gone", func() bool { return !s.Connected() })
		emitTicks(t, ts.srv.To("r"), 2, 5)
		_, s2 := comeBack(t, ts, socks, auth(pid, off))
		if s2.Recovered() {
			t.Error("recovered with more missed events than MaxReplay")
		}
	})
	t.Run("forged pid", func(t *testing.T) {
		ts, socks := recoveryServer(t, gateway.RecoveryConfig{})
		_, _, _, off := start(t, ts, socks)
		_, s2 := comeBack(t, ts, socks, auth("forged", off))
		if s2.Recovered() {
			t.Error("a forged pid recovered")
		}
	})
	t.Run("pid of another namespace", func(t *testing.T) {
		ts, socks := recoveryServer(t, gateway.RecoveryConfig{})
		other := make(chan string, 1)
		ts.srv.Of("/other").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
			other <- fmt.Sprint(s.Recovered())
			return nil
		})
		c, s, pid, off := start(t, ts, socks)
		c.close()
		eventually(t, "gone", func() bool { return !s.Connected() })
		c2 := ts.dial(t, "websocket")
		c2.send(t, connectPacket("/other", auth(pid, off)))
		if f := c2.next(t); !strings.HasPrefix(f.String(), "40/other,{") {
			t.Fatalf("want the CONNECT answer of /other, got %s", f)
		}
		if r := recv(t, other, "/other connect"); r != "false" {
			t.Error("a session of / was recovered in /other")
		}
	})
	t.Run("client or server disconnect keeps nothing", func(t *testing.T) {
		ts, socks := recoveryServer(t, gateway.RecoveryConfig{})
		c, s, pid, off := start(t, ts, socks)
		c.send(t, "41") // the client leaves
		eventually(t, "gone", func() bool { return !s.Connected() })
		_, s2 := comeBack(t, ts, socks, auth(pid, off))
		if s2.Recovered() {
			t.Error("recovered after the client chose to leave")
		}
		c3, s3, pid3, off3 := start(t, ts, socks)
		s3.Disconnect(false)
		c3.expect(t, "41")
		_, s4 := comeBack(t, ts, socks, auth(pid3, off3))
		if s4.Recovered() {
			t.Error("recovered after the server disconnected the socket")
		}
	})
	t.Run("same pid twice at once", func(t *testing.T) {
		ts, socks := recoveryServer(t, gateway.RecoveryConfig{})
		c, s, pid, off := start(t, ts, socks)
		c.close()
		eventually(t, "gone", func() bool { return !s.Connected() })
		var wg sync.WaitGroup
		results := make(chan bool, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cc, err := ts.dialErr("websocket", dialOpts{})
				if err != nil {
					t.Error(err)
					return
				}
				t.Cleanup(cc.close)
				if err := cc.sendRaw(frame{data: []byte(connectPacket("/", auth(pid, off)))}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for range 2 {
			results <- recv(t, socks, "socket").Recovered()
		}
		close(results)
		n := 0
		for r := range results {
			if r {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d of 2 clients presenting one pid recovered, want 1", n)
		}
	})
	t.Run("old connection still half-open", func(t *testing.T) {
		ts, socks := recoveryServer(t, gateway.RecoveryConfig{})
		_, s, pid, off := start(t, ts, socks)
		// The first connection is still open on the server: no session was
		// kept, so the newcomer gets a fresh one and the old socket lives.
		_, s2 := comeBack(t, ts, socks, auth(pid, off))
		if s2.Recovered() || s2.ID() == s.ID() || !s.Connected() {
			t.Errorf("recovered=%v sameID=%v oldConnected=%v", s2.Recovered(), s2.ID() == s.ID(), s.Connected())
		}
	})
	t.Run("quiet socket recovers from its connect", func(t *testing.T) {
		ts, socks := recoveryServer(t, gateway.RecoveryConfig{})
		emitTicks(t, ts.srv.To("r"), 1, 1) // before the client: not for it
		c := ts.dial(t, "websocket")
		c.send(t, connectPacket("/", ""))
		_, pid := connectAnswer(t, c.next(t))
		s := recv(t, socks, "socket")
		c.close()
		eventually(t, "gone", func() bool { return !s.Connected() })
		emitTicks(t, ts.srv.To("r"), 2, 2)
		// socket.io-client sends no offset when it received no event.
		c2 := ts.dial(t, "websocket")
		c2.send(t, connectPacket("/", fmt.Sprintf(`{"pid":%q}`, pid)))
		if n, _ := tick(t, c2.next(t)); n != 2 {
			t.Errorf("replayed tick %d, want 2", n)
		}
		connectAnswer(t, c2.next(t))
		if !recv(t, socks, "socket").Recovered() {
			t.Error("not recovered")
		}
	})
}

// cuttingProxy forwards TCP connections to target and cuts them all every
// period, until the test ends.
func cuttingProxy(t *testing.T, target string, period time.Duration) (addr string, cuts func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	n := 0
	done := make(chan struct{})
	track := func(c net.Conn) {
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
	}
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				continue
			}
			track(down)
			track(up)
			go func() { _, _ = io.Copy(up, down); up.Close(); down.Close() }()
			go func() { _, _ = io.Copy(down, up); up.Close(); down.Close() }()
		}
	}()
	go func() {
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				mu.Lock()
				for c := range conns {
					c.Close()
					delete(conns, c)
				}
				n++
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestRecoveryThroughCuts: the unchanged socket.io-client, its connection
// cut every 2 s for 30 s while 50 events/s flow, gets every event once and
// in order with recovery on; with recovery off the same run loses events
// (so the test can fail).
func TestRecoveryThroughCuts(t *testing.T) {
	interopNode(t)
	const rate, duration = 50, 30 * time.Second
	const count = int(rate * duration / time.Second)
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("recovery=%v", on), func(t *testing.T) {
			t.Parallel()
			srv := gateway.NewServer(gateway.Config{Recovery: gateway.RecoveryConfig{Enabled: on}})
			ready := make(chan struct{}, 1)
			srv.Of("/").On("ready", func(s *gateway.Socket, e *gateway.Event) []any {
				select {
				case ready <- struct{}{}:
				default:
				}
				return nil
			})
			ts := httptest.NewServer(srv)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
				ts.Close()
			})
			proxy, cuts := cuttingProxy(t, strings.TrimPrefix(ts.URL, "http://"), 2*time.Second)
			args := []string{"http://" + proxy, fmt.Sprint(count), "websocket"}
			if !on {
				args = append(args, "no-offsets")
			}
			p := runNodeFor(t, 90*time.Second, "recovery.mjs", args...)
			var first struct{ ID string }
			p.expect("connected", &first)
			recv(t, ready, "client ready")
			tk := time.NewTicker(time.Second / rate)
			for n := 1; n <= count; n++ {
				<-tk.C
				_ = srv.Emit(context.Background(), "tick", n)
			}
			tk.Stop()
			stop := make(chan struct{})
			go func() {
				// Tell the client the stream is over, until it says so.
				tk := time.NewTicker(200 * time.Millisecond)
				defer tk.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tk.C:
						_ = srv.Emit(context.Background(), "end")
					}
				}
			}()
			defer close(stop)
			var res struct{ Got []int }
			p.expectWithin(60*time.Second, "ticks", &res)
			p.finish()
			t.Logf("recovery=%v: %d cuts, %d of %d events received", on, cuts(), len(res.Got), count)
			if cuts() < 10 {
				t.Fatalf("only %d cuts: the proxy did not disturb the stream", cuts())
			}
			inOrder := slices.IsSorted(res.Got) && len(slices.Compact(slices.Clone(res.Got))) == len(res.Got)
			if on {
				if len(res.Got) != count || !inOrder {
					t.Errorf("recovery on: got %d events (in order, no duplicates: %v), want all %d", len(res.Got), inOrder, count)
				}
			} else if len(res.Got) == count {
				t.Errorf("recovery off lost nothing through %d cuts: the test cannot tell recovery from luck", cuts())
			}
		})
	}
}
