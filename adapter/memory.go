package adapter

import (
	"context"
	"slices"
	"sync"

	"github.com/siogate/siogate/protocol/socketio"
)

// Memory is the single-node adapter: rooms live in this process and every
// operation reaches local sockets only. It is the default, and cluster
// adapters build on it for their local state.
type Memory struct {
	local Local

	mu    sync.RWMutex
	rooms map[string]set // room → sids
	sids  map[string]set // sid → rooms
	// roomHook, when set (by a cluster adapter before any socket joins),
	// hears of every room created or deleted, under mu: it must only note
	// the name.
	roomHook func(room string)
}

var _ Adapter = (*Memory)(nil)

// NewMemory returns the in-memory adapter for one namespace. It is a Factory.
func NewMemory(local Local) Adapter { return newMemory(local) }

func newMemory(local Local) *Memory {
	return &Memory{
		local: local,
		rooms: make(map[string]set),
		sids:  make(map[string]set),
	}
}

// Local returns the namespace the adapter delivers to.
func (m *Memory) Local() Local { return m.local }

// AddAll puts sid into rooms.
func (m *Memory) AddAll(sid string, rooms ...string) {
	var added []string
	defer func() { m.notify(sid, added, true) }()
	m.mu.Lock()
	defer m.mu.Unlock()
	mine, existed := m.sids[sid]
	for _, r := range rooms {
		if !mine.add(r) {
			continue
		}
		if _, observed := m.local.(RoomObserver); observed {
			added = append(added, r)
		}
		members := m.rooms[r]
		members.add(sid)
		m.rooms[r] = members
		if m.roomHook != nil && members.len() == 1 {
			m.roomHook(r)
		}
	}
	m.sids[sid] = mine
	if m.roomHook != nil && !existed {
		m.roomHook(sid) // the socket's own room may now be private
	}
}

// Del removes sid from room.
func (m *Memory) Del(sid, room string) {
	m.mu.Lock()
	left := m.delLocked(sid, room)
	m.mu.Unlock()
	if left {
		m.notify(sid, []string{room}, false)
	}
}

// delLocked removes sid from room and reports whether it was there.
func (m *Memory) delLocked(sid, room string) bool {
	mine, ok := m.sids[sid]
	if !ok || !mine.del(room) {
		return false
	}
	// A socket in no room stays known (Select with no rooms lists it)
	// until DelAll.
	m.sids[sid] = mine
	m.dropMemberLocked(room, sid)
	return true
}

// dropMemberLocked takes sid out of room's members, forgetting the room
// once it is empty.
func (m *Memory) dropMemberLocked(room, sid string) {
	members := m.rooms[room]
	members.del(sid)
	if members.len() == 0 {
		delete(m.rooms, room)
		if m.roomHook != nil {
			m.roomHook(room)
		}
	} else {
		m.rooms[room] = members
	}
}

// notify tells an observing Local of membership changes.
func (m *Memory) notify(sid string, rooms []string, joined bool) {
	o, ok := m.local.(RoomObserver)
	if !ok {
		return
	}
	for _, r := range rooms {
		if joined {
			o.Joined(sid, r)
		} else {
			o.Left(sid, r)
		}
	}
}

// DelAll removes sid from every room.
func (m *Memory) DelAll(sid string) {
	var left []string
	defer func() { m.notify(sid, left, false) }()
	m.mu.Lock()
	defer m.mu.Unlock()
	_, observed := m.local.(RoomObserver)
	mine := m.sids[sid]
	for r := range mine.all() {
		if observed {
			left = append(left, r)
		}
		m.dropMemberLocked(r, sid)
	}
	delete(m.sids, sid)
	if m.roomHook != nil {
		m.roomHook(sid)
	}
}

// roomState reports whether room has local members, and whether it is
// private (the id of a local socket).
func (m *Memory) roomState(room string) (exists, private bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, private = m.sids[room]
	members := m.rooms[room]
	return members.len() > 0, private
}

// Rooms returns the rooms of sid.
func (m *Memory) Rooms(sid string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mine := m.sids[sid]
	out := make([]string, 0, mine.len())
	for r := range mine.all() {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Sockets returns the sids in any of rooms, or all sids when rooms is empty.
func (m *Memory) Sockets(rooms []string) []string {
	return m.Select(BroadcastOptions{Rooms: rooms})
}

// AllRooms returns every non-empty room.
func (m *Memory) AllRooms() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.rooms))
	for r := range m.rooms {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Select returns the local sids the options select, each once.
func (m *Memory) Select(opts BroadcastOptions) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	excluded := func(sid string) bool {
		for _, r := range opts.Except {
			if members := m.rooms[r]; members.has(sid) {
				return true
			}
		}
		return false
	}
	if len(opts.Rooms) == 0 {
		out := make([]string, 0, len(m.sids))
		for sid := range m.sids {
			if !excluded(sid) {
				out = append(out, sid)
			}
		}
		return out
	}
	if len(opts.Rooms) == 1 {
		members := m.rooms[opts.Rooms[0]]
		out := make([]string, 0, members.len())
		for sid := range members.all() {
			if !excluded(sid) {
				out = append(out, sid)
			}
		}
		return out
	}
	seen := make(map[string]struct{})
	out := make([]string, 0)
	for _, r := range opts.Rooms {
		members := m.rooms[r]
		for sid := range members.all() {
			if _, dup := seen[sid]; dup || excluded(sid) {
				continue
			}
			seen[sid] = struct{}{}
			out = append(out, sid)
		}
	}
	return out
}

// Broadcast delivers p to the selected local sockets.
func (m *Memory) Broadcast(_ context.Context, p *socketio.Packet, opts BroadcastOptions) error {
	m.local.Deliver(p, m.Select(opts), opts.Flags)
	return nil
}

// BroadcastWithAck delivers p to the selected local sockets, asking each
// for an ack.
func (m *Memory) BroadcastWithAck(ctx context.Context, p *socketio.Packet, opts BroadcastOptions, onCount func(int), onAck AckFunc) (int, error) {
	onCount(m.local.DeliverWithAck(ctx, p, m.Select(opts), opts.Flags, onAck))
	return 1, nil
}

// AddSockets puts the selected sockets into rooms.
func (m *Memory) AddSockets(_ context.Context, opts BroadcastOptions, rooms []string) error {
	for _, sid := range m.Select(opts) {
		m.AddAll(sid, rooms...)
	}
	return nil
}

// DelSockets removes the selected sockets from rooms.
func (m *Memory) DelSockets(_ context.Context, opts BroadcastOptions, rooms []string) error {
	sids := m.Select(opts)
	type change struct{ sid, room string }
	var left []change
	m.mu.Lock()
	for _, sid := range sids {
		for _, r := range rooms {
			if m.delLocked(sid, r) {
				left = append(left, change{sid, r})
			}
		}
	}
	m.mu.Unlock()
	for _, c := range left {
		m.notify(c.sid, []string{c.room}, false)
	}
	return nil
}

// DisconnectSockets disconnects the selected sockets.
func (m *Memory) DisconnectSockets(_ context.Context, opts BroadcastOptions, close bool) error {
	m.local.Disconnect(m.Select(opts), close)
	return nil
}

// FetchSockets describes the selected sockets.
func (m *Memory) FetchSockets(_ context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	sids := m.Select(opts)
	out := make([]SocketInfo, 0, len(sids))
	for _, sid := range sids {
		if info, ok := m.local.Socket(sid); ok {
			out = append(out, info)
		}
	}
	return out, nil
}

// ServerSideEmit has no other node to reach: it returns no answers.
func (m *Memory) ServerSideEmit(context.Context, string, []any, bool) ([]socketio.Args, error) {
	return nil, nil
}

// ServerCount is 1.
func (m *Memory) ServerCount(context.Context) (int, error) { return 1, nil }

// Close does nothing.
func (m *Memory) Close() error { return nil }
