package gateway

import (
	"context"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/protocol/socketio"
)

// localSide is the face a namespace shows its adapter: adapter.Local and
// adapter.RoomObserver. It is the same value as the Namespace, under a type
// of its own, so that these plumbing methods stay out of Namespace's API.
type localSide Namespace

var (
	_ adapter.Local        = (*localSide)(nil)
	_ adapter.RoomObserver = (*localSide)(nil)
)

func (l *localSide) ns() *Namespace { return (*Namespace)(l) }

// Name implements adapter.Local.
func (l *localSide) Name() string { return l.name }

// Deliver implements adapter.Local: it encodes p once and queues the same
// frames on every given socket.
func (l *localSide) Deliver(p *socketio.Packet, sids []string, flags adapter.Flags) int {
	ns := l.ns()
	f, all, err := ns.srv.encode(p)
	if err != nil {
		ns.srv.log.Error("gateway: cannot encode a broadcast", "nsp", ns.name, "err", err)
		return 0
	}
	// Compressed at most once for every socket that negotiated it.
	f = f.Shared(flags.Compress)
	for i := range all {
		all[i] = all[i].Shared(flags.Compress)
	}
	n := 0
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	for _, sid := range sids {
		s := ns.sockets[sid]
		if s == nil {
			continue
		}
		if s.deliver(p, f, all, flags) == nil {
			n++
		}
	}
	if m := ns.srv.meterOf(); m != nil {
		m.Broadcast(ns.name, n)
	}
	return n
}

// DeliverWithAck implements adapter.Local.
func (l *localSide) DeliverWithAck(ctx context.Context, p *socketio.Packet, sids []string, flags adapter.Flags, onAck adapter.AckFunc) int {
	ns := l.ns()
	n := 0
	for _, sid := range sids {
		s, ok := ns.admitted(sid)
		if !ok {
			continue
		}
		cp := *p
		sid := sid
		if s.sendWithAck(ctx, &cp, flags, func(args socketio.Args, err error) {
			if err == nil {
				onAck(sid, args)
			}
		}) == nil {
			n++
		}
	}
	return n
}

// Disconnect implements adapter.Local.
func (l *localSide) Disconnect(sids []string, close bool) {
	ns := l.ns()
	for _, sid := range sids {
		if s, ok := ns.admitted(sid); ok {
			s.Disconnect(close)
		}
	}
}

// Socket implements adapter.Local: it describes a local socket.
func (l *localSide) Socket(sid string) (adapter.SocketInfo, bool) {
	s, ok := l.ns().admitted(sid)
	if !ok {
		return adapter.SocketInfo{}, false
	}
	return s.Info(), true
}

// OnServerSideEmit implements adapter.Local.
func (l *localSide) OnServerSideEmit(event string, args socketio.Args, reply func([]any)) {
	h := l.ns().serverEventHandler(event)
	if h == nil {
		return
	}
	res := h(args)
	if reply != nil {
		reply(res)
	}
}

// Joined implements adapter.RoomObserver.
func (l *localSide) Joined(sid, room string) {
	l.srv.obs.each(func(o Observer) { o.RoomJoined(l.name, room, sid) })
	l.roomsChanged(sid)
}

// roomsChanged has the keeper save a session whose rooms changed.
func (l *localSide) roomsChanged(sid string) {
	if l.srv.keep == nil {
		return
	}
	if s, ok := l.ns().admitted(sid); ok {
		l.srv.keep.touch(s)
	}
}

// Left implements adapter.RoomObserver.
func (l *localSide) Left(sid, room string) {
	l.srv.obs.each(func(o Observer) { o.RoomLeft(l.name, room, sid) })
	l.roomsChanged(sid)
}
