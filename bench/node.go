package bench

import (
	"context"
	"log/slog"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
)

// NodeConfig configures the siogate server under test.
type NodeConfig struct {
	// Adapter creates the namespace adapter (default: in memory).
	Adapter adapter.Factory
	// PingInterval is the Engine.IO ping interval (default 25s).
	PingInterval time.Duration
	// Logger receives the server's logs (nil discards them).
	Logger *slog.Logger
	// Recovery configures connection state recovery (off by default).
	Recovery gateway.RecoveryConfig
}

// NewNode returns a siogate server answering the benchmark's event
// contract (see the package documentation).
func NewNode(cfg NodeConfig) *gateway.Server {
	srv := gateway.NewServer(gateway.Config{
		Engine: engineio.Config{
			PingInterval: cfg.PingInterval,
			Logger:       cfg.Logger,
		},
		Adapter:  cfg.Adapter,
		Logger:   cfg.Logger,
		Recovery: cfg.Recovery,
		// The load generator sends as fast as it is answered: no event
		// rate limit on the node under test.
		Limits: gateway.Limits{EventsPerSecond: -1},
	})
	ns := srv.Of("/")
	echo := func(_ *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() }
	ns.On("echo", echo)
	ns.On("binary", echo)
	ns.On("broadcast", func(_ *gateway.Socket, e *gateway.Event) []any {
		_ = ns.Emit(context.Background(), "tick", e.Args.Items()...)
		return nil
	})
	// join puts the socket into the rooms named by its arguments, on the
	// server (the rooms scenario); the ack says it is done.
	ns.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		rooms := make([]string, 0, e.Args.Len())
		for i := range e.Args.Len() {
			if r := e.Args.String(i); r != "" {
				rooms = append(rooms, r)
			}
		}
		if err := s.Join(rooms...); err != nil {
			return []any{err.Error()}
		}
		return nil
	})
	// to-room emits "tick" with the remaining arguments to the room named
	// by the first, across the cluster (the rooms scenario).
	ns.On("to-room", func(_ *gateway.Socket, e *gateway.Event) []any {
		if room := e.Args.String(0); room != "" {
			_ = ns.To(room).Emit(context.Background(), "tick", e.Args.Slice(1).Items()...)
		}
		return nil
	})
	return srv
}
