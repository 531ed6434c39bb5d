package client

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGatewayNamespaceAuthFunc(t *testing.T) {
	srv := startGateway(t, 0)
	var calls atomic.Int32
	c := New(Options{
		Namespaces: []string{"/", "/custom"},
		Auth:       map[string]string{"ignored": "yes"},
		NamespaceAuthFunc: func(ns string) any {
			calls.Add(1)
			return map[string]string{"ns": ns}
		},
		Logger: testLogger(),
	})
	shutdown(t, c)
	root, custom := newRecorder(), newRecorder()
	c.On("auth", root.handler())
	c.Of("/custom").On("auth", custom.handler())
	if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	if got := string(root.next(t, "auth").Args.Raw(0)); got != `{"ns":"/"}` {
		t.Errorf("auth on / = %s", got)
	}
	if got := string(custom.next(t, "auth").Args.Raw(0)); got != `{"ns":"/custom"}` {
		t.Errorf("auth on /custom = %s", got)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("NamespaceAuthFunc called %d times", n)
	}
}

// TestGatewayRetry starts the server only after Connect began: with Retry
// the first connection follows the reconnection rules and gets there,
// firing the reconnect event.
func TestGatewayRetry(t *testing.T) {
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)

	// Without Retry the first failure is final.
	c0 := New(Options{Logger: testLogger()})
	if err := c0.Connect(ctxTimeout(t, 10*time.Second), url); err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	// With Retry and a bounded number of attempts it gives up.
	start := time.Now()
	c1 := New(Options{Retry: true, ReconnectionAttempts: 2, ReconnectionDelay: 50 * time.Millisecond, ReconnectionDelayMax: 50 * time.Millisecond, Logger: testLogger()})
	if err := c1.Connect(ctxTimeout(t, 10*time.Second), url); err == nil {
		t.Fatal("Connect to a closed port succeeded")
	} else if d := time.Since(start); d < 40*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}

	c := New(Options{
		Retry:                true,
		Transports:           []string{"websocket"},
		ReconnectionDelay:    50 * time.Millisecond,
		ReconnectionDelayMax: 200 * time.Millisecond,
		Logger:               testLogger(),
	})
	shutdown(t, c)
	connects := make(chan struct{}, 4)
	c.OnConnect(func() { connects <- struct{}{} })
	reconnected := make(chan int, 1)
	c.OnReconnect(func(attempts int) { reconnected <- attempts })
	done := make(chan error, 1)
	go func() { done <- c.Connect(ctxTimeout(t, 20*time.Second), url) }()
	select {
	case err := <-done:
		t.Fatalf("Connect returned before the server started: %v", err)
	case <-time.After(400 * time.Millisecond):
	}
	if c.Connected() {
		t.Fatal("connected without a server")
	}
	startGateway(t, port)
	if err := waitFor(t, done, "Connect"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, connects, "connect handler")
	if n := waitFor(t, reconnected, "reconnect event"); n < 1 {
		t.Errorf("reconnect event after %d attempts", n)
	}
	if args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "message-with-ack", "late"); err != nil || args.String(0) != "late" {
		t.Errorf("EmitWithAck = %v, %v", args, err)
	}
}

// TestGatewayShutdownAndWait documents Shutdown: it does not wait for the
// disconnect handlers (it may be called from a handler), Wait does, also
// when the connection is dying on its own at the same moment.
func TestGatewayShutdownAndWait(t *testing.T) {
	srv := startGateway(t, 0)
	for i := range 2 {
		c := New(Options{Logger: testLogger()})
		shutdown(t, c)
		var ran atomic.Int32
		c.OnDisconnect(func(DisconnectReason) {
			time.Sleep(100 * time.Millisecond)
			ran.Add(1)
		})
		shut := make(chan struct{})
		c.On("message-back", func(*Event) []any {
			c.Shutdown() // from a handler: must not deadlock
			close(shut)
			return nil
		})
		if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := c.Emit("message", "bye"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, shut, "Shutdown from a handler")
		} else {
			c.Shutdown()
		}
		waitDone(t, c)
		if n := ran.Load(); n != 1 {
			t.Errorf("run %d: disconnect handler ran %d times before Wait returned", i, n)
		}
	}

	// The server dies while Shutdown runs: Wait still covers the handler.
	c := New(Options{Transports: []string{"websocket"}, Logger: testLogger()})
	shutdown(t, c)
	var ran atomic.Int32
	c.OnDisconnect(func(DisconnectReason) {
		time.Sleep(50 * time.Millisecond)
		ran.Add(1)
	})
	if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { srv.stop(); close(stopped) }()
	c.Shutdown()
	waitDone(t, c)
	<-stopped
	if n := ran.Load(); n != 1 {
		t.Errorf("disconnect handler ran %d times before Wait returned", n)
	}
}

// connectProxy is a tiny HTTP proxy on 127.0.0.1: CONNECT tunnels and
// absolute-form requests, both requiring basic credentials. It only reaches
// 127.0.0.1.
type connectProxy struct {
	srv      *httptest.Server
	fwd      *http.Transport
	connects atomic.Int32
	forwards atomic.Int32
	mu       sync.Mutex
	tunnels  []net.Conn
	header   string // the X-Proxy-Test header of the last CONNECT
}

const proxyAuth = "Basic " + "dTpw" // u:p

func newConnectProxy(t *testing.T) *connectProxy {
	p := &connectProxy{fwd: &http.Transport{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.srv.Close()
		p.fwd.CloseIdleConnections()
		p.mu.Lock()
		for _, c := range p.tunnels {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *connectProxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Proxy-Authorization") != proxyAuth {
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		http.Error(w, "credentials", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if r.URL.Hostname() != "127.0.0.1" {
		http.Error(w, "loopback only", http.StatusForbidden)
		return
	}
	p.forwards.Add(1)
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Header.Del("Proxy-Authorization")
	resp, err := p.fwd.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (p *connectProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil || host != "127.0.0.1" {
		http.Error(w, "loopback only", http.StatusForbidden)
		return
	}
	dst, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.connects.Add(1)
	p.mu.Lock()
	p.header = r.Header.Get("X-Proxy-Test")
	p.mu.Unlock()
	src, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		_ = dst.Close()
		return
	}
	p.mu.Lock()
	p.tunnels = append(p.tunnels, src, dst)
	p.mu.Unlock()
	_, _ = src.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	go func() {
		_, _ = io.Copy(dst, brw.Reader)
		_ = dst.Close()
	}()
	go func() {
		_, _ = io.Copy(src, dst)
		_ = src.Close()
	}()
}

func (p *connectProxy) lastHeader() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.header
}

// TestGatewayProxy connects through an HTTP proxy given by the HTTP
// client's transport: long-polling requests go through it as usual, and
// the WebSocket (dialed or upgraded) through a CONNECT tunnel.
func TestGatewayProxy(t *testing.T) {
	srv := startGateway(t, 0)
	proxy := newConnectProxy(t)
	pu, _ := url.Parse(proxy.srv.URL)
	pu.User = url.UserPassword("u", "p")
	for _, m := range []struct {
		name       string
		transports []string
		forwards   bool
	}{{"websocket-only", []string{"websocket"}, false}, {"upgrade", nil, true}} {
		t.Run(m.name, func(t *testing.T) {
			connects, forwards := proxy.connects.Load(), proxy.forwards.Load()
			tr := &http.Transport{Proxy: http.ProxyURL(pu), ProxyConnectHeader: http.Header{"X-Proxy-Test": {m.name}}}
			t.Cleanup(tr.CloseIdleConnections)
			c := New(Options{Transports: m.transports, HTTPClient: &http.Client{Transport: tr}, Logger: testLogger()})
			shutdown(t, c)
			if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
				t.Fatal(err)
			}
			waitTransport(t, c, "websocket")
			if args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "message-with-ack", "via proxy"); err != nil || args.String(0) != "via proxy" {
				t.Errorf("EmitWithAck = %v, %v", args, err)
			}
			if n := proxy.connects.Load() - connects; n < 1 {
				t.Error("the WebSocket did not go through the proxy")
			}
			if h := proxy.lastHeader(); h != m.name {
				t.Errorf("ProxyConnectHeader not sent: %q", h)
			}
			if got := proxy.forwards.Load() > forwards; got != m.forwards {
				t.Errorf("polling through the proxy: %v, want %v", got, m.forwards)
			}
		})
	}

	// Wrong credentials: the CONNECT is refused and Connect says so.
	bad := *pu
	bad.User = url.UserPassword("u", "wrong")
	c := New(Options{Transports: []string{"websocket"}, HTTPClient: &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&bad)}}, Logger: testLogger()})
	shutdown(t, c)
	err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url())
	if err == nil || !strings.Contains(err.Error(), "407") {
		t.Errorf("Connect with bad proxy credentials = %v", err)
	}
}

// TestConnectDialerBufferedBytes checks that bytes a proxy sends right
// after its CONNECT answer are not lost.
func TestConnectDialerBufferedBytes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\n\r\nhello"))
		time.Sleep(time.Second)
	}()
	pu, _ := url.Parse("http://" + l.Addr().String())
	cfg := &engineConfig{base: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, proxy: http.ProxyURL(pu)}
	d, err := cfg.wsDialer(ctxDialer{ctx: t.Context(), d: &net.Dialer{}}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.Dial("tcp", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hello" {
		t.Errorf("read %q, %v", buf, err)
	}
}
