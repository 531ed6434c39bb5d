// Package natsadapter carries siogate's cluster protocol over core NATS
// subjects with nats.go. Nodes are counted by heartbeats (NATS cannot count
// subscribers); the protocol itself lives once in package adapter.
//
//	f, closer, err := natsadapter.New(natsadapter.Options{URL: "nats://127.0.0.1:4222"})
//	srv := gateway.NewServer(gateway.Config{Adapter: f})
package natsadapter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/siogate/siogate/adapter"
)

// Options configure the NATS adapter.
type Options struct {
	// URL of the NATS servers: nats://[user:pw@]host:port, several
	// separated by commas; tls:// for TLS. Ignored when Conn is set.
	URL string
	// Conn, when set, is used as it is (every nats.go option passes
	// through).
	Conn *nats.Conn
	// Cluster configures the cluster protocol (prefix, timeouts,
	// heartbeats).
	Cluster adapter.ClusterConfig
	// Logger receives disconnection and reconnection logs.
	Logger *slog.Logger
}

// Broker is the NATS transport. It implements adapter.Broker and is the
// publish side the emitter module takes.
type Broker struct {
	nc   *nats.Conn
	own  bool
	once sync.Once

	demux adapter.Demux
	names sync.Map // subject → channel, for the subjects subscribed

	subMu    sync.Mutex // serializes subscribing and unsubscribing
	subjects map[string]*nats.Subscription
	msgs     chan *nats.Msg // nil until the first Subscribe
	stop     chan struct{}
	done     chan struct{} // closed when read returns
	closed   bool
}

var (
	_ adapter.Broker  = (*Broker)(nil)
	_ adapter.Epocher = (*Broker)(nil)
)

// ErrBadURL reports a NATS URL this module cannot use.
var ErrBadURL = errors.New("natsadapter: bad NATS URL")

// New connects to NATS and returns the gateway adapter factory and a
// Closer for the connection.
func New(opts Options) (adapter.Factory, io.Closer, error) {
	b, err := NewBroker(opts)
	if err != nil {
		return nil, nil, err
	}
	cfg := opts.Cluster
	if cfg.Logger == nil {
		cfg.Logger = opts.Logger
	}
	return adapter.NewCluster(b, cfg), b, nil
}

// NewBroker connects to NATS. It reconnects forever after an outage;
// subscriptions come back by themselves.
func NewBroker(opts Options) (*Broker, error) {
	if opts.Conn != nil {
		return &Broker{nc: opts.Conn}, nil
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkURL(opts.URL); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(opts.URL,
		nats.Name("siogate"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectBufSize(8<<20),
		nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if c.IsClosed() {
				return // closed on purpose, not lost
			}
			log.Error("natsadapter: NATS connection lost; serving local traffic only until it returns", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("natsadapter: reconnected to NATS", "server", c.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsadapter: NATS at %s does not answer (is it running and reachable?): %w", redact(opts.URL), err)
	}
	return &Broker{nc: nc, own: true}, nil
}

func checkURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("%w: empty (want nats://host:4222)", ErrBadURL)
	}
	for _, part := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadURL, err)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%w: scheme %q (want nats, tls, ws or wss)", ErrBadURL, u.Scheme)
		}
		if u.Host == "" {
			return fmt.Errorf("%w: no host in %q", ErrBadURL, part)
		}
	}
	return nil
}

func redact(raw string) string {
	var out []string
	for _, part := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.User == nil {
			out = append(out, part)
			continue
		}
		u.User = url.User(u.User.Username())
		out = append(out, u.String())
	}
	return strings.Join(out, ",")
}

// Conn returns the NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// ErrNotConnected is returned by Publish while NATS is unreachable.
var ErrNotConnected = errors.New("natsadapter: not connected to NATS (reconnecting)")

// Publish sends data on the channel's subject. While the connection is
// down it fails (rather than filling nats.go's reconnect buffer), so that
// the cluster adapter holds the message until the other nodes are back.
func (b *Broker) Publish(_ context.Context, channel string, data []byte) error {
	if !b.nc.IsConnected() {
		return ErrNotConnected
	}
	return b.nc.Publish(adapter.SafeName(channel), data)
}

// Flush returns once the server has every message published before it
// (a PING/PONG round trip): Publish only buffers, and nats.go writes the
// buffer from its own goroutine later. A worker calls it before
// acknowledging an event, so that the event is never removed from the
// queue while its reply may still die with the process. Without a
// deadline on ctx it waits at most 10s.
func (b *Broker) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("natsadapter: flushing to NATS (is the server reachable?): %w", err)
	}
	return nil
}

// Epoch counts the connection's reconnections: after each, the server
// (a restarted one, or another of the cluster) knew none of the node's
// subscriptions until nats.go sent them again, and the other nodes' may
// still be missing. It takes no round trip.
func (b *Broker) Epoch(context.Context) (uint64, error) {
	return b.nc.Stats().Reconnects, nil
}

// Subscribe subscribes to the channels' subjects. Every subscription of
// a Broker (one per namespace of a gateway node) shares the Broker's one
// connection, one message queue and one delivering goroutine; a subject
// is subscribed once however many subscriptions want it, and
// unsubscribed when the last of them closes. Messages are delivered in
// arrival order. Prefixes are not supported by NATS subjects and are
// ignored.
func (b *Broker) Subscribe(_ context.Context, sub adapter.Subscription) (io.Closer, error) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	if b.closed {
		return nil, adapter.ErrClosed
	}
	if b.msgs == nil {
		b.msgs = make(chan *nats.Msg, msgQueue)
		b.stop = make(chan struct{})
		b.done = make(chan struct{})
		b.subjects = make(map[string]*nats.Subscription)
		go b.read(b.msgs, b.stop, b.done)
	}
	s, fresh := b.demux.Add(sub)
	for _, ch := range fresh {
		subject := adapter.SafeName(ch)
		b.names.Store(subject, ch)
		ns, err := b.nc.ChanSubscribe(subject, b.msgs)
		if err != nil {
			b.unsubscribeLocked(b.demux.Remove(s))
			return nil, fmt.Errorf("natsadapter: subscribe %s: %w", subject, err)
		}
		b.subjects[subject] = ns
	}
	// The server has the subscriptions once a round trip completes.
	if err := b.nc.Flush(); err != nil {
		b.unsubscribeLocked(b.demux.Remove(s))
		return nil, fmt.Errorf("natsadapter: subscribe: %w", err)
	}
	var once sync.Once
	return closer(func() error {
		once.Do(func() {
			b.subMu.Lock()
			defer b.subMu.Unlock()
			b.unsubscribeLocked(b.demux.Remove(s))
		})
		return nil
	}), nil
}

// msgQueue bounds the messages received and not yet delivered, for all
// the subscriptions of a Broker; past it nats.go drops messages and
// reports a slow consumer.
const msgQueue = 8192

// unsubscribeLocked ends the NATS subscriptions of channels nobody wants
// any more. b.subMu is held.
func (b *Broker) unsubscribeLocked(channels []string) {
	for _, ch := range channels {
		subject := adapter.SafeName(ch)
		if ns := b.subjects[subject]; ns != nil {
			_ = ns.Unsubscribe()
			delete(b.subjects, subject)
		}
		b.names.Delete(subject)
	}
}

// read delivers every received message to the subscriptions that want
// its channel.
func (b *Broker) read(msgs chan *nats.Msg, stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case m := <-msgs:
			ch, ok := b.names.Load(m.Subject)
			if !ok {
				continue // unsubscribed since
			}
			b.demux.Deliver(ch.(string), m.Data)
		}
	}
}

// Subscriptions returns the number of NATS subscriptions the Broker holds
// for its subscribers (one per distinct channel).
func (b *Broker) Subscriptions() int {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	return len(b.subjects)
}

type closer func() error

func (f closer) Close() error { return f() }

// Close stops delivering, and drains and closes the connection if the
// broker opened it (otherwise it only unsubscribes).
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.subMu.Lock()
		b.closed = true
		for subject, ns := range b.subjects {
			_ = ns.Unsubscribe()
			delete(b.subjects, subject)
		}
		stop, done := b.stop, b.done
		b.subMu.Unlock()
		if b.own {
			_ = b.nc.Drain()
			b.nc.Close()
		}
		if stop != nil {
			close(stop)
			<-done
		}
	})
	return nil
}
