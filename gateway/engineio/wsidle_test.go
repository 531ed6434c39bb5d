//go:build linux

package engineio_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway/engineio"
)

// waitParked waits until want WebSocket connections of s are parked: no
// reader running, the socket in the poller (test servers park after
// 20ms without data, see startServer).
func waitParked(t *testing.T, s *testServer, want int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d parked connections", want), func() bool {
		n, _ := engineio.Parked(s.srv)
		return n == want
	})
}

// waitPollerClosed waits until s's poller has closed: no connection that
// parked is left.
func waitPollerClosed(t *testing.T, s *testServer) {
	t.Helper()
	eventually(t, "the poller to close", func() bool {
		_, open := engineio.Parked(s.srv)
		return !open
	})
}

// TestParkedWebSocket checks that a WebSocket connection whose reader
// parked (wsread.go) is woken by whatever the client sends, and closes
// cleanly whichever side ends it.
func TestParkedWebSocket(t *testing.T) {
	t.Run("messages, pings and fragments wake it", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c := dialRaw(t, s, "")
		sid := c.open(t)
		waitParked(t, s, 1)
		c.write(t, 1, false, []byte("4hello"))
		if _, m := c.message(t); string(m) != "4hello" {
			t.Fatalf("echo %q", m)
		}
		waitParked(t, s, 1)
		c.write(t, 9, false, []byte("are you there")) // a WebSocket ping
		if f := c.read(t); f.op != 10 || string(f.payload) != "are you there" {
			t.Fatalf("pong: op %d %q", f.op, f.payload)
		}
		waitParked(t, s, 1)
		c.writeFragment(t, false, 1, []byte("4frag"))
		waitParked(t, s, 1) // parked holding the first fragment
		c.writeFragment(t, true, 0, []byte("ment"))
		if _, m := c.message(t); string(m) != "4fragment" {
			t.Fatalf("echo of a fragmented message %q", m)
		}
		if s.rec.isClosed(sid) {
			t.Fatal("session closed")
		}
	})
	t.Run("heartbeats answered while parked", func(t *testing.T) {
		// The poller reads a lone pong itself (no reader goroutine).
		s := newServer(t, engineio.Config{PingInterval: 40 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
		c := dialRaw(t, s, "")
		sid := c.open(t)
		for i := range 6 {
			if _, m := c.message(t); string(m) != "2" {
				t.Fatalf("ping %d: %q", i, m)
			}
			waitParked(t, s, 1)
			c.write(t, 1, false, []byte("3"))
		}
		if _, m := c.message(t); string(m) != "2" {
			t.Fatalf("last ping: %q", m)
		}
		if s.rec.isClosed(sid) {
			t.Fatal("session closed: pongs were lost")
		}
		if n := engineio.PollerPongs(s.srv); n == 0 {
			t.Fatal("no pong was read by the poller: every one started a reader")
		}
		// A pong and a message in one segment: the message is not lost.
		waitParked(t, s, 1)
		c.send(t, append(maskedFrame(0x81, []byte("3")), maskedFrame(0x81, []byte("4after"))...))
		if _, m := c.message(t); string(m) != "4after" {
			t.Fatalf("echo after a pong: %q", m)
		}
	})
	t.Run("the server closes it", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c := dialRaw(t, s, "")
		sid := c.open(t)
		waitParked(t, s, 1)
		s.rec.session(t, sid).Close()
		if code := c.closeCode(t); code != 1000 {
			t.Fatalf("close status %d, want 1000", code)
		}
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonServerClose {
			t.Fatalf("reason %q", r)
		}
		waitPollerClosed(t, s)
	})
	t.Run("the client closes it", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c := dialRaw(t, s, "")
		sid := c.open(t)
		waitParked(t, s, 1)
		c.write(t, 8, false, []byte{0x03, 0xe8, 'b', 'y', 'e'})
		if code := c.closeCode(t); code != 1000 {
			t.Fatalf("close status %d, want 1000", code)
		}
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportClose {
			t.Fatalf("reason %q", r)
		}
		waitPollerClosed(t, s)
	})
	t.Run("the client drops it", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c := dialRaw(t, s, "")
		sid := c.open(t)
		waitParked(t, s, 1)
		_ = c.conn.Close()
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportClose {
			t.Fatalf("reason %q", r)
		}
		waitPollerClosed(t, s)
	})
	t.Run("a protocol error while parked", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c := dialRaw(t, s, "")
		sid := c.open(t)
		waitParked(t, s, 1)
		c.send(t, []byte{0x81, 0x02, 'h', 'i'}) // not masked
		if code := c.closeCode(t); code != 1002 {
			t.Fatalf("close status %d, want 1002", code)
		}
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportError {
			t.Fatalf("reason %q", r)
		}
	})
	t.Run("many connections, descriptors reused", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		const n = 40
		conns := make([]*rawWS, n)
		sids := make([]string, n)
		for i := range conns {
			conns[i] = dialRaw(t, s, "")
			sids[i] = conns[i].open(t)
		}
		waitParked(t, s, n)
		for i := 0; i < n; i += 2 {
			_ = conns[i].conn.Close()
			s.rec.closeReason(t, sids[i])
		}
		waitParked(t, s, n/2)
		for i := 0; i < n; i += 2 { // likely on the descriptors just freed
			conns[i] = dialRaw(t, s, "")
			sids[i] = conns[i].open(t)
		}
		waitParked(t, s, n)
		for i, c := range conns {
			msg := fmt.Sprintf("4conn %d", i)
			c.write(t, 1, false, []byte(msg))
			if _, m := c.message(t); string(m) != msg {
				t.Fatalf("conn %d: echo %q", i, m)
			}
		}
		waitParked(t, s, n)
		for i, sid := range sids {
			if s.rec.isClosed(sid) {
				t.Fatalf("conn %d closed", i)
			}
		}
	})
}
