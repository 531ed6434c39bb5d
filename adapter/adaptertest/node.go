// Package adaptertest is the conformance kit every adapter runs: three
// nodes in one test, each a namespace with its own sockets, exercising every
// cluster operation through the adapter under test.
//
//	func TestConformance(t *testing.T) {
//		adaptertest.Run(t, func(t *testing.T) adapter.Factory {
//			return adapter.NewCluster(openBroker(t), adapter.ClusterConfig{Prefix: adaptertest.Prefix(t)})
//		})
//	}
//
// The nodes' local side is a small in-process namespace (Node) that records
// what each socket receives, so the kit can check exactly-once delivery;
// gateway-level multi-node tests with real clients live beside the gateway.
package adaptertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/protocol/socketio"
)

// Node is one cluster node's namespace: sockets identified by sid, each
// recording the events it receives. It implements adapter.Local.
type Node struct {
	Label   string
	Adapter adapter.Adapter

	name       string
	mu         sync.Mutex
	socs       map[string]*sock
	serverEvts []string
	holds      map[string]hold // server-side event name → hold
	changed    chan struct{}
}

// hold makes the server-side handler of one event wait for the test.
type hold struct {
	entered chan struct{}
	release <-chan struct{}
}

type sock struct {
	received []string // event names (with args) in arrival order
	silent   bool     // never answers acks
	gone     bool
	closed   bool
	data     any
}

var _ adapter.Local = (*Node)(nil)

// NewNode returns a node for namespace nsp using the adapter factory.
func NewNode(label, nsp string, factory adapter.Factory) *Node {
	n := &Node{Label: label, name: nsp, socs: make(map[string]*sock), changed: make(chan struct{}, 1)}
	n.Adapter = factory(n)
	return n
}

// Connect adds a local socket (in its own room, like the gateway does).
func (n *Node) Connect(sid string, silent bool) {
	n.mu.Lock()
	n.socs[sid] = &sock{silent: silent, data: map[string]any{"node": n.Label}}
	n.mu.Unlock()
	n.Adapter.AddAll(sid, sid)
}

// Name implements adapter.Local.
func (n *Node) Name() string { return n.name }

func (n *Node) notify() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

func eventText(p *socketio.Packet) string {
	name, args, err := socketio.EventName(p)
	if err != nil {
		return "<bad packet>"
	}
	vals, _ := args.Values()
	b, _ := json.Marshal(vals)
	return name + string(b)
}

// Deliver implements adapter.Local.
func (n *Node) Deliver(p *socketio.Packet, sids []string, _ adapter.Flags) int {
	ev := eventText(p)
	n.mu.Lock()
	defer n.notify()
	defer n.mu.Unlock()
	c := 0
	for _, sid := range sids {
		if s := n.socs[sid]; s != nil && !s.gone {
			s.received = append(s.received, ev)
			c++
		}
	}
	return c
}

// DeliverWithAck implements adapter.Local: every non-silent socket answers
// with its sid.
func (n *Node) DeliverWithAck(ctx context.Context, p *socketio.Packet, sids []string, _ adapter.Flags, onAck adapter.AckFunc) int {
	ev := eventText(p)
	n.mu.Lock()
	var answer []string
	c := 0
	for _, sid := range sids {
		s := n.socs[sid]
		if s == nil || s.gone {
			continue
		}
		s.received = append(s.received, ev)
		c++
		if !s.silent {
			answer = append(answer, sid)
		}
	}
	n.mu.Unlock()
	n.notify()
	for _, sid := range answer {
		go func() {
			data, att, _ := socketio.AppendArgs(nil, []any{"ack:" + sid})
			args, _ := socketio.ParseArgs(data, att)
			select {
			case <-ctx.Done():
			default:
				onAck(sid, args)
			}
		}()
	}
	return c
}

// Disconnect implements adapter.Local.
func (n *Node) Disconnect(sids []string, close bool) {
	n.mu.Lock()
	var gone []string
	for _, sid := range sids {
		if s := n.socs[sid]; s != nil && !s.gone {
			s.gone, s.closed = true, close
			gone = append(gone, sid)
		}
	}
	n.mu.Unlock()
	for _, sid := range gone {
		n.Adapter.DelAll(sid)
	}
	n.notify()
}

// Socket implements adapter.Local.
func (n *Node) Socket(sid string) (adapter.SocketInfo, bool) {
	n.mu.Lock()
	s := n.socs[sid]
	n.mu.Unlock()
	if s == nil || s.gone {
		return adapter.SocketInfo{}, false
	}
	return adapter.SocketInfo{
		ID:        sid,
		Namespace: n.name,
		Rooms:     n.Adapter.Rooms(sid),
		Data:      s.data,
		Handshake: adapter.Handshake{Time: time.Now(), Address: "127.0.0.1", URL: "/socket.io/?EIO=4", Auth: []byte(`{"node":"` + n.Label + `"}`)},
	}, true
}

// OnServerSideEmit implements adapter.Local: it records the event and
// answers with the node's label.
func (n *Node) OnServerSideEmit(event string, args socketio.Args, reply func([]any)) {
	n.mu.Lock()
	h, held := n.holds[event]
	delete(n.holds, event)
	n.mu.Unlock()
	if held {
		close(h.entered)
		<-h.release
	}
	vals, _ := args.Values()
	b, _ := json.Marshal(vals)
	n.mu.Lock()
	n.serverEvts = append(n.serverEvts, event+string(b))
	n.mu.Unlock()
	n.notify()
	if reply != nil {
		reply([]any{"from:" + n.Label})
	}
}

// HoldServerEvent makes the node's server-side handler, the next time it
// runs for event, block until release is closed: a slow user handler. The
// returned channel is closed once the handler is blocked.
func (n *Node) HoldServerEvent(event string, release <-chan struct{}) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.holds == nil {
		n.holds = make(map[string]hold)
	}
	h := hold{entered: make(chan struct{}), release: release}
	n.holds[event] = h
	return h.entered
}

// Received returns what socket sid received.
func (n *Node) Received(sid string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s := n.socs[sid]; s != nil {
		return slices.Clone(s.received)
	}
	return nil
}

// Gone reports whether sid was disconnected, and with close.
func (n *Node) Gone(sid string) (gone, closed bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s := n.socs[sid]; s != nil {
		return s.gone, s.closed
	}
	return false, false
}

// ServerEvents returns the server-side events received, as name + JSON
// arguments.
func (n *Node) ServerEvents() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.serverEvts)
}

// String names the node in test messages.
func (n *Node) String() string { return fmt.Sprintf("node %s", n.Label) }
