package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
)

// WorkQueueOptions configure a WorkQueue. The zero value gives the
// defaults.
type WorkQueueOptions struct {
	// Stream is the Redis stream holding the events (default
	// "siogate:work"); every node and worker of a cluster uses the same.
	Stream string
	// Group is the consumer group the workers share (default
	// "siogate-workers"): each entry goes to one of its consumers.
	Group string
	// Consumer names this worker in the group (default host-pid-random).
	Consumer string
	// Concurrency bounds the entries a worker handles at once (default 32).
	Concurrency int
	// ClaimIdle is how long an entry may stay unacknowledged by a consumer
	// before another takes it over with XAUTOCLAIM (default 30s): the
	// entries of a worker that died are handled again after this long.
	// Handlers slower than this are run twice.
	ClaimIdle time.Duration
	// Block is how long one XREADGROUP waits for entries (default 2s).
	Block time.Duration
}

// WorkQueue is a work queue on a Redis stream with a consumer group:
// nodes XADD events, workers XREADGROUP them, XACK and XDEL each once
// handled, and XAUTOCLAIM the entries a dead worker left pending. Delivery
// is at least once.
type WorkQueue struct {
	client redis.UniversalClient
	opts   WorkQueueOptions
}

var (
	_ adapter.WorkQueue    = (*WorkQueue)(nil)
	_ adapter.WorkConsumer = (*WorkQueue)(nil)
)

// NewWorkQueue returns the work queue on client's stream.
func NewWorkQueue(client redis.UniversalClient, opts WorkQueueOptions) *WorkQueue {
	if opts.Stream == "" {
		opts.Stream = "siogate:work"
	}
	if opts.Group == "" {
		opts.Group = "siogate-workers"
	}
	if opts.Consumer == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = 30 * time.Second
	}
	if opts.Block <= 0 {
		opts.Block = 2 * time.Second
	}
	return &WorkQueue{client: client, opts: opts}
}

// Push appends data to the stream (XADD); the entry is then kept until a
// worker acknowledges it.
func (q *WorkQueue) Push(ctx context.Context, data []byte) error {
	if err := q.client.XAdd(ctx, &redis.XAddArgs{Stream: q.opts.Stream, Values: []any{"d", data}}).Err(); err != nil {
		return fmt.Errorf("redisadapter: XADD to work stream %s: %w", q.opts.Stream, err)
	}
	return nil
}

// Delete removes the stream and its group (tests, decommissioning).
func (q *WorkQueue) Delete(ctx context.Context) error {
	return q.client.Del(ctx, q.opts.Stream).Err()
}

func (q *WorkQueue) createGroup(ctx context.Context) error {
	// From id 0: entries pushed before any worker started are handled
	// (handled ones are deleted, so 0 re-reads nothing twice).
	err := q.client.XGroupCreateMkStream(ctx, q.opts.Stream, q.opts.Group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("redisadapter: creating consumer group %s on %s: %w", q.opts.Group, q.opts.Stream, err)
	}
	return nil
}

// Consume hands entries to handle, Concurrency at a time, until ctx is
// done; it then waits for the handlers running and returns ctx's error.
// Entries whose handle fails stay pending and are taken again (by any
// worker) after ClaimIdle.
func (q *WorkQueue) Consume(ctx context.Context, handle func(ctx context.Context, data []byte) error) error {
	if err := q.createGroup(ctx); err != nil {
		return err
	}
	slots := make(chan struct{}, q.opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	run := func(msgs []redis.XMessage, n int) {
		for i, m := range msgs {
			if i >= n {
				break
			}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				q.handle(ctx, m, handle)
			}()
		}
		for range n - min(n, len(msgs)) {
			<-slots // the slots not used
		}
	}
	claimed := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(claimed)
		q.claimLoop(ctx, slots, run)
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		n := acquire(ctx, slots)
		if n == 0 {
			break
		}
		res, err := q.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: q.opts.Group, Consumer: q.opts.Consumer, Streams: []string{q.opts.Stream, ">"},
			Count: int64(n), Block: q.opts.Block,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			run(nil, n)
			if ctx.Err() != nil {
				break
			}
			if strings.Contains(err.Error(), "NOGROUP") {
				_ = q.createGroup(ctx) // the stream was deleted: start again
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		var msgs []redis.XMessage
		for _, s := range res {
			msgs = append(msgs, s.Messages...)
		}
		run(msgs, n)
	}
	<-claimed
	return ctx.Err()
}

// acquire takes at least one free slot (waiting for it) and as many more
// as are free; 0 when ctx is done.
func acquire(ctx context.Context, slots chan struct{}) int {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < cap(slots) {
		select {
		case slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

// claimLoop takes over, every ClaimIdle/2, the entries other consumers
// (dead workers) left pending longer than ClaimIdle.
func (q *WorkQueue) claimLoop(ctx context.Context, slots chan struct{}, run func([]redis.XMessage, int)) {
	t := time.NewTicker(q.opts.ClaimIdle / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := "0-0"
		for ctx.Err() == nil {
			n := acquire(ctx, slots)
			if n == 0 {
				return
			}
			msgs, next, err := q.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
				Stream: q.opts.Stream, Group: q.opts.Group, Consumer: q.opts.Consumer,
				MinIdle: q.opts.ClaimIdle, Start: start, Count: int64(n),
			}).Result()
			if err != nil {
				run(nil, n)
				break
			}
			run(msgs, n)
			if next == "0-0" || next == "" || len(msgs) == 0 && next == start {
				break
			}
			start = next
		}
	}
}

func (q *WorkQueue) handle(ctx context.Context, m redis.XMessage, handle func(context.Context, []byte) error) {
	v, _ := m.Values["d"].(string)
	if err := handle(ctx, []byte(v)); err != nil {
		return // stays pending; claimed again after ClaimIdle
	}
	// Acknowledged and deleted together, so the stream holds only the
	// entries not yet handled.
	pipe := q.client.TxPipeline()
	pipe.XAck(ctx, q.opts.Stream, q.opts.Group, m.ID)
	pipe.XDel(ctx, q.opts.Stream, m.ID)
	_, _ = pipe.Exec(ctx)
}
