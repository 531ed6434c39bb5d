package gateway_test

// Hardening the edge (issue #13): each abusive client of engineio's
// edge tests and the admin UI's throttle tests, now beside the real
// socket.io-client on the same server. Each test asserts that the abuser
// is cut or refused, that the well-behaved client keeps getting its acks
// with round trips near its own baseline (steadyClient), and that the
// server's goroutines and descriptors return to what they were.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/admin"
	"github.com/siogate/siogate/gateway/engineio"
)

// processUse is what the test process holds: the server, its clients
// written in Go, and the test itself.
type processUse struct{ goroutines, fds int }

func measureUse(t *testing.T) processUse {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting descriptors: %v", err)
	}
	return processUse{goroutines: runtime.NumGoroutine(), fds: len(fds)}
}

// baselineUse returns the process's use once it stops falling (the
// goroutines of earlier work ending).
func baselineUse(t *testing.T) processUse {
	t.Helper()
	u := measureUse(t)
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		v := measureUse(t)
		if v.goroutines >= u.goroutines && v.fds >= u.fds {
			return v
		}
		u = v
	}
	return u
}

// useMargin allows for the goroutines and descriptors of the runtime and
// of the HTTP client pools that come and go on their own.
const useMargin = 4

// backToBaseline waits until the process holds no more goroutines and
// descriptors than base (within useMargin).
func backToBaseline(t *testing.T, base processUse, closeIdle ...func()) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, f := range closeIdle {
			f()
		}
		u := measureUse(t)
		if u.goroutines <= base.goroutines+useMargin && u.fds <= base.fds+useMargin {
			t.Logf("process back to baseline: %d goroutines, %d descriptors (before the abuse: %d, %d)", u.goroutines, u.fds, base.goroutines, base.fds)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after the abuse: %d goroutines, %d descriptors; before: %d, %d (margin %d)\n%s",
				u.goroutines, u.fds, base.goroutines, base.fds, useMargin, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawConn is a hand-driven HTTP/WebSocket connection for abusers that do
// what no library client does (stop reading, never end a body).
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, br: bufio.NewReader(c)}, nil
}

// upgrade opens a WebSocket session, reads its open packet and joins "/".
// It reads nothing more.
func (c *rawConn) upgrade(host string) error {
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", host, base64.StdEncoding.EncodeToString(key[:]))
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("websocket handshake: %v %v", res, err)
	}
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return err
	}
	open := make([]byte, h[1]&0x7f)
	if _, err := io.ReadFull(c.br, open); err != nil || len(open) == 0 || open[0] != '0' {
		return fmt.Errorf("open packet %q: %v", open, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c.text("40")
}

// text writes one masked, final text frame of up to 125 bytes.
func (c *rawConn) text(s string) error {
	b := []byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}
	_, _ = rand.Read(b[2:6])
	for i := range len(s) {
		b = append(b, s[i]^b[2+i%4])
	}
	_, err := c.Write(b)
	return err
}

// cutWithin reports whether the server closes the connection within d
// (reading and discarding what it sends).
func (c *rawConn) cutWithin(d time.Duration) bool {
	return c.cut(d) == nil
}

// cut waits until the server closes the connection, for up to d (reading
// and discarding what it sends), and says what it read otherwise.
func (c *rawConn) cut(d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("still open after %v (%d bytes read)", d, n)
	}
	return nil
}

// closedWithin waits until the server closes c's session.
func (c *client) closedWithin(d time.Duration) error {
	timeout := time.After(d)
	for {
		select {
		case <-c.done:
			return nil
		case <-c.msgs:
		case <-timeout:
			return fmt.Errorf("%s session not closed within %v", c.transport, d)
		}
	}
}

// relayServer is an echo server whose "relay" handler passes its
// arguments on to every other socket, the documented pattern that used
// to carry invalid UTF-8 to every client.
func relayServer(t *testing.T, cfg gateway.Config) *testServer {
	ts := echoServer(t, cfg)
	ts.srv.Of("/").On("relay", func(s *gateway.Socket, e *gateway.Event) []any {
		_ = s.Broadcast().Emit(context.Background(), "relay", e.Args.Items()...)
		return nil
	})
	return ts
}

// Abusers send text that is not UTF-8, over WebSocket and over polling,
// to a server relaying it, again and again: each WebSocket is closed
// with 1007, each polling POST refused with 400 and its session closed;
// the socket.io-client that would have received the text stays
// connected and gets only the valid relays.
func TestEdgeInvalidUTF8Relay(t *testing.T) {
	ts := relayServer(t, gateway.Config{})
	good := startSteady(t, ts)
	base := baselineUse(t)

	var abusers int64
	good.beside(t, func() error {
		ws, err := ts.dialErr("websocket", dialOpts{})
		if err != nil {
			return err
		}
		defer ws.close()
		if err := ws.sendRaw(frame{data: []byte("40")}); err != nil {
			return err
		}
		if _, err := ws.nextErr(waitFor); err != nil {
			return err
		}
		if err := ws.sendRaw(frame{data: []byte(`42["relay","valid"]`)}); err != nil {
			return err
		}
		if err := ws.sendRaw(frame{data: []byte("42[\"relay\",\"\xff\xfe\"]")}); err != nil {
			return err
		}
		if err := ws.closedWithin(waitFor); err != nil {
			return err
		}
		var ce *gws.CloseError
		if err := ws.closeErr.Load(); err == nil || !errors.As(*err, &ce) || ce.Code != 1007 {
			return fmt.Errorf("WebSocket closed with %v, want status 1007", err)
		}

		poll, err := ts.dialErr("polling", dialOpts{})
		if err != nil {
			return err
		}
		defer poll.close()
		if err := poll.sendRaw(frame{data: []byte("40")}); err != nil {
			return err
		}
		if _, err := poll.nextErr(waitFor); err != nil {
			return err
		}
		if err := poll.sendRaw(frame{data: []byte(`42["relay","valid too"]`)}); err != nil {
			return err
		}
		res, err := defaultHTTP.Post(poll.url, "text/plain;charset=UTF-8", strings.NewReader("42[\"relay\",\"\xc3\x28\"]"))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			return fmt.Errorf("invalid UTF-8 POST: HTTP %d, want 400", res.StatusCode)
		}
		if err := poll.closedWithin(waitFor); err != nil {
			return err
		}
		abusers += 2
		return nil
	})
	r := good.check(t)
	if int64(r.Relayed) != abusers {
		t.Errorf("the well-behaved client received %d relays, want the %d valid ones", r.Relayed, abusers)
	}
	if n := ts.srv.Engine().Stats().InvalidUTF8; n != abusers {
		t.Errorf("%d sessions counted as closed for invalid UTF-8, want the %d abusers", n, abusers)
	}
	backToBaseline(t, base, defaultHTTP.CloseIdleConnections)
}

// Clients that stop reading while 64 KB events are sent to them, one per
// transport at a time, are cut once more than QueueBytes (1 MiB by
// default) waits for them, and the memory they held is freed. The
// socket.io-client beside them keeps its round trips.
func TestEdgeSlowReader(t *testing.T) {
	ts := echoServer(t, gateway.Config{})
	socks := make(chan *gateway.Socket, 4)
	ts.srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error { socks <- s; return nil })
	good := startSteady(t, ts)
	recv(t, socks, "the well-behaved client's socket")
	base := baselineUse(t)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	addr := ts.ts.Listener.Addr().String()

	big := strings.Repeat("x", 64<<10)
	var floods []string // events sent to each abuser before it was cut
	flood := func(s *gateway.Socket) error {
		// The connect handler runs before the socket counts as connected.
		for deadline := time.Now().Add(waitFor); !s.Connected(); {
			if time.Now().After(deadline) {
				return fmt.Errorf("the %s abuser's socket never connected", s.Transport())
			}
			time.Sleep(time.Millisecond)
		}
		sent := 0
		var err error
		for sent < 1000 && s.Connected() { // at most 64 MB
			if err = s.Emit("big", big); err != nil {
				break
			}
			sent++
		}
		if sent >= 1000 {
			return fmt.Errorf("%s abuser never cut", s.Transport())
		}
		floods = append(floods, fmt.Sprintf("%s %d (%v)", s.Transport(), sent, err))
		return nil
	}
	var abusers int64
	good.beside(t, func() error {
		// WebSocket: upgraded and joined, then never read.
		ws, err := dialRaw(addr)
		if err != nil {
			return err
		}
		defer ws.Close()
		if err := ws.upgrade(addr); err != nil {
			return err
		}
		var s *gateway.Socket
		select {
		case s = <-socks:
		case <-time.After(waitFor):
			return errors.New("the WebSocket abuser's socket never connected")
		}
		if err := flood(s); err != nil {
			return err
		}
		if err := ws.cut(waitFor); err != nil {
			return fmt.Errorf("the WebSocket abuser's connection: %w (socket connected: %v)", err, s.Connected())
		}

		// Polling: a handshake and a CONNECT, and never a GET (a GET
		// abandoned would end the session).
		res, err := defaultHTTP.Get(ts.base() + "&transport=polling")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		sid, err := openSID(body)
		if err != nil {
			return err
		}
		res, err = defaultHTTP.Post(ts.base()+"&transport=polling&sid="+sid, "text/plain;charset=UTF-8", strings.NewReader("40"))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("polling CONNECT: HTTP %d", res.StatusCode)
		}
		select {
		case s = <-socks:
		case <-time.After(waitFor):
			return errors.New("the polling abuser's socket never connected")
		}
		if err := flood(s); err != nil {
			return err
		}
		abusers += 2
		return nil
	})
	t.Logf("64 KB events sent before each abuser was cut: %v", floods)
	good.check(t)
	if n := ts.srv.Engine().Stats().SlowClients; n != abusers {
		t.Errorf("%d slow clients counted, want the %d abusers", n, abusers)
	}
	backToBaseline(t, base, defaultHTTP.CloseIdleConnections)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > baseHeap+8<<20 {
		t.Errorf("heap after the abusers left: %d MB, before: %d MB", ms.HeapAlloc>>20, baseHeap>>20)
	}
}

// Idle keep-alive connections and polling POSTs whose chunked body never
// ends, by the hundred, on an http.Server with the documented timeouts:
// every one is closed (idle ones after IdleTimeout, POSTs after
// PingTimeout), the descriptors return to what they were, and the
// socket.io-client beside them keeps its round trips.
func TestEdgeIdleConnectionsAndEndlessPosts(t *testing.T) {
	srv := gateway.NewServer(gateway.Config{Engine: engineio.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 800 * time.Millisecond}})
	srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ReadHeaderTimeout = time.Second
	ts.Config.IdleTimeout = 300 * time.Millisecond
	ts.Start()
	t.Cleanup(ts.Close)
	addr := ts.Listener.Addr().String()
	good := startSteadyURL(t, ts.URL)
	base := baselineUse(t)

	const idle, posts = 200, 20
	var total int
	good.beside(t, func() error {
		var conns []*rawConn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for range idle {
			c, err := dialRaw(addr)
			if err != nil {
				return err
			}
			conns = append(conns, c)
			fmt.Fprintf(c, "GET /nothing HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			_ = c.SetReadDeadline(time.Now().Add(waitFor))
			res, err := http.ReadResponse(c.br, nil)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		for range posts {
			res, err := defaultHTTP.Get(ts.URL + "/socket.io/?EIO=4&transport=polling")
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			sid, err := openSID(body)
			if err != nil {
				return err
			}
			c, err := dialRaw(addr)
			if err != nil {
				return err
			}
			conns = append(conns, c)
			fmt.Fprintf(c, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n40\r\n", sid, addr)
		}
		var wg sync.WaitGroup
		var open atomic.Int64
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !c.cutWithin(10 * time.Second) {
					open.Add(1)
				}
			}()
		}
		wg.Wait()
		total += len(conns)
		if n := open.Load(); n > 0 {
			return fmt.Errorf("%d of %d abusive connections still open after 10 s", n, len(conns))
		}
		return nil
	})
	t.Logf("%d abusive connections, all cut", total)
	good.check(t)
	backToBaseline(t, base, defaultHTTP.CloseIdleConnections)
}

// An abuser asks StaticFS (an os.DirFS) for symlinks out of its tree and
// for names with NUL bytes, over and over: every request is a 404 that
// shows nothing from outside, and the socket.io-client beside it keeps
// its round trips.
func TestEdgeStaticFSAbuse(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secret.txt"), "outside")
	writeFile(t, filepath.Join(dir, "public", "app.js"), "1")
	for link, target := range map[string]string{
		"abs.txt":  filepath.Join(dir, "secret.txt"),
		"rel.txt":  "../secret.txt",
		"passwd":   "/etc/passwd",
		"loop-a":   "loop-b",
		"loop-b":   "loop-a",
		"deep.txt": "../public/../secret.txt",
	} {
		if err := os.Symlink(target, filepath.Join(dir, "public", link)); err != nil {
			t.Fatal(err)
		}
	}
	ts := echoServer(t, gateway.Config{StaticFS: os.DirFS(dir), StaticFiles: gateway.StaticFiles{"/static": {Filename: "public"}}})
	good := startSteady(t, ts)
	base := baselineUse(t)
	hc := &http.Client{Timeout: waitFor}
	get := func(p string) (int, string, error) {
		req, _ := http.NewRequest("GET", ts.ts.URL+p, nil)
		req.URL.Opaque = p // sent as is
		res, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	bad := []string{"/static/abs.txt", "/static/rel.txt", "/static/passwd", "/static/loop-a", "/static/deep.txt",
		"/static/%00", "/static/app.js%00.png", "/static/%00/../../secret.txt", "/static/..%2fsecret.txt"}
	requests := 0
	good.beside(t, func() error {
		for _, p := range bad {
			code, body, err := get(p)
			if err != nil {
				return err
			}
			if code != http.StatusNotFound || strings.Contains(body, "outside") || strings.Contains(body, "root:") {
				return fmt.Errorf("%s: %d %q, want 404", p, code, body)
			}
			requests++
		}
		return nil
	})
	t.Logf("%d bad requests, all 404", requests)
	if code, body, err := get("/static/app.js"); err != nil || code != 200 || body != "1" {
		t.Errorf("the file inside: %d %q %v", code, body, err)
	}
	good.check(t)
	backToBaseline(t, base, hc.CloseIdleConnections)
}

// Handshakes from a peer that is no trusted proxy, with an Origin its
// forged X-Forwarded-Host claims as the server's own: not believed (400,
// polling and WebSocket); with "*" origins, no answer allows
// credentials. The socket.io-client beside them keeps its round trips.
func TestEdgeCORSAndForwardedHeaders(t *testing.T) {
	forged := http.Header{"Origin": {"https://evil.example"}, "X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}}
	for _, c := range []struct {
		name   string
		engine engineio.Config
		// check judges the answer to a forged polling handshake or
		// preflight, and the WebSocket handshake's outcome.
		check   func(res *http.Response) error
		wsTaken bool
	}{
		{"forwarded host from an untrusted peer", engineio.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, func(res *http.Response) error {
			if res.Request.Method == "GET" && res.StatusCode != http.StatusBadRequest {
				return fmt.Errorf("forwarded host from an untrusted peer: HTTP %d, want 400", res.StatusCode)
			}
			if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
				return fmt.Errorf("forwarded host from an untrusted peer: Access-Control-Allow-Origin %q, want none", v)
			}
			return nil
		}, false},
		{"any origin", engineio.Config{CORSAllowedOrigins: []string{"*"}}, func(res *http.Response) error {
			if v := res.Header.Get("Access-Control-Allow-Credentials"); v != "" {
				return fmt.Errorf("'*' origins: Access-Control-Allow-Credentials %q, want none", v)
			}
			return nil
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := echoServer(t, gateway.Config{Engine: c.engine})
			good := startSteady(t, ts)
			base := baselineUse(t)
			hc := &http.Client{Timeout: waitFor}
			wsAddr := "ws" + strings.TrimPrefix(ts.base(), "http") + "&transport=websocket"
			good.beside(t, func() error {
				for i := range 10 {
					req, _ := http.NewRequest("GET", ts.base()+"&transport=polling", nil)
					req.Header = forged.Clone()
					if i%2 == 1 {
						req.Method = "OPTIONS"
						req.Header.Set("Access-Control-Request-Method", "POST")
					}
					res, err := hc.Do(req)
					if err != nil {
						return err
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if err := c.check(res); err != nil {
						return err
					}
				}
				conn, res, err := gws.NewClient(new(gws.BuiltinEventHandler), &gws.ClientOption{Addr: wsAddr, RequestHeader: forged, HandshakeTimeout: waitFor})
				if err == nil {
					_ = conn.NetConn().Close()
				}
				switch {
				case c.wsTaken && err != nil:
					return fmt.Errorf("WebSocket from any origin: %v", err)
				case !c.wsTaken && err == nil:
					return errors.New("a WebSocket with forged forwarded headers was accepted")
				case !c.wsTaken && (res == nil || res.StatusCode != http.StatusBadRequest):
					return fmt.Errorf("WebSocket with forged forwarded headers: %v %v, want HTTP 400", res, err)
				}
				return nil
			})
			good.check(t)
			backToBaseline(t, base, hc.CloseIdleConnections, defaultHTTP.CloseIdleConnections)
		})
	}
}

// An abuser guesses the Admin UI password on one connection after
// another: after LoginFailures wrong passwords a connection, and
// AddressLoginFailures an address, every login is refused without being
// checked; the socket.io-client beside it keeps its round trips.
func TestEdgeAdminLoginFlood(t *testing.T) {
	ts := echoServer(t, gateway.Config{})
	var checked atomic.Int64
	cred := admin.Credential{Username: "admin", Password: "s3cret"}
	a, err := admin.Instrument(ts.srv, admin.Options{
		Auth: admin.AuthFunc(func(auth json.RawMessage) bool {
			checked.Add(1)
			return cred.Authenticate(auth)
		}),
		LoginFailures:        3,
		AddressLoginFailures: 10,
		LoginLockout:         time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	good := startSteady(t, ts)
	base := baselineUse(t)

	guesses, throttled := 0, 0
	good.beside(t, func() error {
		c, err := ts.dialErr("websocket", dialOpts{})
		if err != nil {
			return err
		}
		defer c.close()
		for range 50 {
			if err := c.sendRaw(frame{data: []byte(`40/admin,{"username":"admin","password":"guess"}`)}); err != nil {
				return err
			}
			f, err := c.nextErr(waitFor)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(string(f.data), "44/admin,") {
				return fmt.Errorf("wrong password answered %s", f)
			}
			guesses++
			if strings.Contains(string(f.data), "too many failed logins") {
				throttled++
			}
		}
		return nil
	})
	if n := checked.Load(); n > 10 {
		t.Errorf("%d guesses were checked, want at most the address's 10", n)
	}
	t.Logf("%d guesses: %d checked, %d answered with the throttle message", guesses, checked.Load(), throttled)
	good.check(t)
	backToBaseline(t, base)
}
