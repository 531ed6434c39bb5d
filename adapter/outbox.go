package adapter

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ErrQueueFull is returned when a message for the other nodes does not fit
// in the node's outbound queue (the broker is slow or away); the message is
// dropped and counted in ClusterStats.Dropped.
var ErrQueueFull = errors.New("adapter: outbound queue to the broker is full; message dropped")

// outbox is a node's bounded queue of messages to the broker, drained in
// order by one goroutine, so that publishing never blocks the caller.
// When a publish fails, the message stays at the head of the queue and the
// sender waits for the broker (and the other nodes) to come back before
// it goes on: an outage of a few seconds delays messages instead of losing
// them. Messages queued past the limits are dropped, counted, and logged
// once per outage (once until the queue next empties).
type outbox struct {
	broker   Broker
	log      *slog.Logger
	maxCount int
	maxBytes int
	timeout  time.Duration // bounds one publish
	// await is called after a failed publish; it returns once the broker
	// answers again (false when ctx ends first).
	await func(ctx context.Context) bool
	meter *clusterMeter // nil: nothing counted

	mu      sync.Mutex
	q       []outMsg
	bytes   int
	dropped uint64
	warned  bool          // overflow logged since the queue was last empty
	idle    chan struct{} // closed while the queue is empty
	wake    chan struct{}
	closed  bool
}

type outMsg struct {
	channel string
	data    []byte
	expires time.Time // zero: sent however late
}

func newOutbox(b Broker, log *slog.Logger, maxCount, maxBytes int, timeout time.Duration, await func(context.Context) bool) *outbox {
	idle := make(chan struct{})
	close(idle)
	return &outbox{
		broker: b, log: log, maxCount: maxCount, maxBytes: maxBytes, timeout: timeout, await: await,
		idle: idle, wake: make(chan struct{}, 1),
	}
}

// push queues a message. A message with a non-zero expires is skipped if
// it is still queued then (an answer nobody waits for any more).
func (o *outbox) push(channel string, data []byte, expires time.Time) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if len(o.q) >= o.maxCount || o.bytes+len(data) > o.maxBytes {
		o.dropped++
		if o.meter != nil {
			o.meter.obs.OutboxDropped()
		}
		warn := !o.warned
		o.warned = true
		queued, bytes, dropped := len(o.q), o.bytes, o.dropped
		o.mu.Unlock()
		if warn {
			o.log.Warn("adapter: outbound queue to the broker is full; dropping messages for the other nodes until it drains",
				"queued", queued, "bytes", bytes, "dropped_total", dropped)
		}
		return ErrQueueFull
	}
	if len(o.q) == 0 {
		o.idle = make(chan struct{})
	}
	o.q = append(o.q, outMsg{channel, data, expires})
	o.bytes += len(data)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// head returns the oldest message, waiting for one until ctx ends.
func (o *outbox) head(ctx context.Context) (outMsg, bool) {
	for {
		o.mu.Lock()
		if len(o.q) > 0 {
			m := o.q[0]
			o.mu.Unlock()
			return m, true
		}
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return outMsg{}, false
		case <-o.wake:
		}
	}
}

// pop removes the head, which run has sent or skipped.
func (o *outbox) pop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bytes -= len(o.q[0].data)
	o.q[0] = outMsg{}
	o.q = o.q[1:]
	if len(o.q) == 0 {
		o.q = nil // let the backing array go
		o.warned = false
		close(o.idle)
	}
}

// run sends the queue in order until ctx ends.
func (o *outbox) run(ctx context.Context) {
	for {
		m, ok := o.head(ctx)
		if !ok {
			return
		}
		for {
			if !m.expires.IsZero() && time.Now().After(m.expires) {
				break
			}
			pctx, cancel := context.WithTimeout(ctx, o.timeout)
			err := o.broker.Publish(pctx, m.channel, m.data)
			cancel()
			if err == nil {
				if o.meter != nil {
					o.meter.obs.Published()
				}
				break
			}
			if ctx.Err() != nil {
				return
			}
			if o.meter != nil {
				o.meter.obs.PublishFailed()
				o.meter.brokerUp(false)
			}
			o.mu.Lock()
			held := len(o.q)
			o.mu.Unlock()
			o.log.Warn("adapter: broker unreachable; holding messages for the other nodes until it answers", "channel", m.channel, "held", held, "err", err)
			if !o.await(ctx) {
				return
			}
			o.meter.brokerUp(true)
			o.mu.Lock()
			held, o.warned = len(o.q), false
			o.mu.Unlock()
			o.log.Info("adapter: broker answers again; sending the held messages", "held", held)
		}
		o.pop()
	}
}

// waitIdle waits until every queued message is sent or ctx ends.
func (o *outbox) waitIdle(ctx context.Context) bool {
	o.mu.Lock()
	idle := o.idle
	o.mu.Unlock()
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// close refuses new messages and returns how many were still queued.
func (o *outbox) close() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	return len(o.q)
}

func (o *outbox) stats() (queued, bytes int, dropped uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q), o.bytes, o.dropped
}
