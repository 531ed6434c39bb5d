package engineio

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// wsPoller wakes the readers of parked WebSocket connections (wsread.go):
// an epoll set holding each parked socket once (EPOLLONESHOT, re-armed
// when the socket parks again), watched by one goroutine. The set itself
// is waited on through Go's own poller (an epoll descriptor is readable
// when it has events), so the goroutine holds no thread while it waits
// and closing the set ends it. The set exists while at least one
// connection that parked is open.
type wsPoller struct {
	mu sync.Mutex
	ep *epollSet
}

// epollSet is one epoll instance and the connections registered in it.
type epollSet struct {
	fd    int
	f     *os.File
	conns map[int32]*wsSlot
}

// wsPark is a connection's state towards the poller.
type wsPark struct {
	fd   int         // the socket, -1 when it cannot be polled
	ep   *epollSet   // the set it is registered in, if any
	gone bool        // the connection is closing: never park again
	idle atomic.Bool // parked, no reader running
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
				w.startReader()
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
