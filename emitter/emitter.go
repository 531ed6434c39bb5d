// Package emitter lets programs that are not gateway nodes (workers,
// cron jobs, other services) push events to the clients of a siogate
// cluster, through the same broker the nodes use. It only publishes.
//
//	b, _ := redisadapter.NewBroker(redisadapter.Options{URL: "redis://127.0.0.1:6379/0"})
//	e := emitter.New(b, emitter.Options{})
//	err := e.Of("/chat").To("room1").Emit(ctx, "news", "hello")
//
// It speaks the classic @socket.io/redis-emitter protocol (package
// adapter/wire), so Node servers on @socket.io/redis-adapter receive its
// events too. On a broker that imposes Node's sharded layout (a Redis
// broker with Sharded set: SPUBLISH on Redis Cluster), it publishes in that
// layout instead, which Node's sharded adapter (createShardedAdapter) reads
// too; Node's own emitter has no sharded form. It depends on no broker
// module: the program passes the broker of its choice.
package emitter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/protocol/socketio"
)

// Publisher is the publish side of a broker; every adapter-* module's
// broker implements it.
type Publisher interface {
	Publish(ctx context.Context, channel string, data []byte) error
}

// Options configure an Emitter. The zero value uses the defaults.
type Options struct {
	// Prefix starts every channel name; it must match the nodes' (default
	// "socket.io").
	Prefix string
}

// Emitter publishes events and operations to a namespace's sockets. Each
// narrowing method returns a new Emitter; the zero-rooms Emitter targets
// every socket of the namespace.
type Emitter struct {
	pub        Publisher
	layout     wire.Layout // the broker's (wire.LayoutOf)
	prefix     string
	nsp        string
	rooms      []string
	except     []string
	volatile   bool
	noCompress bool // Compress(false): compression is on by default, as in Node
}

// New returns an emitter for the main namespace "/".
func New(pub Publisher, opts Options) Emitter {
	if opts.Prefix == "" {
		opts.Prefix = "socket.io"
	}
	return Emitter{pub: pub, layout: wire.LayoutOf(pub), prefix: opts.Prefix, nsp: socketio.MainNamespace}
}

// Of returns an emitter for namespace nsp (a leading "/" is added if
// missing), with no rooms or exceptions.
func (e Emitter) Of(nsp string) Emitter {
	if !strings.HasPrefix(nsp, "/") {
		nsp = "/" + nsp
	}
	return Emitter{pub: e.pub, layout: e.layout, prefix: e.prefix, nsp: nsp}
}

// To adds rooms (or socket ids) to target.
func (e Emitter) To(rooms ...string) Emitter {
	e.rooms = append(slices.Clip(e.rooms), rooms...)
	return e
}

// In is To.
func (e Emitter) In(rooms ...string) Emitter { return e.To(rooms...) }

// Except excludes sockets in rooms (or with these ids).
func (e Emitter) Except(rooms ...string) Emitter {
	e.except = append(slices.Clip(e.except), rooms...)
	return e
}

// Volatile lets nodes drop the event for clients not ready for it.
func (e Emitter) Volatile() Emitter {
	e.volatile = true
	return e
}

// Compress sets whether the event may be compressed (default true, as
// Node's emitter).
func (e Emitter) Compress(on bool) Emitter {
	e.noCompress = !on
	return e
}

// ErrReserved is returned for event names that Socket.IO reserves.
var ErrReserved = errors.New("emitter: reserved event name")

var reserved = []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

func (e Emitter) opts() wire.Opts {
	return wire.NewOpts(e.rooms, e.except, e.volatile, !e.noCompress)
}

func (e Emitter) channels() wire.Channels { return wire.ChannelsFor(e.prefix, e.nsp) }

// Emit publishes an event to the targeted sockets. Arguments may hold
// []byte (binary) anywhere in maps and slices.
func (e Emitter) Emit(ctx context.Context, event string, args ...any) error {
	if slices.Contains(reserved, event) {
		return fmt.Errorf("%w: %q", ErrReserved, event)
	}
	p, err := socketio.NewEvent(e.nsp, event, args)
	if err != nil {
		return err
	}
	wp, err := wire.PacketFrom(&p)
	if err != nil {
		return err
	}
	if e.layout.Sharded {
		data, err := wire.EncodeShardedBroadcast(wire.EmitterUID, e.nsp, wp, e.opts())
		if err != nil {
			return err
		}
		// A single room (not a socket id, in the dynamic mode) has its own
		// channel, which the nodes with a socket in it subscribe to.
		ch := wire.ShardedChannel(e.prefix, e.nsp)
		if wire.RoomChannelFor(e.layout.Mode, e.rooms) {
			ch = wire.ShardedSubChannel(e.prefix, e.nsp, e.rooms[0])
		}
		return e.publish(ctx, ch, data)
	}
	data, err := wire.EncodeBroadcast(wire.EmitterUID, wp, e.opts())
	if err != nil {
		return err
	}
	// Always the namespace's broadcast channel, even for one room (Node's
	// emitter would use "prefix#nsp#room#"): brokers without pattern
	// subscriptions (NATS, AMQP, Kafka) only receive that channel, and
	// Redis nodes, siogate's and Node's alike, receive it through their
	// pattern too. The rooms travel in the message.
	return e.publish(ctx, e.channels().Broadcast, data)
}

// Send emits the "message" event.
func (e Emitter) Send(ctx context.Context, args ...any) error { return e.Emit(ctx, "message", args...) }

// SocketsJoin puts the targeted sockets, on every node, into rooms.
func (e Emitter) SocketsJoin(ctx context.Context, rooms ...string) error {
	o := e.opts()
	return e.request(ctx, &wire.Request{Type: wire.TypeRemoteJoin, Opts: &o, Rooms: wire.NonNil(rooms)})
}

// SocketsLeave takes the targeted sockets, on every node, out of rooms.
func (e Emitter) SocketsLeave(ctx context.Context, rooms ...string) error {
	o := e.opts()
	return e.request(ctx, &wire.Request{Type: wire.TypeRemoteLeave, Opts: &o, Rooms: wire.NonNil(rooms)})
}

// DisconnectSockets disconnects the targeted sockets; close also closes
// their connections.
func (e Emitter) DisconnectSockets(ctx context.Context, close bool) error {
	o := e.opts()
	return e.request(ctx, &wire.Request{Type: wire.TypeRemoteDisconnect, Opts: &o, Close: &close})
}

// ServerSideEmit sends an event to the server-side handlers of every node
// (gateway Namespace.OnServerEvent). Acknowledgements are not supported.
func (e Emitter) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	data, _, err := socketio.AppendEvent(nil, event, args)
	if err != nil {
		return err
	}
	return e.request(ctx, &wire.Request{UID: wire.EmitterUID, Type: wire.TypeServerSideEmit, Data: data})
}

// request publishes a fire-and-forget request (no request id: every node
// applies it, none answers) on the namespace's request channel.
func (e Emitter) request(ctx context.Context, r *wire.Request) error {
	if e.layout.Sharded {
		if r.UID == "" {
			r.UID = wire.EmitterUID
		}
		data, err := wire.EncodeShardedRequest(e.nsp, r)
		if err != nil {
			return err
		}
		return e.publish(ctx, wire.ShardedChannel(e.prefix, e.nsp), data)
	}
	data, err := wire.EncodeRequest(r)
	if err != nil {
		return err
	}
	return e.publish(ctx, e.channels().Request, data)
}

func (e Emitter) publish(ctx context.Context, channel string, data []byte) error {
	if err := e.pub.Publish(ctx, channel, data); err != nil {
		return fmt.Errorf("emitter: publish on %s: %w", channel, err)
	}
	return nil
}
