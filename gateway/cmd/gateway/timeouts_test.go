package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const timeoutsWait = 10 * time.Second

// serveBinary runs the HTTP server the binary runs, with its timeouts,
// for the flags given, on 127.0.0.1. It returns the address.
func serveBinary(t *testing.T, args ...string) (string, *http.Server) {
	t.Helper()
	o, srv := fromFlags(t, args...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := httpServer(o, srv)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String(), hs
}

// wsText writes one masked, final text frame.
func wsText(conn net.Conn, text string) error {
	b := []byte{0x81, 0x80 | byte(len(text))} // short frames only
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i := range len(text) {
		b = append(b, text[i]^mask[i%4])
	}
	_, err := conn.Write(b)
	return err
}

// wsRead reads one unfragmented, short, unmasked frame.
func wsRead(br *bufio.Reader) (op byte, payload string, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, "", err
	}
	n := int(h[1] & 0x7f)
	if n >= 126 {
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return 0, "", err
		}
		n = int(ext[0])<<8 | int(ext[1])
	}
	p := make([]byte, n)
	_, err = io.ReadFull(br, p)
	return h[0] & 0x0f, string(p), err
}

// TestHTTPServerTimeouts runs, beside each other on the binary's HTTP
// server: a keep-alive connection left idle (cut), a long-polling session
// and a WebSocket session each living well past every HTTP timeout (kept).
func TestHTTPServerTimeouts(t *testing.T) {
	addr, hs := serveBinary(t, "--ping-interval", "300ms", "--ping-timeout", "500ms", "--idle-timeout", "300ms")
	if hs.ReadTimeout != 1300*time.Millisecond || hs.WriteTimeout != 1300*time.Millisecond ||
		hs.IdleTimeout != 300*time.Millisecond || hs.ReadHeaderTimeout != 1300*time.Millisecond {
		t.Fatalf("timeouts: header %v, read %v, write %v, idle %v", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	base := "http://" + addr + "/socket.io/?EIO=4&transport="

	// The abuser: one request, then an idle keep-alive connection.
	idle, err := net.DialTimeout("tcp", addr, timeoutsWait)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /status HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	idleBR := bufio.NewReader(idle)
	_ = idle.SetReadDeadline(time.Now().Add(timeoutsWait))
	resp, err := http.ReadResponse(idleBR, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status on the idle connection: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	cut := make(chan error, 1)
	go func() { _, err := idleBR.ReadByte(); cut <- err }()

	// A WebSocket session, answering pings on its own.
	ws, err := net.DialTimeout("tcp", addr, timeoutsWait)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(ws, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", addr, base64.StdEncoding.EncodeToString(key[:]))
	wsBR := bufio.NewReader(ws)
	_ = ws.SetReadDeadline(time.Now().Add(timeoutsWait))
	if resp, err := http.ReadResponse(wsBR, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("websocket handshake: %v %v", resp, err)
	}
	if _, open, err := wsRead(wsBR); err != nil || !strings.HasPrefix(open, "0{") {
		t.Fatalf("websocket open packet %q: %v", open, err)
	}
	wsPings := make(chan error, 1)
	go func() {
		for i := 0; i < 8; i++ {
			_ = ws.SetReadDeadline(time.Now().Add(timeoutsWait))
			op, p, err := wsRead(wsBR)
			if err == nil && (op != 1 || p != "2") {
				err = fmt.Errorf("frame %d %q, want a ping", op, p)
			}
			if err == nil {
				err = wsText(ws, "3")
			}
			if err != nil {
				wsPings <- fmt.Errorf("ping %d: %w", i, err)
				return
			}
		}
		wsPings <- nil
	}()

	// A long-polling session: eight pings, each collected by a GET that
	// waited for it, answered by a POST, over more than twice the
	// longest HTTP timeout.
	client := &http.Client{Timeout: timeoutsWait}
	res, err := client.Get(base + "polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	sid, _, _ := strings.Cut(strings.TrimPrefix(string(body), `0{"sid":"`), `"`)
	if sid == "" {
		t.Fatalf("polling handshake %q", body)
	}
	for i := 0; i < 8; i++ {
		res, err := client.Get(base + "polling&sid=" + sid)
		if err != nil {
			t.Fatalf("long poll %d: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != "2" {
			t.Fatalf("long poll %d: HTTP %d %q, want the ping", i, res.StatusCode, body)
		}
		res, err = client.Post(base+"polling&sid="+sid, "text/plain", strings.NewReader("3"))
		if err != nil {
			t.Fatalf("pong %d: %v", i, err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("pong %d: HTTP %d", i, res.StatusCode)
		}
	}
	select {
	case err := <-wsPings:
		if err != nil {
			t.Fatalf("websocket: %v", err)
		}
	case <-time.After(timeoutsWait):
		t.Fatal("websocket pings stopped")
	}
	select {
	case err := <-cut:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("idle connection: %v, want EOF", err)
		}
	case <-time.After(timeoutsWait):
		t.Fatal("the idle keep-alive connection was not closed")
	}
}

func TestTrustedProxiesFlag(t *testing.T) {
	if _, err := parsePrefixes("10.0.0.0/8, 127.0.0.1, ::1, 192.168.1.7/24"); err != nil {
		t.Fatal(err)
	}
	if _, err := parsePrefixes("10.0.0.0/8,proxy.local"); err == nil || !strings.Contains(err.Error(), "proxy.local") {
		t.Fatalf("bad --trusted-proxies: %v", err)
	}
	forwarded := func(ts string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", ts+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("X-Forwarded-Host", "app.example")
		req.Header.Set("X-Forwarded-Proto", "https")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := forwarded(startFromFlags(t).URL); code != http.StatusBadRequest {
		t.Fatalf("forwarded headers from an untrusted peer: HTTP %d, want 400", code)
	}
	if code := forwarded(startFromFlags(t, "--trusted-proxies", "127.0.0.1").URL); code != 200 {
		t.Fatalf("forwarded headers from a trusted proxy: HTTP %d, want 200", code)
	}
}
