package kafkaadapter

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/siogate/siogate/adapter"
)

// WorkQueueOptions configure a WorkQueue. The zero value gives the
// defaults, except for the topic, which the operator creates beforehand
// with as many partitions as workers should share the load (a group gives
// each partition to one worker).
type WorkQueueOptions struct {
	// URL lists the bootstrap brokers, as Options.URL.
	URL string
	// Dialer, when set, is used for every connection.
	Dialer *kafka.Dialer
	// Topic holds the events (default "siogate.work").
	Topic string
	// Group is the consumer group the workers share (default
	// "siogate-workers").
	Group string
	// Concurrency bounds the messages a worker handles at once (default
	// 32). Offsets are committed in order per partition: only up to the
	// oldest message still being handled.
	Concurrency int
	// SessionTimeout is how long the group waits for a silent worker
	// before giving its partitions to the others (default 30s): the events
	// a dead worker had not committed are handled again after this long.
	SessionTimeout time.Duration
	// CommitInterval is how often handled offsets are committed (default
	// 100ms); a worker that dies loses at most this much of its commits,
	// whose events are handled again.
	CommitInterval time.Duration
	// FetchWait is how long a fetch waits for new messages (default
	// 500ms).
	FetchWait time.Duration
}

func (o WorkQueueOptions) withDefaults() WorkQueueOptions {
	if o.Topic == "" {
		o.Topic = "siogate.work"
	}
	if o.Group == "" {
		o.Group = "siogate-workers"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 30 * time.Second
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = 100 * time.Millisecond
	}
	if o.FetchWait <= 0 {
		o.FetchWait = 500 * time.Millisecond
	}
	return o
}

// WorkQueue is a work queue on a Kafka topic read by one consumer group:
// nodes produce each event and wait for every in-sync replica's
// acknowledgement; workers handle messages concurrently and commit each
// partition's offset up to the oldest message not yet handled. Delivery
// is at least once; a failed handler is retried in place (Kafka cannot
// give one message back), every 100ms to 2s until it succeeds.
type WorkQueue struct {
	opts    WorkQueueOptions
	brokers []string
	writer  *kafka.Writer
}

var (
	_ adapter.WorkQueue    = (*WorkQueue)(nil)
	_ adapter.WorkConsumer = (*WorkQueue)(nil)
)

// NewWorkQueue returns the queue on opts.URL's brokers.
func NewWorkQueue(opts WorkQueueOptions) (*WorkQueue, error) {
	opts = opts.withDefaults()
	brokers, err := ParseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	tr := &kafka.Transport{MetadataTTL: 10 * time.Second}
	if d := opts.Dialer; d != nil {
		tr.ClientID, tr.TLS, tr.SASL, tr.DialTimeout = d.ClientID, d.TLS, d.SASLMechanism, d.Timeout
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: opts.Topic, Balancer: &kafka.RoundRobin{},
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, MaxAttempts: 3,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, Transport: tr,
	}
	return &WorkQueue{opts: opts, brokers: brokers, writer: w}, nil
}

// Push produces data and waits for the acknowledgement of every in-sync
// replica.
func (q *WorkQueue) Push(ctx context.Context, data []byte) error {
	if err := q.writer.WriteMessages(ctx, kafka.Message{Value: data}); err != nil {
		return fmt.Errorf("kafkaadapter: producing to work topic %s: %w", q.opts.Topic, err)
	}
	return nil
}

// Close flushes and closes the producer.
func (q *WorkQueue) Close() error { return q.writer.Close() }

// partitionLog orders one partition's messages being handled, so that
// only offsets below every unfinished message are committed.
type partitionLog struct {
	order []kafka.Message
	done  map[int64]bool
}

// Consume hands messages to handle, Concurrency at a time, until ctx is
// done; it then waits for the handlers running, commits, and returns
// ctx's error.
func (q *WorkQueue) Consume(ctx context.Context, handle func(ctx context.Context, data []byte) error) error {
	cfg := kafka.ReaderConfig{
		Brokers: q.brokers, GroupID: q.opts.Group, Topic: q.opts.Topic, Dialer: q.opts.Dialer,
		MaxWait: q.opts.FetchWait, StartOffset: kafka.FirstOffset, CommitInterval: q.opts.CommitInterval,
		SessionTimeout: q.opts.SessionTimeout, HeartbeatInterval: max(q.opts.SessionTimeout/10, 100*time.Millisecond),
		RebalanceTimeout: q.opts.SessionTimeout, QueueCapacity: q.opts.Concurrency,
	}
	r := kafka.NewReader(cfg)
	defer r.Close()
	var (
		mu    sync.Mutex
		parts = map[int]*partitionLog{}
		wg    sync.WaitGroup
	)
	finished := func(m kafka.Message) {
		mu.Lock()
		defer mu.Unlock()
		pl := parts[m.Partition]
		pl.done[m.Offset] = true // a message of an earlier order marks its offset: it is handled
		var last *kafka.Message
		for len(pl.order) > 0 && pl.done[pl.order[0].Offset] {
			delete(pl.done, pl.order[0].Offset)
			last = &pl.order[0]
			pl.order = pl.order[1:]
		}
		if last != nil {
			_ = r.CommitMessages(context.Background(), *last) // queued: committed every CommitInterval
		}
	}
	slots := make(chan struct{}, q.opts.Concurrency)
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		m, err := r.FetchMessage(ctx)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("kafkaadapter: consuming work topic %s: %w", q.opts.Topic, err)
		}
		mu.Lock()
		pl := parts[m.Partition]
		if pl == nil || len(pl.order) > 0 && m.Offset <= pl.order[len(pl.order)-1].Offset {
			// New, or read again from its committed offset after a
			// rebalance: start the partition's order afresh.
			pl = &partitionLog{done: map[int64]bool{}}
			parts[m.Partition] = pl
		}
		pl.order = append(pl.order, m)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			backoff := 100 * time.Millisecond
			for handle(ctx, m.Value) != nil {
				select {
				case <-ctx.Done():
					return // not committed: handled again by the group
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 2*time.Second)
			}
			finished(m)
		}()
	}
}
