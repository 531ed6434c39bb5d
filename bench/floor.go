package bench

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/lxzan/gws"
)

// Floor is the floor fixture: a server on gws with default options that
// answers the benchmark's event contract by rewriting the received bytes,
// with no Socket.IO implementation. What it costs is the least any
// Socket.IO server on gws could cost for the same traffic. HTTP
// long-polling requests get the same treatment from plain net/http.
type Floor struct {
	upgrader *gws.Upgrader
	nextID   atomic.Uint64
	polling  pollingFloor

	mu    sync.Mutex
	conns map[*gws.Conn]struct{}
	list  []*gws.Conn // snapshot of conns, nil when stale
}

// NewFloor returns a floor fixture; it serves WebSocket upgrades and
// long-polling requests on any path.
func NewFloor() *Floor {
	f := &Floor{conns: make(map[*gws.Conn]struct{})}
	f.upgrader = gws.NewUpgrader(floorEvents{f}, &gws.ServerOption{})
	f.polling = pollingFloor{f: f, sessions: make(map[string]*floorSession)}
	return f
}

// ServeHTTP upgrades a WebSocket request and sends the Engine.IO
// handshake; long-polling requests go to the polling floor.
func (f *Floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("transport") {
	case "websocket":
	case "polling":
		f.polling.serve(w, r)
		return
	default:
		http.Error(w, "transport must be websocket or polling", http.StatusBadRequest)
		return
	}
	conn, err := f.upgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	sid := "floor" + strconv.FormatUint(f.nextID.Add(1), 36)
	open := `0{"sid":"` + sid + `","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
	if conn.WriteString(open) != nil {
		return
	}
	f.mu.Lock()
	f.conns[conn] = struct{}{}
	f.list = nil
	f.mu.Unlock()
	go conn.ReadLoop()
}

// all returns the open connections.
func (f *Floor) all() []*gws.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.list == nil {
		f.list = make([]*gws.Conn, 0, len(f.conns))
		for c := range f.conns {
			f.list = append(f.list, c)
		}
	}
	return f.list
}

// Count returns the number of open connections.
func (f *Floor) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

type floorEvents struct{ f *Floor }

var (
	echoPrefix      = []byte(`["echo",`)
	binaryPrefix    = []byte(`["binary",`)
	broadcastPrefix = []byte(`42["broadcast",`)
	tickPrefix      = []byte(`42["tick",`)
)

func (floorEvents) OnOpen(*gws.Conn)                   {}
func (floorEvents) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }
func (floorEvents) OnPong(*gws.Conn, []byte)           {}

func (e floorEvents) OnClose(c *gws.Conn, _ error) {
	e.f.mu.Lock()
	delete(e.f.conns, c)
	e.f.list = nil
	e.f.mu.Unlock()
}

// OnMessage rewrites the frame in place and writes it back (or to all).
func (e floorEvents) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	b := m.Bytes()
	if m.Opcode == gws.OpcodeBinary {
		_ = c.WriteMessage(gws.OpcodeBinary, b) // an attachment: echo it
		return
	}
	switch {
	case bytes.HasPrefix(b, broadcastPrefix):
		// 42["broadcast",REST -> 42["tick",REST, the same bytes to all.
		out := b[len(broadcastPrefix)-len(tickPrefix):]
		copy(out, tickPrefix)
		for _, peer := range e.f.all() {
			_ = peer.WriteMessage(gws.OpcodeText, out)
		}
	case bytes.HasPrefix(b, []byte("42")):
		// 42<id>["echo",REST -> 43<id>[REST
		_ = c.WriteMessage(gws.OpcodeText, rewriteAck(b, 2, echoPrefix, '3'))
	case bytes.HasPrefix(b, []byte("451-")):
		// 451-<id>["binary",REST -> 461-<id>[REST
		_ = c.WriteMessage(gws.OpcodeText, rewriteAck(b, 4, binaryPrefix, '6'))
	case bytes.HasPrefix(b, []byte("40")):
		sid := "s" + strconv.FormatUint(e.f.nextID.Add(1), 36)
		_ = c.WriteString(`40{"sid":"` + sid + `"}`)
	}
}

// rewriteAck turns an event with an ack id into its ack, in place: the
// digits after the header of length hdr are the id, then eventPrefix, then
// the remaining arguments. typ replaces the packet type digit. A frame that
// does not have that shape is returned unchanged.
func rewriteAck(b []byte, hdr int, eventPrefix []byte, typ byte) []byte {
	i := hdr
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == hdr || !bytes.HasPrefix(b[i:], eventPrefix) {
		return b // no ack id, or another event
	}
	rest := i + len(eventPrefix)
	// The new head is the old one up to the id, then '['; it is shorter
	// than what it replaces, so it fits just before rest.
	start := rest - (i + 1)
	copy(b[start:], b[:i])
	b[start+1] = typ
	b[rest-1] = '['
	return b[start:]
}
