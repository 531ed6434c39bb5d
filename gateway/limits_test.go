package gateway_test

// Limits: a scripted abusive client beside a well-behaved socket.io-client
// on the same server; the abuser is cut or refused, the other keeps being
// served.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/protocol/socketio"
)

// steadyClient is the well-behaved socket.io-client (features.mjs steady)
// running beside an abuser: it measured its round trips alone before
// startSteady returned, and goes on until check.
type steadyClient struct {
	p    *nodeProc
	base steadyStats
	done int // round trips after the baseline, as of the last tick read
}

// steadyWait bounds each wait for the well-behaved client's lines: a
// node process and its 25 baseline round trips on a machine loaded by
// other tests may take a while.
const steadyWait = time.Minute

// steadyStats are round trips of acknowledged echoes, in milliseconds.
type steadyStats struct {
	Sent, Answered, Relayed      int
	Disconnected                 string
	P50Ms, P90Ms, P95Ms, WorstMs float64
}

// startSteady connects the well-behaved client to ts's "/" (which must
// answer "echo" with its arguments) and returns once its baseline is
// measured: the abuse starts after.
func startSteady(t *testing.T, ts *testServer) *steadyClient {
	t.Helper()
	return startSteadyURL(t, ts.ts.URL)
}

// startSteadyURL is startSteady for a server at url.
func startSteadyURL(t *testing.T, url string) *steadyClient {
	t.Helper()
	c := &steadyClient{p: runNodeFor(t, 2*time.Minute, "features.mjs", url, "steady", "websocket", "stdin")}
	c.p.expectWithin(steadyWait, "baseline", &c.base)
	if c.base.Answered != c.base.Sent {
		t.Fatalf("the well-behaved client was not served even alone: %+v", c.base)
	}
	return c
}

// rounds waits until the client has made n more round trips (in tens),
// so that the abuse is measured while it lasts.
func (c *steadyClient) rounds(t *testing.T, n int) {
	t.Helper()
	var tick struct{ Rounds int }
	for drained := false; !drained; { // ticks printed earlier
		select {
		case l, ok := <-c.p.lines:
			if !ok || l.Ev != "tick" || json.Unmarshal(l.Raw, &tick) != nil {
				t.Fatalf("the well-behaved client: %s (%v); stderr:\n%s", l.Raw, ok, c.p.stderrText())
			}
			c.done = tick.Rounds
		default:
			drained = true
		}
	}
	for range (n + 9) / 10 {
		c.p.expectWithin(steadyWait, "tick", &tick)
		c.done = tick.Rounds
	}
}

// besideRounds is how many round trips the well-behaved client makes
// beside a repeated abuse (beside): enough for a 90th percentile.
const besideRounds = 30

// beside runs abuse over and over, from its own goroutine, until the
// well-behaved client has made besideRounds round trips beside it (and
// at least once). An error from abuse fails the test.
func (c *steadyClient) beside(t *testing.T, abuse func() error) {
	t.Helper()
	stop := make(chan struct{})
	failed := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for first := true; ; first = false {
			if !first {
				select {
				case <-stop:
					return
				default:
				}
			}
			if err := abuse(); err != nil {
				failed <- err
				return
			}
		}
	}()
	c.rounds(t, besideRounds)
	close(stop)
	<-done
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}
}

// The well-behaved client's round trips beside an abuser may grow to ten
// times its own baseline plus 200 ms: its median against its baseline's
// median, its 90th percentile against its baseline's 95th (one stall of
// a loaded machine does not count).
func steadyBound(alone float64) float64 { return 10*alone + 200 }

// check stops the client (once it made besideRounds round trips after
// its baseline) and checks it was served throughout: every echo
// answered, no disconnection, round trips near its baseline. It returns
// what the client measured.
func (c *steadyClient) check(t *testing.T) steadyStats {
	t.Helper()
	if c.done < besideRounds { // enough round trips for percentiles
		c.rounds(t, besideRounds-c.done)
	}
	c.p.closeStdin()
	var r steadyStats
	c.p.expectWithin(steadyWait, "steady", &r)
	c.p.finish()
	t.Logf("well-behaved client: %d/%d answered; round trips p50 %.1f ms, p90 %.1f ms, p95 %.1f ms, slowest %.1f ms (alone: p50 %.1f ms, p95 %.1f ms)",
		r.Answered, r.Sent, r.P50Ms, r.P90Ms, r.P95Ms, r.WorstMs, c.base.P50Ms, c.base.P95Ms)
	if r.Disconnected != "" {
		t.Errorf("the well-behaved client was disconnected: %s", r.Disconnected)
	}
	if r.Sent == 0 || r.Answered != r.Sent {
		t.Errorf("the well-behaved client was not served: %d of %d answered", r.Answered, r.Sent)
	}
	if bound := steadyBound(c.base.P50Ms); r.P50Ms > bound {
		t.Errorf("the well-behaved client's median round trip went from %.1f ms alone to %.1f ms beside the abuser (bound %.0f ms)", c.base.P50Ms, r.P50Ms, bound)
	}
	if bound := steadyBound(c.base.P95Ms); r.P90Ms > bound {
		t.Errorf("the well-behaved client's 90th percentile round trip went to %.1f ms beside the abuser, its 95th alone was %.1f ms (bound %.0f ms)", r.P90Ms, c.base.P95Ms, bound)
	}
	return r
}

func echoServer(t *testing.T, cfg gateway.Config) *testServer {
	ts := newSIO(t, cfg)
	ts.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })
	return ts
}

func TestLimitEventFlood(t *testing.T) {
	for _, disconnect := range []bool{false, true} {
		t.Run(fmt.Sprintf("disconnect=%v", disconnect), func(t *testing.T) {
			ts := echoServer(t, gateway.Config{Limits: gateway.Limits{EventsPerSecond: 1e-3, EventBurst: 200, DisconnectOnEventFlood: disconnect}})
			var handled atomic.Int64
			ts.srv.Of("/").On("spam", func(s *gateway.Socket, e *gateway.Event) []any { handled.Add(1); return nil })
			good := startSteady(t, ts)
			abuser := ts.dial(t, "websocket")
			abuser.connect(t, "/", "")
			for range 1000 {
				if err := abuser.sendRaw(frame{data: []byte(`42["spam"]`)}); err != nil {
					break // cut
				}
			}
			if disconnect {
				abuser.expect(t, "41")
			} else {
				abuser.expect(t, `42["error",{"message":"rate limit exceeded"}]`)
			}
			good.check(t)
			if n := handled.Load(); n > 200 {
				t.Errorf("%d flood events reached the handler, want at most the burst (200)", n)
			}
		})
	}
}

func TestLimitNamespaces(t *testing.T) {
	ts := echoServer(t, gateway.Config{Namespaces: []string{"*"}, Limits: gateway.Limits{NamespacesPerConnection: 5, DynamicNamespaces: 8}})
	good := startSteady(t, ts)
	a := ts.dial(t, "websocket")
	for i := range 4 {
		a.connect(t, fmt.Sprintf("/a%d", i), "")
	}
	a.connect(t, "/", "")
	a.send(t, connectPacket("/a9", ""))
	a.expect(t, `44/a9,{"message":"too many namespaces on this connection"}`)

	// Dynamic namespaces in total, over connections: 4 taken by a, 4 more
	// allowed, then refused.
	b := ts.dial(t, "websocket")
	for i := range 4 {
		b.connect(t, fmt.Sprintf("/b%d", i), "")
	}
	b.send(t, connectPacket("/b9", ""))
	b.expect(t, `44/b9,{"message":"Invalid namespace"}`)
	good.check(t)

	// Everything the abusers made goes once they leave.
	a.close()
	b.close()
	eventually(t, "client namespaces removed", func() bool { return len(ts.srv.Namespaces()) == 1 })
	c := ts.dial(t, "websocket")
	c.connect(t, "/again", "")
}

func TestLimitRoomsAndAcks(t *testing.T) {
	ts := echoServer(t, gateway.Config{Limits: gateway.Limits{RoomsPerSocket: 10, PendingAcks: 5}})
	ts.srv.Of("/").On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		if err := s.Join(e.Args.String(0)); err != nil {
			return []any{err.Error()}
		}
		return []any{"ok"}
	})
	socks := make(chan *gateway.Socket, 1)
	ts.srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error { socks <- s; return nil })
	good := startSteady(t, ts)
	<-socks // the steady client's
	abuser := ts.dial(t, "websocket")
	abuser.connect(t, "/", "")
	s := recv(t, socks, "abuser's socket")
	for i := range 9 { // its own room + 9 = 10
		abuser.send(t, fmt.Sprintf(`421["join","r%d"]`, i))
		abuser.expect(t, `431["ok"]`)
	}
	abuser.send(t, `421["join","r9"]`)
	abuser.expect(t, `431["gateway: too many rooms for one socket (Limits.RoomsPerSocket)"]`)

	// The abuser never answers acks: the sixth request is refused at once.
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		if err := s.EmitWithCallback(func(socketio.Args, error) { wg.Done() }, "q", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EmitWithCallback(func(socketio.Args, error) {}, "q", 5); !errors.Is(err, gateway.ErrTooManyPendingAcks) {
		t.Errorf("sixth pending ack: err = %v", err)
	}
	good.check(t)
	abuser.close() // pending callbacks end with ErrDisconnected
	wg.Wait()
}

func TestLimitHandshakesAndConnections(t *testing.T) {
	handshake := func(ts *testServer) (int, string) {
		res, err := http.Get(ts.base() + "&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	t.Run("per address", func(t *testing.T) {
		ts := echoServer(t, gateway.Config{Limits: gateway.Limits{HandshakesPerSecond: 1e-3, HandshakeBurst: 3}})
		for i := range 3 {
			if code, body := handshake(ts); code != 200 {
				t.Fatalf("handshake %d: %d %s", i, code, body)
			}
		}
		if code, body := handshake(ts); code != http.StatusTooManyRequests || !strings.Contains(body, "Too many handshakes") {
			t.Errorf("fourth handshake: %d %s", code, body)
		}
	})
	t.Run("per node", func(t *testing.T) {
		ts := echoServer(t, gateway.Config{Limits: gateway.Limits{Connections: 2}})
		a := ts.dial(t, "websocket")
		ts.dial(t, "websocket")
		if code, body := handshake(ts); code != http.StatusServiceUnavailable {
			t.Errorf("third connection: %d %s", code, body)
		}
		a.close()
		eventually(t, "a slot again", func() bool { code, _ := handshake(ts); return code == 200 })
	})
}
