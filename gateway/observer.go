package gateway

import (
	"slices"
	"sync/atomic"

	"github.com/siogate/siogate/protocol/socketio"
)

// Observer hears of the server's lifecycle: sockets joining and leaving
// namespaces, room changes (made here, by another node or by an emitter),
// and events received. The admin UI and metrics observe through it. Its
// methods are called synchronously where the change happens and must not
// block; with no observer registered the server skips them at the cost of
// one atomic load.
type Observer interface {
	SocketConnected(s *Socket)
	SocketDisconnected(s *Socket, reason DisconnectReason)
	RoomJoined(nsp, room, sid string)
	RoomLeft(nsp, room, sid string)
	EventReceived(s *Socket, event string, args socketio.Args)
}

// observerList is copied on write; readers load it once.
type observerList struct{ p atomic.Pointer[[]Observer] }

func (l *observerList) each(fn func(Observer)) {
	if list := l.p.Load(); list != nil {
		for _, o := range *list {
			fn(o)
		}
	}
}

// Observe registers o and returns the function that unregisters it.
func (s *Server) Observe(o Observer) (stop func()) {
	for {
		old := s.obs.p.Load()
		var next []Observer
		if old != nil {
			next = slices.Clone(*old)
		}
		next = append(next, o)
		if s.obs.p.CompareAndSwap(old, &next) {
			break
		}
	}
	return func() {
		for {
			old := s.obs.p.Load()
			if old == nil {
				return
			}
			next := slices.DeleteFunc(slices.Clone(*old), func(x Observer) bool { return x == o })
			var ptr *[]Observer
			if len(next) > 0 {
				ptr = &next
			}
			if s.obs.p.CompareAndSwap(old, ptr) {
				return
			}
		}
	}
}

// Namespaces returns the server's namespaces (the catch-all one excluded).
func (s *Server) Namespaces() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Namespace, 0, len(s.nsps))
	for _, ns := range s.nsps {
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b *Namespace) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return out
}

// Sockets returns the sockets connected to the namespace on this node.
func (ns *Namespace) Sockets() []*Socket {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	out := make([]*Socket, 0, len(ns.sockets))
	for _, s := range ns.sockets {
		out = append(out, s)
	}
	return out
}

// ObserverCount returns the number of registered observers.
func (s *Server) ObserverCount() int {
	if l := s.obs.p.Load(); l != nil {
		return len(*l)
	}
	return 0
}
