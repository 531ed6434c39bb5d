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

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// upgrade opens a WebSocket session, reads its open packet and joins "/".
// It reads nothing more.
func (c *rawConn) upgrade(t *testing.T, host string) {
	t.Helper()
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", host, base64.StdEncoding.EncodeToString(key[:]))
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("websocket handshake: %v %v", res, err)
	}
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		t.Fatal(err)
	}
	open := make([]byte, h[1]&0x7f)
	if _, err := io.ReadFull(c.br, open); err != nil || open[0] != '0' {
		t.Fatalf("open packet %q: %v", open, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	c.text(t, "40")
}

// text writes one masked, final text frame of up to 125 bytes.
func (c *rawConn) text(t *testing.T, s string) {
	t.Helper()
	b := []byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}
	_, _ = rand.Read(b[2:6])
	for i := range len(s) {
		b = append(b, s[i]^b[2+i%4])
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// cutWithin reports whether the server closes the connection within d
// (reading and discarding what it sends).
func (c *rawConn) cutWithin(d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
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

// An abuser sends text that is not UTF-8, over WebSocket and over
// polling, on a server relaying it: the WebSocket is closed with 1007,
// the polling POST refused with 400 and its session closed; the
// socket.io-client that would have received it stays connected and gets
// only the valid relays.
func TestEdgeInvalidUTF8Relay(t *testing.T) {
	ts := relayServer(t, gateway.Config{})
	good := startSteady(t, ts)
	base := baselineUse(t)

	ws := ts.dial(t, "websocket")
	ws.connect(t, "/", "")
	ws.send(t, `42["relay","valid"]`)
	if err := ws.sendRaw(frame{data: []byte("42[\"relay\",\"\xff\xfe\"]")}); err != nil {
		t.Fatal(err)
	}
	ws.expectClosed(t)
	var ce *gws.CloseError
	if err := ws.closeErr.Load(); err == nil || !errors.As(*err, &ce) || ce.Code != 1007 {
		t.Errorf("WebSocket closed with %v, want status 1007", err)
	}

	poll := ts.dial(t, "polling")
	poll.connect(t, "/", "")
	poll.send(t, `42["relay","valid too"]`)
	res, err := defaultHTTP.Post(poll.url, "text/plain;charset=UTF-8", strings.NewReader("42[\"relay\",\"\xc3\x28\"]"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("invalid UTF-8 POST: HTTP %d, want 400", res.StatusCode)
	}
	poll.expectClosed(t)
	poll.close()
	if n := ts.srv.Engine().Stats().InvalidUTF8; n != 2 {
		t.Errorf("%d sessions counted as closed for invalid UTF-8, want the 2 abusers", n)
	}

	good.rounds(t, 20)
	r := good.check(t)
	if r.Relayed != 2 {
		t.Errorf("the well-behaved client received %d relays, want the 2 valid ones", r.Relayed)
	}
	backToBaseline(t, base, defaultHTTP.CloseIdleConnections)
}

// Clients that stop reading while 64 KB events are sent to them, one per
// transport, are cut once more than QueueBytes (1 MiB by default) waits
// for them; the memory they held is freed. The socket.io-client beside
// them keeps its round trips.
func TestEdgeSlowReader(t *testing.T) {
	ts := echoServer(t, gateway.Config{})
	socks := make(chan *gateway.Socket, 4)
	gone := make(chan string, 4)
	ts.srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error { socks <- s; return nil })
	ts.srv.Of("/").OnDisconnect(func(s *gateway.Socket, reason gateway.DisconnectReason) { gone <- string(reason) })
	good := startSteady(t, ts)
	recv(t, socks, "the well-behaved client's socket")
	base := baselineUse(t)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc

	// WebSocket: upgraded and joined, then never read.
	ws := dialRaw(t, ts.ts.Listener.Addr().String())
	ws.upgrade(t, ts.ts.Listener.Addr().String())
	wsSock := recv(t, socks, "the WebSocket abuser's socket")
	// Polling: joined, then never polls again.
	poll := ts.dial(t, "polling")
	poll.cancel() // stops its GET loop
	<-poll.loop
	if err := poll.sendRaw(frame{data: []byte("40")}); err != nil {
		t.Fatal(err)
	}
	pollSock := recv(t, socks, "the polling abuser's socket")

	big := strings.Repeat("x", 64<<10)
	for _, s := range []*gateway.Socket{wsSock, pollSock} {
		sent := 0
		for sent < 1000 && s.Connected() { // at most 64 MB
			if err := s.Emit("big", big); err != nil {
				break
			}
			sent++
		}
		t.Logf("%s abuser: %d events of 64 KB sent before it was cut", s.Transport(), sent)
		if sent >= 1000 {
			t.Errorf("%s abuser never cut", s.Transport())
		}
	}
	for range 2 {
		t.Logf("abuser disconnected: %s", recv(t, gone, "the abusers' disconnection"))
	}
	if n := ts.srv.Engine().Stats().SlowClients; n != 2 {
		t.Errorf("%d slow clients counted, want the 2 abusers", n)
	}
	if !ws.cutWithin(waitFor) {
		t.Error("the WebSocket abuser's connection stayed open")
	}
	_ = ws.Close()
	good.rounds(t, 20)
	good.check(t)
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
	conns := make([]*rawConn, 0, idle+posts)
	for range idle {
		c := dialRaw(t, addr)
		fmt.Fprintf(c, "GET /nothing HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		res, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		conns = append(conns, c)
	}
	for range posts {
		res, err := defaultHTTP.Get(ts.URL + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		sid, err := openSID(body)
		if err != nil {
			t.Fatal(err)
		}
		c := dialRaw(t, addr)
		fmt.Fprintf(c, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n40\r\n", sid, addr)
		conns = append(conns, c)
	}
	good.rounds(t, 20)
	var wg sync.WaitGroup
	var open atomic.Int64
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !c.cutWithin(10 * time.Second) {
				open.Add(1)
			}
			_ = c.Close()
		}()
	}
	wg.Wait()
	if n := open.Load(); n > 0 {
		t.Errorf("%d of %d abusive connections still open after 10 s", n, len(conns))
	}
	good.rounds(t, 10)
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
	get := func(p string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.ts.URL+p, nil)
		req.URL.Opaque = p // sent as is
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	bad := []string{"/static/abs.txt", "/static/rel.txt", "/static/passwd", "/static/loop-a", "/static/deep.txt",
		"/static/%00", "/static/app.js%00.png", "/static/%00/../../secret.txt", "/static/..%2fsecret.txt"}
	for i := range 50 {
		p := bad[i%len(bad)]
		if code, body := get(p); code != http.StatusNotFound || strings.Contains(body, "outside") || strings.Contains(body, "root:") {
			t.Fatalf("%s: %d %q, want 404", p, code, body)
		}
	}
	if code, body := get("/static/app.js"); code != 200 || body != "1" {
		t.Errorf("the file inside: %d %q", code, body)
	}
	good.rounds(t, 10)
	good.check(t)
	backToBaseline(t, base, hc.CloseIdleConnections)
}

// Handshakes from a peer that is no trusted proxy, with an Origin its
// forged X-Forwarded-Host claims as the server's own: not believed (400,
// polling and WebSocket); with "*" origins, no answer allows
// credentials. The socket.io-client beside them keeps
// its round trips.
func TestEdgeCORSAndForwardedHeaders(t *testing.T) {
	for _, c := range []struct {
		name   string
		engine engineio.Config
		check  func(t *testing.T, res *http.Response)
	}{
		{"same origin, forwarded host from an untrusted peer", engineio.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, func(t *testing.T, res *http.Response) {
			if res.Request.Method == "GET" && res.StatusCode != http.StatusBadRequest {
				t.Errorf("forwarded host from an untrusted peer: HTTP %d, want 400", res.StatusCode)
			}
			if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("forwarded host from an untrusted peer: Access-Control-Allow-Origin %q, want none", v)
			}
		}},
		{"any origin", engineio.Config{CORSAllowedOrigins: []string{"*"}}, func(t *testing.T, res *http.Response) {
			if v := res.Header.Get("Access-Control-Allow-Credentials"); v != "" {
				t.Errorf("'*' origins: Access-Control-Allow-Credentials %q, want none", v)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := echoServer(t, gateway.Config{Engine: c.engine})
			good := startSteady(t, ts)
			base := baselineUse(t)
			hc := &http.Client{Timeout: waitFor}
			for i := range 100 {
				req, _ := http.NewRequest("GET", ts.base()+"&transport=polling", nil)
				req.Header.Set("Origin", "https://evil.example")
				req.Header.Set("X-Forwarded-Host", "evil.example")
				req.Header.Set("X-Forwarded-Proto", "https")
				if i%2 == 1 {
					req.Method = "OPTIONS"
					req.Header.Set("Access-Control-Request-Method", "POST")
				}
				res, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				c.check(t, res)
				if t.Failed() {
					break
				}
			}
			// The same forgery on a WebSocket handshake.
			forged := http.Header{"Origin": {"https://evil.example"}, "X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}}
			addr := "ws" + strings.TrimPrefix(ts.base(), "http") + "&transport=websocket"
			conn, res, err := gws.NewClient(new(gws.BuiltinEventHandler), &gws.ClientOption{Addr: addr, RequestHeader: forged, HandshakeTimeout: waitFor})
			if err == nil {
				_ = conn.NetConn().Close()
				if c.name != "any origin" {
					t.Error("a WebSocket with forged forwarded headers was accepted")
				}
			} else if c.name == "any origin" || res == nil || res.StatusCode != http.StatusBadRequest {
				t.Errorf("WebSocket with forged forwarded headers: %v %v", res, err)
			}
			good.rounds(t, 10)
			good.check(t)
			backToBaseline(t, base, hc.CloseIdleConnections)
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

	const conns, guesses = 20, 50 // 1,000 guesses
	throttled := 0
	for range conns {
		c := ts.dial(t, "websocket")
		for range guesses {
			c.send(t, `40/admin,{"username":"admin","password":"guess"}`)
			f := c.next(t)
			if !strings.HasPrefix(string(f.data), "44/admin,") {
				t.Fatalf("wrong password answered %s", f)
			}
			if strings.Contains(string(f.data), "too many failed logins") {
				throttled++
			}
		}
		c.close()
	}
	if n := checked.Load(); n > 10 {
		t.Errorf("%d guesses were checked, want at most the address's 10", n)
	}
	t.Logf("%d guesses: %d checked, %d answered with the throttle message", conns*guesses, checked.Load(), throttled)
	good.rounds(t, 10)
	good.check(t)
	backToBaseline(t, base)
}
