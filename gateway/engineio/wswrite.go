package engineio

import (
	"sync"
	"sync/atomic"
)

// WebSocket sessions with frames to write are written by a small pool of
// writer goroutines per server, not by a goroutine of their own: a
// broadcast to n sockets queues n sessions, not n goroutines. A session
// is in the queue at most once (Session.flushing); a worker takes its
// whole queue of frames as one batch, so broadcasts sent while the
// session waited for its turn go out in the same writev.
//
// Workers never wait for a socket. They write with a non-blocking write
// or writev (writeNow); when the kernel's buffer takes only part of the
// batch, the rest is handed to a goroutine of that session's own, which
// waits for the socket and then keeps writing the session's queue with
// blocking writes until it is empty (Session.flush), as every session
// used to. Only a socket whose buffer is full therefore costs a goroutine,
// and it never delays the others. The socket's write lock (wsSlot.wmu)
// stays held until a batch is written whole, so gws's control frames
// (pong, close) never land in the middle of one.
//
// Workers start when sessions are queued and fewer than GOMAXPROCS (as it
// was when the server was made) run, and end when the queue is empty: an idle server holds none.

// writerPool is a server's queue of sessions waiting for a writer.
type writerPool struct {
	mu         sync.Mutex
	head, tail *Session     // the queue, linked through Session.next
	running    int          // workers running
	max        int          // most workers at once: GOMAXPROCS when the server was made
	slow       atomic.Int64 // sessions writing on a goroutine of their own
}

// writerChunk is the most sessions a worker takes from the queue at once.
const writerChunk = 16

// schedule queues s, whose writer the caller has just become (s.flushing
// set, s.mu held), for a worker.
func (s *Server) schedule(ss *Session) {
	p := &s.writers
	p.mu.Lock()
	if p.tail == nil {
		p.head = ss
	} else {
		p.tail.next = ss
	}
	p.tail = ss
	start := p.running < p.max
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go s.writeLoop()
	}
}

// writeLoop is a worker: it writes queued sessions until none is left.
func (s *Server) writeLoop() {
	p := &s.writers
	var chunk [writerChunk]*Session
	for {
		p.mu.Lock()
		n := 0
		for n < len(chunk) && p.head != nil {
			ss := p.head
			p.head, ss.next = ss.next, nil
			chunk[n] = ss
			n++
		}
		if p.head == nil {
			p.tail = nil
		}
		if n == 0 {
			p.running--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		for i, ss := range chunk[:n] {
			chunk[i] = nil
			ss.writeTurn()
		}
	}
}

// writeTurn writes what s has queued, once, on a worker.
func (s *Session) writeTurn() {
	s.mu.Lock()
	ws := s.ws
	if len(s.queue) == 0 || ws == nil {
		s.flushing = false
		s.mu.Unlock()
		return
	}
	slot := slotOf(ws)
	if slot.park.rc == nil || !canWriteNow {
		// No non-blocking write on this connection (not a plain
		// socket): it gets its own writer.
		s.mu.Unlock()
		s.srv.writers.slow.Add(1)
		go s.writeSlow(slot, nil, nil, false)
		return
	}
	batch := s.queue
	s.queue = s.spare[:0]
	s.inflight, s.queued = s.queued, 0
	s.mu.Unlock()

	srv := s.srv
	if m := srv.meter.m(); m != nil {
		m.Sent(len(batch), frameBytes(batch))
	}
	w := srv.frames.get()
	srv.frames.encode(w, slot.deflate, true, batch)
	if !slot.wmu.TryLock() {
		// Another write is under way on this connection (a pong, a
		// close), possibly waiting for a full socket: not on a worker.
		srv.writers.slow.Add(1)
		go s.writeSlow(slot, w, batch, false)
		return
	}
	done, err := w.writeNow(slot.park.rc)
	if !done && err == nil {
		// The socket's buffer is full. Its own goroutine waits for it,
		// still holding slot.wmu: nothing may come between the parts.
		srv.writers.slow.Add(1)
		go s.writeSlow(slot, w, batch, true)
		return
	}
	slot.wmu.Unlock()
	srv.frames.put(w)
	if !s.wrote(batch, err) {
		return
	}
	if len(s.queue) > 0 && s.ws != nil {
		srv.schedule(s) // more came meanwhile: to the back of the queue
	} else {
		s.flushing = false
	}
	s.mu.Unlock()
}

// writeSlow finishes the batch w (nil: none), which a worker could not
// write at once, then keeps writing s's queue on this goroutine until it
// is empty. locked says whether the caller holds slot.wmu for w: it does
// when part of w has been written.
func (s *Session) writeSlow(slot *wsSlot, w *frameWriter, batch []Frame, locked bool) {
	defer s.srv.writers.slow.Add(-1)
	if w != nil {
		if !locked {
			slot.wmu.Lock()
		}
		err := w.writeRest(slot.nc)
		slot.wmu.Unlock()
		s.srv.frames.put(w)
		if !s.wrote(batch, err) {
			return
		}
		s.mu.Unlock()
	}
	s.flush()
}

// wrote ends the write of batch taken from s's queue, and reports whether
// it succeeded. On success it returns with s.mu held, for the caller to
// decide who writes what was queued meanwhile; on err the session closes
// and s.mu is not held.
func (s *Session) wrote(batch []Frame, err error) bool {
	clear(batch)
	s.mu.Lock()
	s.inflight = 0
	if err != nil {
		s.flushing = false
		s.mu.Unlock()
		s.closeWith(ReasonTransportError, false)
		return false
	}
	s.spare = batch[:0]
	return true
}
