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
	closed   bool

	demux adapter.Demux
	names sync.Map   // exchange → channel, for the channels wanted
	subMu sync.Mutex // serializes binding and unbinding
	cons  *consumer  // nil while no channel is wanted or not connected
	stop  chan struct{}
	wg    sync.WaitGroup
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
	b := &Broker{opts: opts, log: opts.Logger, stop: make(chan struct{})}
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
		b.mu.Unlock()
		if err := b.rebind(c); err != nil {
			b.log.Error("amqpadapter: resubscribe failed", "err", err)
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

// consumer is the node's one exclusive auto-delete queue, bound to the
// exchange of every channel some subscription wants, read from one AMQP
// channel by one goroutine. Bindings are made and removed on a second
// AMQP channel, so that a failed declaration (which closes its channel)
// never interrupts the deliveries. Guarded by Broker.subMu.
type consumer struct {
	conn  *amqp.Connection
	ch    *amqp.Channel // consuming
	ctl   *amqp.Channel // declaring and binding; reopened when closed
	queue string
	bound map[string]bool // exchanges bound to queue
}

// subscription is one Subscribe call's registration on the Broker.
type subscription struct {
	b    *Broker
	s    *adapter.DemuxSub
	once sync.Once
}

// Subscribe binds the node's queue to each channel's exchange; every
// subscription of a Broker (one per namespace of a gateway node) shares
// its connection, its one queue and consuming AMQP channel, and one
// delivering goroutine. An exchange stays bound while a subscription
// wants its channel. Prefixes are ignored (fanout exchanges have no
// patterns). While the broker is unreachable the bindings are made once
// it reconnects.
func (b *Broker) Subscribe(_ context.Context, sub adapter.Subscription) (io.Closer, error) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	conn, closed := b.conn, b.closed
	b.mu.Unlock()
	if closed {
		return nil, adapter.ErrClosed
	}
	s, fresh := b.demux.Add(sub)
	for _, c := range fresh {
		b.names.Store(exchangeName(c), c)
	}
	if conn == nil {
		return &subscription{b: b, s: s}, nil // bound by the supervisor once connected
	}
	if err := b.bindLocked(conn, fresh); err != nil {
		b.unbindLocked(b.demux.Remove(s))
		return nil, err
	}
	return &subscription{b: b, s: s}, nil
}

// bindLocked makes sure the consumer runs on conn and binds the exchanges
// of channels. b.subMu is held.
func (b *Broker) bindLocked(conn *amqp.Connection, channels []string) error {
	c := b.cons
	if c == nil || c.conn != conn || c.ch.IsClosed() {
		if c != nil {
			_ = c.ch.Close()
			if c.ctl != nil {
				_ = c.ctl.Close()
			}
		}
		var err error
		if c, err = b.startConsumer(conn); err != nil {
			b.cons = nil
			return err
		}
		b.cons = c
		// A new queue has no binding: bind every wanted channel.
		channels = b.demux.Channels()
	}
	for _, ch := range channels {
		ex := exchangeName(ch)
		if c.bound[ex] {
			continue
		}
		if c.ctl == nil || c.ctl.IsClosed() {
			ctl, err := conn.Channel()
			if err != nil {
				return fmt.Errorf("amqpadapter: open channel: %w", err)
			}
			c.ctl = ctl
		}
		if err := declare(c.ctl, ex); err != nil {
			return fmt.Errorf("amqpadapter: declare exchange %s: %w", ex, err)
		}
		if err := c.ctl.QueueBind(c.queue, "", ex, false, nil); err != nil {
			return fmt.Errorf("amqpadapter: bind %s: %w", ex, err)
		}
		c.bound[ex] = true
	}
	return nil
}

// startConsumer declares the node's queue on conn and starts delivering
// its messages.
func (b *Broker) startConsumer(conn *amqp.Connection) (*consumer, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("amqpadapter: open channel: %w", err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("amqpadapter: declare queue: %w", err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("amqpadapter: consume: %w", err)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for d := range deliveries {
			if c, ok := b.names.Load(d.Exchange); ok {
				b.demux.Deliver(c.(string), d.Body)
			}
		}
	}()
	return &consumer{conn: conn, ch: ch, queue: q.Name, bound: make(map[string]bool)}, nil
}

// unbindLocked removes the bindings of channels nobody wants any more,
// and the consumer with its queue once no channel is wanted. b.subMu is
// held.
func (b *Broker) unbindLocked(channels []string) {
	for _, ch := range channels {
		b.names.Delete(exchangeName(ch))
	}
	c := b.cons
	if c == nil {
		return
	}
	if b.demux.Len() == 0 {
		b.cons = nil
		if c.ctl != nil {
			_ = c.ctl.Close()
		}
		_ = c.ch.Close() // the queue is exclusive and auto-delete: gone
		return
	}
	for _, ch := range channels {
		ex := exchangeName(ch)
		if !c.bound[ex] {
			continue
		}
		delete(c.bound, ex)
		if c.ctl == nil || c.ctl.IsClosed() {
			ctl, err := c.conn.Channel()
			if err != nil {
				return // the connection is lost; the next one starts afresh
			}
			c.ctl = ctl
		}
		if err := c.ctl.QueueUnbind(c.queue, "", ex, nil); err != nil {
			b.log.Debug("amqpadapter: unbind failed", "exchange", ex, "err", err)
		}
	}
}

// rebind restores the consumer and every binding on a new connection.
func (b *Broker) rebind(conn *amqp.Connection) error {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	if b.demux.Len() == 0 {
		return nil
	}
	return b.bindLocked(conn, b.demux.Channels())
}

// Close ends the subscription: it receives nothing once Close returns;
// exchanges no other subscription wants are unbound.
func (s *subscription) Close() error {
	s.once.Do(func() {
		s.b.subMu.Lock()
		defer s.b.subMu.Unlock()
		s.b.unbindLocked(s.b.demux.Remove(s.s))
	})
	return nil
}

// Bindings returns the number of exchanges the node's queue is bound to
// (one per distinct channel its subscriptions want).
func (b *Broker) Bindings() int {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	if b.cons == nil {
		return 0
	}
	return len(b.cons.bound)
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
	b.mu.Unlock()
	close(b.stop)
	b.subMu.Lock()
	if c := b.cons; c != nil {
		b.cons = nil
		if c.ctl != nil {
			_ = c.ctl.Close()
		}
		_ = c.ch.Close()
	}
	b.subMu.Unlock()
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
