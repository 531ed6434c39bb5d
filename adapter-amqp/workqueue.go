package amqpadapter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/siogate/siogate/adapter"
)

// WorkQueueOptions configure a WorkQueue. The zero value gives the
// defaults.
type WorkQueueOptions struct {
	// URL of the broker (default "amqp://guest:guest@127.0.0.1:5672/").
	URL string
	// Config, when set, is passed to amqp.DialConfig.
	Config *amqp.Config
	// Queue is the durable queue holding the events (default
	// "siogate.work"), declared by nodes and workers alike.
	Queue string
	// Prefetch bounds the unacknowledged messages RabbitMQ gives a worker,
	// and so the events it handles at once (default 32).
	Prefetch int
}

// WorkQueue is a RabbitMQ work queue: nodes publish persistent messages
// to a durable queue and wait for the publisher confirm; workers consume
// with manual acks and a prefetch window, ack each message once handled
// and reject (requeue) the ones whose handler failed. RabbitMQ requeues
// the unacknowledged messages of a worker whose connection drops, at
// once. Delivery is at least once.
type WorkQueue struct {
	opts WorkQueueOptions

	mu   sync.Mutex
	conn *amqp.Connection
	pub  *amqp.Channel // in confirm mode
}

var (
	_ adapter.WorkQueue    = (*WorkQueue)(nil)
	_ adapter.WorkConsumer = (*WorkQueue)(nil)
)

// NewWorkQueue returns the queue; it connects on first use.
func NewWorkQueue(opts WorkQueueOptions) *WorkQueue {
	if opts.URL == "" {
		opts.URL = "amqp://guest:guest@127.0.0.1:5672/"
	}
	if opts.Queue == "" {
		opts.Queue = "siogate.work"
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 32
	}
	return &WorkQueue{opts: opts}
}

func (q *WorkQueue) dial() (*amqp.Connection, error) {
	if q.opts.Config != nil {
		return amqp.DialConfig(q.opts.URL, *q.opts.Config)
	}
	return amqp.Dial(q.opts.URL)
}

func (q *WorkQueue) declare(ch *amqp.Channel) error {
	_, err := ch.QueueDeclare(q.opts.Queue, true, false, false, false, nil)
	return err
}

// channelLocked returns the confirm-mode publishing channel, connecting
// again when the connection was lost.
func (q *WorkQueue) channelLocked() (*amqp.Channel, error) {
	if q.pub != nil && !q.pub.IsClosed() {
		return q.pub, nil
	}
	if q.conn == nil || q.conn.IsClosed() {
		conn, err := q.dial()
		if err != nil {
			return nil, fmt.Errorf("amqpadapter: connecting to %s: %w", redact(q.opts.URL), err)
		}
		q.conn = conn
	}
	ch, err := q.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("amqpadapter: open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("amqpadapter: enable confirms: %w", err)
	}
	if err := q.declare(ch); err != nil {
		return nil, fmt.Errorf("amqpadapter: declare queue %s: %w", q.opts.Queue, err)
	}
	q.pub = ch
	return ch, nil
}

// Push publishes a persistent message to the queue and waits for the
// broker's confirm.
func (q *WorkQueue) Push(ctx context.Context, data []byte) error {
	q.mu.Lock()
	ch, err := q.channelLocked()
	if err != nil {
		q.mu.Unlock()
		return err
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q.opts.Queue, false, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, Body: data})
	if err != nil {
		q.pub = nil
	}
	q.mu.Unlock()
	if err != nil {
		return fmt.Errorf("amqpadapter: publish to queue %s: %w", q.opts.Queue, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("amqpadapter: confirm from queue %s: %w", q.opts.Queue, err)
	}
	if !ok {
		return fmt.Errorf("amqpadapter: queue %s refused the message (nack)", q.opts.Queue)
	}
	return nil
}

// Delete removes the queue (tests, decommissioning).
func (q *WorkQueue) Delete(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	ch, err := q.channelLocked()
	if err != nil {
		return err
	}
	_, err = ch.QueueDelete(q.opts.Queue, false, false, false)
	return err
}

// Close closes the publishing connection.
func (q *WorkQueue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.conn != nil {
		return q.conn.Close()
	}
	return nil
}

// Consume hands messages to handle, at most Prefetch at a time, until ctx
// is done, connecting again (backing off to 2s) when the connection
// drops; it then waits for the handlers running and returns ctx's error.
func (q *WorkQueue) Consume(ctx context.Context, handle func(ctx context.Context, data []byte) error) error {
	backoff := 100 * time.Millisecond
	for {
		err := q.consumeOnce(ctx, handle)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// consumeOnce consumes over one connection until it drops or ctx is done.
func (q *WorkQueue) consumeOnce(ctx context.Context, handle func(ctx context.Context, data []byte) error) error {
	conn, err := q.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := q.declare(ch); err != nil {
		return err
	}
	if err := ch.Qos(q.opts.Prefetch, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, q.opts.Queue, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("amqpadapter: the consumer's channel closed")
			}
			// The prefetch window bounds these goroutines.
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := handle(ctx, d.Body); err != nil {
					_ = d.Reject(true)
					return
				}
				_ = d.Ack(false)
			}()
		}
	}
}
