// Package pybridge lets python-socketio workers keep emitting into a
// siogate cluster: a gateway node listens on python-socketio's manager
// channel ("socketio" by default) and carries out, on its own sockets,
// what the workers' write-only managers publish there (emit, enter_room,
// leave_room, close_room, disconnect), as every python-socketio server of
// the cluster would.
//
// The channel is reached through any adapter.Broker, whose channel naming
// already matches python-socketio's managers: the Redis broker subscribes
// to the Redis channel (RedisManager), the AMQP broker binds a queue of
// its own to the fanout exchange named after the channel, non-durable, as
// Kombu declares it (KombuManager), and the Kafka broker reads the topic
// of that name (KafkaManager, one partition). Every enabled node listens
// on its own subscription and applies each message to its local sockets
// only, so a message reaches each socket once, whichever node holds it.
//
// The messages are decoded by package adapter/pysio (JSON, or pickled
// plain data; anything else is refused and logged). The bridge lives in
// the gateway module because it acts on a gateway.Server; the decoding and
// the brokers stay below it.
//
// Acks cannot travel back to Python: a write-only manager refuses to emit
// with a callback (python-socketio raises "Callbacks can only be issued
// from the context of a server" before publishing), and a full Python
// server's callbacks would be answered on the channel to its host_id,
// which siogate does not do: such emits are delivered without an ack.
package pybridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/pysio"
	"github.com/siogate/siogate/gateway"
)

// Config configures a bridge. The zero value uses the defaults.
type Config struct {
	// Channel is python-socketio's channel argument (default "socketio").
	Channel string
	// Logger receives refused and unknown messages (default: discarded).
	Logger *slog.Logger
}

// Bridge listens on a python-socketio channel for one gateway node.
type Bridge struct {
	srv     *gateway.Server
	log     *slog.Logger
	sub     io.Closer
	applied atomic.Uint64
	refused atomic.Uint64
}

// Start subscribes to cfg.Channel through b and applies every message to
// srv's local sockets until Close. Messages are applied in order on the
// broker's delivery goroutine, as python-socketio's listener thread does;
// the operations only queue packets.
func Start(ctx context.Context, srv *gateway.Server, b adapter.Broker, cfg Config) (*Bridge, error) {
	if cfg.Channel == "" {
		cfg.Channel = "socketio"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	br := &Bridge{srv: srv, log: cfg.Logger.With("channel", cfg.Channel)}
	sub, err := b.Subscribe(ctx, adapter.Subscription{Channels: []string{cfg.Channel}, Deliver: br.deliver})
	if err != nil {
		return nil, fmt.Errorf("pybridge: subscribe to python-socketio channel %q: %w", cfg.Channel, err)
	}
	br.sub = sub
	return br, nil
}

// Stats are the bridge's counts.
type Stats struct {
	Applied, Refused uint64
}

// Stats returns how many messages were applied and refused.
func (b *Bridge) Stats() Stats { return Stats{Applied: b.applied.Load(), Refused: b.refused.Load()} }

// Close stops listening.
func (b *Bridge) Close() error { return b.sub.Close() }

// applyTimeout bounds one message's operations.
const applyTimeout = 5 * time.Second

func (b *Bridge) deliver(_ string, data []byte) {
	m, err := pysio.Decode(data)
	if err != nil {
		b.refused.Add(1)
		b.log.Error("pybridge: message refused", "err", err, "bytes", len(data))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	if err := b.Apply(ctx, m); err != nil {
		b.refused.Add(1)
		b.log.Warn("pybridge: message not applied", "method", m.Method, "nsp", m.Namespace, "err", err)
		return
	}
	b.applied.Add(1)
}

// Apply carries out one message on the node's local sockets. A namespace
// the node does not serve is skipped, as python-socketio skips it.
func (b *Bridge) Apply(ctx context.Context, m pysio.Message) error {
	ns, ok := b.srv.Namespace(m.Namespace)
	if !ok {
		return nil
	}
	local := ns.Local()
	switch m.Method {
	case pysio.MethodEmit:
		if m.Callback {
			b.log.Debug("pybridge: emit asks for an ack python-socketio cannot receive from siogate; delivered without", "event", m.Event)
		}
		return local.To(m.Rooms...).Except(m.Skip...).Emit(ctx, m.Event, m.Args...)
	case pysio.MethodEnterRoom:
		return local.To(m.SID).SocketsJoin(ctx, m.Rooms...)
	case pysio.MethodLeaveRoom:
		return local.To(m.SID).SocketsLeave(ctx, m.Rooms...)
	case pysio.MethodCloseRoom:
		if len(m.Rooms) == 0 {
			return nil
		}
		return local.In(m.Rooms...).SocketsLeave(ctx, m.Rooms...)
	case pysio.MethodDisconnect:
		return local.To(m.SID).DisconnectSockets(ctx, false)
	case pysio.MethodCallback:
		return nil // an ack for a Python server's host_id
	}
	b.log.Debug("pybridge: unknown method ignored", "method", m.Method)
	return nil
}
