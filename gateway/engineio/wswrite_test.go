package engineio_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/siogate/siogate/gateway/engineio"
)

// goroutinesCreated is the number of goroutines the process has created.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// waitWritersDone waits until s has no writer left: none in the pool, no
// session writing on a goroutine of its own.
func waitWritersDone(t *testing.T, s *testServer) {
	t.Helper()
	eventually(t, "the writers to end", func() bool {
		pool, slow := engineio.Writers(s.srv)
		return pool == 0 && slow == 0
	})
}

// stuckFrames is a frame of size bytes numbered i, marked so that a cut
// or a mix-up shows.
func stuckFrame(i, size int) engineio.Frame {
	data := bytes.Repeat([]byte{byte(i)}, size)
	data[0], data[size-1] = byte(i>>8), byte(i)
	return engineio.Frame{Data: data, Binary: true}
}

func expectStuckFrame(t *testing.T, c *wsClient, i, size int) {
	t.Helper()
	m := c.next(t)
	if !m.binary || len(m.data) != size || m.data[0] != byte(i>>8) || m.data[size-1] != byte(i) || m.data[size/2] != byte(i) {
		t.Fatalf("frame %d: %d bytes, binary %v", i, len(m.data), m.binary)
	}
}

// fillUntilStuck sends frames of size bytes to ss, whose client stopped
// reading, until a write waits for the socket (a session writing on its
// own goroutine); it returns how many it sent.
func fillUntilStuck(t *testing.T, s *testServer, ss *engineio.Session, size int) int {
	t.Helper()
	for i := 0; ; i++ {
		if _, slow := engineio.Writers(s.srv); slow > 0 {
			return i
		}
		if i == 500 {
			t.Fatalf("%d frames of %d bytes and the socket still takes more", i, size)
		}
		if err := ss.Send(stuckFrame(i, size)); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		eventually(t, "the frame written or the socket full", func() bool {
			_, slow := engineio.Writers(s.srv)
			return slow > 0 || ss.QueuedBytes() == 0
		})
	}
}

// TestWriterPool: WebSocket sessions are written by a few pool goroutines
// (wswrite.go), not one goroutine per session with something to send.
func TestWriterPool(t *testing.T) {
	t.Run("every socket gets every broadcast, without a goroutine each", func(t *testing.T) {
		const clients, broadcasts = 200, 20
		s := newServer(t, engineio.Config{})
		cs := make([]*wsClient, clients)
		ss := make([]*engineio.Session, clients)
		for i := range cs {
			var sid string
			cs[i], sid, _ = s.openWS(t)
			ss[i] = s.rec.session(t, sid)
		}
		before := goroutinesCreated()
		for b := range broadcasts {
			f := engineio.MessageFrame(fmt.Appendf(nil, "broadcast %d", b)).Shared(true)
			for _, x := range ss {
				if err := x.Send(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, c := range cs {
			for b := range broadcasts {
				m := c.next(t)
				if want := fmt.Sprintf("4broadcast %d", b); string(m.data) != want {
					t.Fatalf("client %d: got %q, want %q", i, m.data, want)
				}
			}
		}
		// One goroutine per session and broadcast was the old way: 4000.
		// The pool starts at most GOMAXPROCS workers whenever its queue
		// was empty, which cannot happen more than once per Send.
		created := goroutinesCreated() - before
		if limit := uint64(broadcasts * (runtime.GOMAXPROCS(0) + 1)); created > limit {
			t.Fatalf("%d goroutines created for %d broadcasts to %d sockets, want at most %d", created, broadcasts, clients, limit)
		}
		t.Logf("%d goroutines created for %d broadcasts to %d sockets", created, broadcasts, clients)
		waitWritersDone(t, s)
	})

	t.Run("a socket that stopped reading does not delay the others", func(t *testing.T) {
		const others, size = 8, 64 << 10
		s := newServer(t, engineio.Config{QueueBytes: 64 << 20})
		slowC, slowSID, _ := s.openWS(t)
		slowSS := s.rec.session(t, slowSID)
		gate := make(chan struct{})
		slowC.gate(gate)
		cs := make([]*wsClient, others)
		ss := make([]*engineio.Session, others)
		for i := range cs {
			var sid string
			cs[i], sid, _ = s.openWS(t)
			ss[i] = s.rec.session(t, sid)
		}
		stuck := fillUntilStuck(t, s, slowSS, size)
		// The slow socket is full: its writer waits. Every other socket
		// still gets every frame, more than fit in the slow one's buffers.
		const more = 100
		for i := range more {
			f := stuckFrame(stuck+i, size)
			if err := slowSS.Send(f); err != nil {
				t.Fatalf("slow session, frame %d: %v", stuck+i, err)
			}
			for _, x := range ss {
				if err := x.Send(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, c := range cs {
			for i := range more {
				expectStuckFrame(t, c, stuck+i, size)
			}
		}
		if q := slowSS.QueuedBytes(); q == 0 {
			t.Fatal("the slow session has nothing left to write: it was not stuck")
		}
		close(gate)
		for i := range stuck + more {
			expectStuckFrame(t, slowC, i, size)
		}
		slowC.send(t, "2")
		slowC.expectText(t, "3")
		waitWritersDone(t, s)
	})

	t.Run("pings while the socket is full leave every frame intact", func(t *testing.T) {
		// A client that stops reading leaves a batch half written, its
		// writer holding the connection (wsSlot.wmu); the pongs to the
		// WebSocket pings it sends meanwhile must come between frames,
		// not inside one (the client would see a broken frame). The
		// socket's own write lock already keeps a pong out of a single
		// blocking write: what this cannot always catch is a pong in the
		// short gap between a worker's partial write and the slow
		// writer's rest, which only wmu closes.
		const size = 64 << 10
		s := newServer(t, engineio.Config{QueueBytes: 64 << 20})
		c, sid, _ := s.openWS(t)
		ss := s.rec.session(t, sid)
		gate := make(chan struct{})
		c.gate(gate)
		stuck := fillUntilStuck(t, s, ss, size)
		for i := range 4 {
			if err := c.conn.WritePing([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if err := ss.Send(stuckFrame(stuck+i, size)); err != nil {
				t.Fatal(err)
			}
		}
		close(gate)
		for i := range stuck + 4 {
			expectStuckFrame(t, c, i, size)
		}
		c.send(t, "2")
		c.expectText(t, "3")
	})

	t.Run("shutdown ends the writers, stuck ones too", func(t *testing.T) {
		const size = 64 << 10
		s := newServer(t, engineio.Config{QueueBytes: 64 << 20})
		c, sid, _ := s.openWS(t)
		ss := s.rec.session(t, sid)
		gate := make(chan struct{})
		defer close(gate)
		c.gate(gate)
		fillUntilStuck(t, s, ss, size)
		for range 8 {
			if err := ss.Send(stuckFrame(0, size)); err != nil {
				t.Fatal(err)
			}
		}
		// Others in the middle of broadcasts.
		for range 20 {
			_, osid, _ := s.openWS(t)
			oss := s.rec.session(t, osid)
			for i := range 4 {
				_ = oss.Send(stuckFrame(i, size))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonShutdown {
			t.Fatalf("close reason %q, want %q", r, engineio.ReasonShutdown)
		}
		waitWritersDone(t, s)
	})
}
