package natsadapter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/siogate/siogate/adapter"
)

// WorkQueueOptions configure a WorkQueue. The zero value gives the
// defaults.
type WorkQueueOptions struct {
	// Stream is the JetStream stream holding the events (default
	// "siogate_work"), created with the work-queue retention policy: a
	// message is removed once a worker acknowledges it.
	Stream string
	// Subject is the stream's subject (default "siogate.work").
	Subject string
	// Consumer is the durable pull consumer the workers share (default
	// "siogate_workers"): each message goes to one of them.
	Consumer string
	// Concurrency bounds the messages a worker handles at once (default
	// 32).
	Concurrency int
	// AckWait is how long a message may stay unacknowledged before
	// JetStream delivers it again (default 30s): the messages of a worker
	// that died are handled again after this long.
	AckWait time.Duration
	// MaxMsgs bounds the messages waiting in the stream (default 0: no
	// bound); when full, Push fails (discard new) instead of growing.
	MaxMsgs int64
	// Storage is file (the default) or memory.
	Storage jetstream.StorageType
}

// WorkQueue is a work queue on a JetStream work-queue stream with one
// durable pull consumer: nodes publish events and wait for the stream's
// acknowledgement, workers fetch them, ack each once handled, and nak the
// ones whose handler failed. Delivery is at least once.
type WorkQueue struct {
	js   jetstream.JetStream
	opts WorkQueueOptions
}

var (
	_ adapter.WorkQueue    = (*WorkQueue)(nil)
	_ adapter.WorkConsumer = (*WorkQueue)(nil)
)

// NewWorkQueue creates (or updates) the stream on nc and returns the
// queue.
func NewWorkQueue(ctx context.Context, nc *nats.Conn, opts WorkQueueOptions) (*WorkQueue, error) {
	if opts.Stream == "" {
		opts.Stream = "siogate_work"
	}
	if opts.Subject == "" {
		opts.Subject = "siogate.work"
	}
	if opts.Consumer == "" {
		opts.Consumer = "siogate_workers"
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsadapter: JetStream: %w", err)
	}
	cfg := jetstream.StreamConfig{
		Name: opts.Stream, Subjects: []string{opts.Subject}, Retention: jetstream.WorkQueuePolicy,
		Storage: opts.Storage, Discard: jetstream.DiscardNew,
	}
	if opts.MaxMsgs > 0 {
		cfg.MaxMsgs = opts.MaxMsgs
	}
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return nil, fmt.Errorf("natsadapter: creating work stream %s (is JetStream enabled on the server?): %w", opts.Stream, err)
	}
	return &WorkQueue{js: js, opts: opts}, nil
}

// Push publishes data and waits for the stream to store it.
func (q *WorkQueue) Push(ctx context.Context, data []byte) error {
	if _, err := q.js.Publish(ctx, q.opts.Subject, data, jetstream.WithExpectStream(q.opts.Stream)); err != nil {
		return fmt.Errorf("natsadapter: publishing to work stream %s: %w", q.opts.Stream, err)
	}
	return nil
}

// Delete removes the stream and its consumer (tests, decommissioning).
func (q *WorkQueue) Delete(ctx context.Context) error {
	return q.js.DeleteStream(ctx, q.opts.Stream)
}

// Consume hands messages to handle, Concurrency at a time, until ctx is
// done; it then waits for the handlers running and returns ctx's error.
func (q *WorkQueue) Consume(ctx context.Context, handle func(ctx context.Context, data []byte) error) error {
	cons, err := q.js.CreateOrUpdateConsumer(ctx, q.opts.Stream, jetstream.ConsumerConfig{
		Durable: q.opts.Consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: q.opts.AckWait,
		MaxAckPending: -1, MaxDeliver: -1,
	})
	if err != nil {
		return fmt.Errorf("natsadapter: creating consumer %s on %s: %w", q.opts.Consumer, q.opts.Stream, err)
	}
	// Short pull requests: the server may keep handing messages to the
	// pull requests of a worker that died until they expire (then
	// redelivered after AckWait), so they expire after 5s, not 30s.
	it, err := cons.Messages(jetstream.PullMaxMessages(q.opts.Concurrency), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return fmt.Errorf("natsadapter: consuming %s: %w", q.opts.Stream, err)
	}
	defer it.Stop()
	slots := make(chan struct{}, q.opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return fmt.Errorf("natsadapter: consuming %s: %w", q.opts.Stream, err)
			}
			// Heartbeats missed, reconnecting: the iterator retries.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := handle(ctx, msg.Data()); err != nil {
				_ = msg.Nak()
				return
			}
			_ = msg.Ack()
		}()
	}
}
