// Package adapter defines how a Socket.IO namespace reaches its sockets:
// the Adapter interface the gateway broadcasts through, the Local interface
// the gateway implements so an adapter can deliver to this node's sockets,
// and the in-memory adapter that is the default for a single node.
//
// Broker modules (adapter-redis, adapter-nats, ...) implement the same
// Adapter for a cluster; this package never imports the gateway.
package adapter

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/siogate/siogate/protocol/socketio"
)

// Flags modify how a broadcast is delivered.
type Flags struct {
	// Local restricts delivery to this node.
	Local bool
	// Volatile drops the packet for sockets that are not ready to send it
	// right away, instead of queueing it.
	Volatile bool
	// Compress asks for per-message compression where the transport
	// supports it.
	Compress bool
}

// BroadcastOptions select the sockets of a namespace an operation applies to.
type BroadcastOptions struct {
	// Rooms, when not empty, limits the operation to sockets in at least
	// one of them. Every socket is in the room named by its own id.
	Rooms []string
	// Except excludes sockets in any of these rooms (or with these ids).
	Except []string
	Flags  Flags
}

// Handshake describes the request that opened a socket's connection.
type Handshake struct {
	Headers http.Header         `json:"headers"`
	Time    time.Time           `json:"time"`
	Address string              `json:"address"`
	Secure  bool                `json:"secure"`
	URL     string              `json:"url"`
	Query   map[string][]string `json:"query"`
	Auth    []byte              `json:"auth"` // the CONNECT payload, JSON
}

// SocketInfo describes one socket, wherever in the cluster it lives.
type SocketInfo struct {
	ID        string    `json:"id"`
	Namespace string    `json:"nsp"`
	Handshake Handshake `json:"handshake"`
	Rooms     []string  `json:"rooms"`
	Data      any       `json:"data"`
}

// AckFunc receives one client's answer to a broadcast that asked for acks.
type AckFunc func(sid string, args socketio.Args)

// Local is the node-local side of a namespace. The gateway implements it;
// an adapter calls it to reach the sockets connected to this node.
type Local interface {
	// Name returns the namespace name.
	Name() string
	// Deliver writes p to the given local sockets, encoding it once.
	// Unknown sids are skipped. It returns how many sockets were reached.
	Deliver(p *socketio.Packet, sids []string, flags Flags) int
	// DeliverWithAck writes p to each given socket with its own ack id and
	// calls onAck for each answer until ctx is done. It returns how many
	// sockets were asked.
	DeliverWithAck(ctx context.Context, p *socketio.Packet, sids []string, flags Flags, onAck AckFunc) int
	// Disconnect disconnects the given local sockets from the namespace;
	// close also closes their underlying connections.
	Disconnect(sids []string, close bool)
	// Socket describes a local socket.
	Socket(sid string) (SocketInfo, bool)
	// OnServerSideEmit delivers an event sent by another node to the
	// namespace's server-side handlers. reply, when not nil, sends the
	// handlers' answer back.
	OnServerSideEmit(event string, args socketio.Args, reply func(args []any))
}

// Adapter keeps a namespace's room membership and carries operations to
// the sockets they select, on this node and, for cluster adapters, on every
// node. Implementations are safe for concurrent use.
type Adapter interface {
	// AddAll puts a local socket into rooms.
	AddAll(sid string, rooms ...string)
	// Del removes a local socket from a room.
	Del(sid, room string)
	// DelAll removes a local socket from every room (it is leaving).
	DelAll(sid string)
	// Rooms returns the rooms of a local socket.
	Rooms(sid string) []string
	// Sockets returns the ids of the local sockets in any of rooms, or of
	// all local sockets when rooms is empty.
	Sockets(rooms []string) []string
	// AllRooms returns every room with at least one local socket.
	AllRooms() []string

	// Broadcast sends p to every socket the options select.
	Broadcast(ctx context.Context, p *socketio.Packet, opts BroadcastOptions) error
	// BroadcastWithAck sends p asking each selected socket for an ack. It
	// returns how many nodes take part; each of them (this one included)
	// reports once through onCount how many of its sockets were asked, and
	// onAck receives every answer until ctx is done.
	BroadcastWithAck(ctx context.Context, p *socketio.Packet, opts BroadcastOptions, onCount func(n int), onAck AckFunc) (nodes int, err error)
	// AddSockets puts the selected sockets into rooms.
	AddSockets(ctx context.Context, opts BroadcastOptions, rooms []string) error
	// DelSockets removes the selected sockets from rooms.
	DelSockets(ctx context.Context, opts BroadcastOptions, rooms []string) error
	// DisconnectSockets disconnects the selected sockets.
	DisconnectSockets(ctx context.Context, opts BroadcastOptions, close bool) error
	// FetchSockets describes the selected sockets.
	FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error)
	// ServerSideEmit sends an event to the namespace's server-side handlers
	// on the other nodes. With want true it waits for their answers until
	// ctx is done and returns them.
	ServerSideEmit(ctx context.Context, event string, args []any, want bool) ([]socketio.Args, error)
	// ServerCount returns the number of nodes in the cluster (1 alone).
	ServerCount(ctx context.Context) (int, error)
	// Close releases the adapter's resources.
	Close() error
}

// Factory creates the adapter of one namespace.
type Factory func(local Local) Adapter

// ErrClosed is returned by operations on a closed adapter.
var ErrClosed = errors.New("adapter: closed")

// RoomObserver is implemented by a Local that wants to hear of room
// membership changes, whoever made them (this node, another node through
// the cluster, an emitter). The adapters call it after each change; it
// must not block or call back into the adapter.
type RoomObserver interface {
	Joined(sid, room string)
	Left(sid, room string)
}
