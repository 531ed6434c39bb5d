package engineio

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/lxzan/gws"
)

// wsPoller wakes the readers of parked WebSocket connections (wsread.go):
// an epoll set holding each parked socket once (EPOLLONESHOT, re-armed
// when the socket parks again), watched by one goroutine. The set itself
// is waited on through Go's own poller (an epoll descriptor is readable
// when it has events), so the goroutine holds no thread while it waits
// and closing the set ends it. The set exists while at least one
// connection that parked is open.
type wsPoller struct {
	mu    sync.Mutex
	ep    *epollSet
	pongs atomic.Int64 // pongs read by the poller itself, for tests
}

// epollSet is one epoll instance and the connections registered in it.
type epollSet struct {
	fd    int
	f     *os.File
	conns map[int32]*wsSlot
}

// wsPark is a connection's state towards the poller.
type wsPark struct {
	fd   int             // the socket, -1 when it cannot be polled
	rc   syscall.RawConn // the socket, for the poller's reads
	ep   *epollSet       // the set it is registered in, if any
	gone bool            // the connection is closing: never park again
	idle atomic.Bool     // parked, no reader running
}

// canPark reports whether w may park when idle.
func (s *Server) canPark(w *wsSlot) bool { return w.park.fd >= 0 }

// park registers w to get a new reader when its socket becomes readable.
// It returns false (the caller keeps reading) when the connection is
// closing or the poller cannot take it.
func (s *Server) park(w *wsSlot) bool {
	p := &s.poller
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.park.gone {
		return false
	}
	if p.ep == nil {
		ep, err := newEpollSet()
		if err != nil {
			w.park.fd = -1 // do not try again
			s.cfg.Logger.Warn("engineio: idle websocket connections keep their reader: no epoll set", "err", err)
			return false
		}
		p.ep = ep
		go ep.run(p)
	}
	op := syscall.EPOLL_CTL_MOD
	if w.park.ep != p.ep {
		op = syscall.EPOLL_CTL_ADD
	}
	w.park.idle.Store(true)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollOneShot, Fd: int32(w.park.fd)}
	if err := syscall.EpollCtl(p.ep.fd, op, w.park.fd, &ev); err != nil {
		w.park.idle.Store(false)
		return false
	}
	if op == syscall.EPOLL_CTL_ADD {
		p.ep.conns[int32(w.park.fd)] = w
		w.park.ep = p.ep
	}
	return true
}

// unpark removes w from the poller for good, before its socket closes.
func (s *Server) unpark(w *wsSlot) {
	p := &s.poller
	p.mu.Lock()
	defer p.mu.Unlock()
	w.park.gone = true
	ep := w.park.ep
	if ep == nil {
		return
	}
	w.park.ep = nil
	if ep != p.ep {
		return
	}
	_ = syscall.EpollCtl(ep.fd, syscall.EPOLL_CTL_DEL, w.park.fd, nil)
	if ep.conns[int32(w.park.fd)] == w {
		delete(ep.conns, int32(w.park.fd))
	}
	if len(ep.conns) == 0 {
		_ = ep.f.Close()
		p.ep = nil
	}
}

// epollOneShot is EPOLLONESHOT (the syscall package's constant is negative).
const epollOneShot = 1 << 30

func newEpollSet() (*epollSet, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	return &epollSet{fd: fd, f: os.NewFile(uintptr(fd), "epoll"), conns: map[int32]*wsSlot{}}, nil
}

// run starts a reader for each connection whose socket became readable,
// until the set is closed.
func (ep *epollSet) run(p *wsPoller) {
	rc, err := ep.f.SyscallConn()
	if err != nil {
		return
	}
	events := make([]syscall.EpollEvent, 256)
	for {
		var n int
		err := rc.Read(func(fd uintptr) bool {
			var werr error
			n, werr = syscall.EpollWait(int(fd), events, 0)
			if werr != nil {
				n = 0
				return werr != syscall.EAGAIN // EINTR: look again
			}
			return n > 0
		})
		if err != nil {
			return // closed
		}
		for i := range events[:n] {
			p.mu.Lock()
			w := ep.conns[events[i].Fd]
			p.mu.Unlock()
			if w != nil && w.park.idle.CompareAndSwap(true, false) {
				w.wake()
			}
		}
	}
}

// parked counts the parked connections, and tells whether the set is open.
func (p *wsPoller) parked() (n int, open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ep == nil {
		return 0, false
	}
	for _, w := range p.ep.conns {
		if w.park.idle.Load() {
			n++
		}
	}
	return n, true
}

// pongFrame is the size of a client's Engine.IO pong on a WebSocket: a
// final, masked text frame carrying "3".
const pongFrameLen = 7

// wake serves a parked connection whose socket became readable. What an
// idle client sends is almost always its answer to the server's ping: the
// poller reads it here and parks the connection again, with no reader
// goroutine. Anything else (or a pong with more behind it) goes to a new
// reader, the bytes already read first.
func (w *wsSlot) wake() {
	var buf [16]byte
	n, err := 0, error(nil)
	// Control, not Read: RawConn.Read fails at once on the socket's
	// expired read deadline (the one that parked it), and could wait;
	// this goroutine serves every socket and must not.
	if cerr := w.park.rc.Control(func(fd uintptr) {
		n, err = syscall.Read(int(fd), buf[:])
	}); cerr != nil {
		err = cerr
	}
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		if w.srv.park(w) {
			return
		}
	case err == nil && n == pongFrameLen && buf[0] == 0x81 && buf[1] == 0x81 && buf[6]^buf[2] == '3':
		w.srv.poller.pongs.Add(1)
		_ = w.message(gws.OpcodeText, []byte{'3'}, false)
		if w.srv.park(w) {
			return
		}
	case err == nil && n > 0:
		w.head = append(w.head, buf[:n]...)
	}
	w.startReader()
}
