// Package amqpadapter carries siogate's cluster protocol over RabbitMQ
// (AMQP 0-9-1) with amqp091-go: one fanout exchange per channel, one
// exclusive auto-delete queue per node subscription, optional publisher
// confirms. It is the Go counterpart of python-socketio's KombuManager and
// AsyncAioPikaManager. Nodes are counted by heartbeats; the protocol itself
// lives once in package adapter.
//
// RecoveryStore keeps connection state recovery's events in a RabbitMQ
// stream (x-queue-type=stream over AMQP 0-9-1) and its sessions in
// another store: see its file's notes for what RabbitMQ can and cannot
// do there.
//
//	f, closer, err := amqpadapter.New(amqpadapter.Options{URL: "amqp://guest:guest@127.0.0.1:5672/"})
//	srv := gateway.NewServer(gateway.Config{Adapter: f})
package amqpadapter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/siogate/siogate/adapter"
)

// Options configure the AMQP adapter.
type Options struct {
	// URL of the broker: amqp://user:pw@host:port/vhost, or amqps:// for
	// TLS (default "amqp://guest:guest@127.0.0.1:5672/").
	URL string
	// Config, when set, is passed to amqp.DialConfig (TLS, heartbeat,
	// dialer).
	Config *amqp.Config
	// Confirms waits for the broker to confirm each publish.
	Confirms bool
	// Cluster configures the cluster protocol.
	Cluster adapter.ClusterConfig
	// Logger receives outage and recovery logs.
	Logger *slog.Logger
	// MaxReconnectDelay caps the delay between reconnection attempts,
	// which doubles from 100ms (default 5s).
	MaxReconnectDelay time.Duration
}

// ErrBadURL reports an AMQP URL this module cannot use.
var ErrBadURL = errors.New("amqpadapter: bad AMQP URL")

// ErrNotConnected is returned by Publish while the broker is unreachable.
var ErrNotConnected = errors.New("amqpadapter: not connected to the broker (reconnecting)")

// New connects and returns the gateway adapter factory and a Closer.
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

// Broker is the AMQP transport. It implements adapter.Broker and is the
// publish side the emitter module takes. It reconnects by itself and
// restores every subscription after a connection loss.
type Broker struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	conn     *amqp.Connection
	pub      *amqp.Channel
	declared map[string]bool // exchanges declared on this connection
	subs     map[*subscription]struct{}
	closed   bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

var _ adapter.Broker = (*Broker)(nil)

// NewBroker connects to the broker, failing with a clear error when the
// URL is bad or the broker does not answer.
func NewBroker(opts Options) (*Broker, error) {
	if opts.URL == "" {
		opts.URL = "amqp://guest:guest@127.0.0.1:5672/"
	}
	if opts.MaxReconnectDelay <= 0 {
		opts.MaxReconnectDelay = 5 * time.Second
	}
	if _, err := amqp.ParseURI(opts.URL); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	b := &Broker{opts: opts, log: opts.Logger, subs: make(map[*subscription]struct{}), stop: make(chan struct{})}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	conn, err := b.dial()
	if err != nil {
		return nil, fmt.Errorf("amqpadapter: broker at %s does not answer (is it running and reachable?): %w", redact(opts.URL), err)
	}
	b.mu.Lock()
	b.attachLocked(conn)
	b.mu.Unlock()
	return b, nil
}

func (b *Broker) dial() (*amqp.Connection, error) {
	if b.opts.Config != nil {
		return amqp.DialConfig(b.opts.URL, *b.opts.Config)
	}
	return amqp.DialConfig(b.opts.URL, amqp.Config{Heartbeat: 10 * time.Second, Dial: amqp.DefaultDial(5 * time.Second)})
}

// attachLocked adopts a fresh connection and watches it.
func (b *Broker) attachLocked(conn *amqp.Connection) {
	b.conn, b.pub, b.declared = conn, nil, make(map[string]bool)
	lost := conn.NotifyClose(make(chan *amqp.Error, 1))
	b.wg.Add(1)
	go b.supervise(conn, lost)
}

// supervise waits for the connection to drop, then reconnects with
// backoff and resubscribes.
func (b *Broker) supervise(conn *amqp.Connection, lost chan *amqp.Error) {
	defer b.wg.Done()
	var reason *amqp.Error
	select {
	case <-b.stop:
		return
	case reason = <-lost:
	}
	b.log.Error("amqpadapter: broker connection lost; serving local traffic only until it returns", "err", reason)
	b.mu.Lock()
	if b.conn == conn {
		b.conn, b.pub = nil, nil
	}
	b.mu.Unlock()
	delay := 100 * time.Millisecond
	for {
		select {
		case <-b.stop:
			return
		case <-time.After(delay):
		}
		c, err := b.dial()
		if err != nil {
			delay = min(2*delay, b.opts.MaxReconnectDelay)
			continue
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			_ = c.Close()
			return
		}
		b.attachLocked(c)
		subs := make([]*subscription, 0, len(b.subs))
		for s := range b.subs {
			subs = append(subs, s)
		}
		b.mu.Unlock()
		for _, s := range subs {
			if err := s.start(c); err != nil {
				b.log.Error("amqpadapter: resubscribe failed", "err", err)
			}
		}
		b.log.Info("amqpadapter: reconnected to the broker; subscriptions restored")
		return
	}
}

func exchangeName(channel string) string { return adapter.SafeName(channel) }

func declare(ch *amqp.Channel, exchange string) error {
	return ch.ExchangeDeclare(exchange, amqp.ExchangeFanout, false, false, false, false, nil)
}

// Publish sends data to the channel's fanout exchange.
func (b *Broker) Publish(ctx context.Context, channel string, data []byte) error {
	ex := exchangeName(channel)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return adapter.ErrClosed
	}
	if b.conn == nil || b.conn.IsClosed() {
		return ErrNotConnected
	}
	if b.pub == nil || b.pub.IsClosed() {
		ch, err := b.conn.Channel()
		if err != nil {
			return fmt.Errorf("amqpadapter: open channel: %w", err)
		}
		if b.opts.Confirms {
			if err := ch.Confirm(false); err != nil {
				_ = ch.Close()
				return fmt.Errorf("amqpadapter: enable confirms: %w", err)
			}
		}
		b.pub, b.declared = ch, make(map[string]bool)
	}
	if !b.declared[ex] {
		if err := declare(b.pub, ex); err != nil {
			b.pub = nil
			return fmt.Errorf("amqpadapter: declare exchange %s: %w", ex, err)
		}
		b.declared[ex] = true
	}
	msg := amqp.Publishing{Body: data}
	if !b.opts.Confirms {
		if err := b.pub.PublishWithContext(ctx, ex, "", false, false, msg); err != nil {
			b.pub = nil
			return fmt.Errorf("amqpadapter: publish: %w", err)
		}
		return nil
	}
	dc, err := b.pub.PublishWithDeferredConfirmWithContext(ctx, ex, "", false, false, msg)
	if err != nil {
		b.pub = nil
		return fmt.Errorf("amqpadapter: publish: %w", err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("amqpadapter: publish confirmation: %w", err)
	}
	if !ok {
		return errors.New("amqpadapter: the broker refused the message (nack)")
	}
	return nil
}

// subscription is one node's queue bound to its channels' exchanges.
type subscription struct {
	b    *Broker
	sub  adapter.Subscription
	mu   sync.Mutex
	ch   *amqp.Channel
	done bool
}

// Subscribe binds an exclusive auto-delete queue to each channel's
// exchange and delivers its messages from one goroutine. Prefixes are
// ignored (fanout exchanges have no patterns).
func (b *Broker) Subscribe(_ context.Context, sub adapter.Subscription) (io.Closer, error) {
	s := &subscription{b: b, sub: sub}
	b.mu.Lock()
	conn := b.conn
	if b.closed {
		b.mu.Unlock()
		return nil, adapter.ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	if conn == nil {
		return s, nil // started by the supervisor once connected
	}
	if err := s.start(conn); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *subscription) start(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("amqpadapter: open channel: %w", err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		_ = ch.Close()
		return fmt.Errorf("amqpadapter: declare queue: %w", err)
	}
	names := make(map[string]string, len(s.sub.Channels))
	for _, c := range s.sub.Channels {
		ex := exchangeName(c)
		names[ex] = c
		if err := declare(ch, ex); err != nil {
			_ = ch.Close()
			return fmt.Errorf("amqpadapter: declare exchange %s: %w", ex, err)
		}
		if err := ch.QueueBind(q.Name, "", ex, false, nil); err != nil {
			_ = ch.Close()
			return fmt.Errorf("amqpadapter: bind %s: %w", ex, err)
		}
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return fmt.Errorf("amqpadapter: consume: %w", err)
	}
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		_ = ch.Close()
		return nil
	}
	s.ch = ch
	s.mu.Unlock()
	s.b.wg.Add(1)
	go func() {
		defer s.b.wg.Done()
		for d := range deliveries {
			s.sub.Deliver(names[d.Exchange], d.Body)
		}
	}()
	return nil
}

// Close ends the subscription; its queue is deleted by the broker.
func (s *subscription) Close() error {
	s.mu.Lock()
	s.done = true
	ch := s.ch
	s.ch = nil
	s.mu.Unlock()
	s.b.mu.Lock()
	delete(s.b.subs, s)
	s.b.mu.Unlock()
	if ch != nil {
		return ch.Close()
	}
	return nil
}

// Close closes every subscription and the connection.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	conn := b.conn
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	close(b.stop)
	for _, s := range subs {
		_ = s.Close()
	}
	var err error
	if conn != nil {
		err = conn.Close()
	}
	b.wg.Wait()
	return err
}

// CloseConnection drops the current connection as a network failure would,
// leaving the broker to reconnect. It exists for tests of recovery.
func (b *Broker) CloseConnection() error {
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	return conn.Close()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}
