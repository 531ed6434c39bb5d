package adapter

import (
	"context"
	"errors"
	"fmt"
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
//
// A publish can also succeed and still reach nobody: the broker restarted
// (or this node reconnected) and the other nodes have not subscribed again
// yet. Brokers that count receivers (PublishCounter) or tell their epoch
// (Epocher) let the sender notice: the message is then held like a failed
// one and sent again once the other nodes are back, and, on brokers that
// cannot count, the messages sent in the moments before are sent again
// too (replay). Every message is numbered (stamp) the first time it is
// sent, so receivers drop the copies they already had.
type outbox struct {
	broker   Broker
	log      *slog.Logger
	maxCount int
	maxBytes int
	timeout  time.Duration // bounds one publish
	// await is called after a failed or doubtful publish; it returns once
	// the broker answers again and, as far as it can tell, target
	// subscribers are back (false when ctx ends first).
	await func(ctx context.Context, channel string, target int) bool
	meter *clusterMeter // nil: nothing counted
	// counter and epochs are the broker's optional abilities (nil: none).
	counter PublishCounter
	epochs  Epocher
	// stamp numbers a message for its channel (nil: nothing numbered).
	stamp func(channel string, data []byte, seq uint64) []byte

	// Owned by the sending goroutine.
	seq        uint64
	want       map[string]int // channel → receivers of its last publish
	epoch      uint64
	epochKnown bool
	recent     []outMsg // sent messages kept for a replay
	recentSize int
	// retried is set when the head was held once: a short count on its
	// next publish is then taken as it is (the nodes missing did not come
	// back within the wait; they left).
	retried bool

	mu      sync.Mutex
	q       []outMsg
	bytes   int
	dropped uint64
	expired uint64        // skipped: their requester had stopped waiting
	warned  bool          // overflow logged since the queue was last empty
	idle    chan struct{} // closed while the queue is empty
	wake    chan struct{}
	closed  bool
}

type outMsg struct {
	channel string
	data    []byte
	expires time.Time // zero: sent however late
	stamped bool
	sent    time.Time // when it was first sent (replay)
}

// After a restart, the messages sent in the last replayAge (at most
// replayCount of them and replayBytes) are sent again; receivers drop the
// ones they had. Only brokers that cannot count receivers replay.
const (
	replayAge   = 2 * time.Second
	replayCount = 1024
	replayBytes = 1 << 20
)

func newOutbox(b Broker, log *slog.Logger, maxCount, maxBytes int, timeout time.Duration, await func(context.Context, string, int) bool) *outbox {
	idle := make(chan struct{})
	close(idle)
	o := &outbox{
		broker: b, log: log, maxCount: maxCount, maxBytes: maxBytes, timeout: timeout, await: await,
		idle: idle, wake: make(chan struct{}, 1), want: make(map[string]int),
	}
	o.counter, _ = b.(PublishCounter)
	o.epochs, _ = b.(Epocher)
	return o
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
	o.q = append(o.q, outMsg{channel: channel, data: data, expires: expires})
	o.bytes += len(data)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// head returns the oldest message, numbered, waiting for one until ctx
// ends.
func (o *outbox) head(ctx context.Context) (outMsg, bool) {
	for {
		o.mu.Lock()
		if len(o.q) > 0 {
			m := &o.q[0]
			if !m.stamped {
				m.stamped = true
				if o.stamp != nil {
					o.seq++
					data := o.stamp(m.channel, m.data, o.seq)
					o.bytes += len(data) - len(m.data)
					m.data = data
				}
			}
			h := *m
			o.mu.Unlock()
			return h, true
		}
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return outMsg{}, false
		case <-o.wake:
		}
	}
}

// pop removes the head, which run has sent (kept for a replay when the
// broker needs it) or skipped.
func (o *outbox) pop(sent bool) {
	o.mu.Lock()
	m := o.q[0]
	o.bytes -= len(m.data)
	o.q[0] = outMsg{}
	o.q = o.q[1:]
	if len(o.q) == 0 {
		o.q = nil // let the backing array go
		o.warned = false
		close(o.idle)
	}
	o.mu.Unlock()
	o.retried = false
	if !sent || o.epochs == nil || o.counter != nil {
		return
	}
	if m.sent.IsZero() {
		m.sent = time.Now()
	}
	o.recent = append(o.recent, m)
	o.recentSize += len(m.data)
	drop := 0
	for drop < len(o.recent) && (len(o.recent)-drop > replayCount || o.recentSize > replayBytes || time.Since(o.recent[drop].sent) > replayAge) {
		o.recentSize -= len(o.recent[drop].data)
		o.recent[drop] = outMsg{}
		drop++
	}
	o.recent = o.recent[drop:]
}

// sendResult says what run does with the head after a send.
type sendResult int

const (
	sent     sendResult = iota // pop it
	again                      // take the head again (it may have changed)
	stopping                   // ctx ended
)

// run sends the queue in order until ctx ends.
func (o *outbox) run(ctx context.Context) {
	if o.epochs != nil && o.counter != nil {
		// A counting broker is asked its epoch only after a short count:
		// it needs one to compare with.
		o.epoch, o.epochKnown = o.readEpoch(ctx)
	}
	for {
		m, ok := o.head(ctx)
		if !ok {
			return
		}
		if !m.expires.IsZero() && time.Now().After(m.expires) {
			o.mu.Lock()
			o.expired++
			o.mu.Unlock()
			o.pop(false)
			continue
		}
		switch o.send(ctx, m) {
		case sent:
			if o.meter != nil {
				o.meter.obs.Published()
			}
			o.pop(true)
		case stopping:
			return
		}
	}
}

// readEpoch asks the broker its epoch; false when it cannot tell. A
// broker that does not count receivers answers without a round trip (it is
// asked around every publish): no timeout to set up.
func (o *outbox) readEpoch(ctx context.Context) (uint64, bool) {
	if o.epochs == nil {
		return 0, false
	}
	if o.counter == nil {
		e, err := o.epochs.Epoch(ctx)
		return e, err == nil
	}
	ectx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	e, err := o.epochs.Epoch(ectx)
	return e, err == nil
}

// send publishes m once and tells whether it can have reached the other
// nodes.
func (o *outbox) send(ctx context.Context, m outMsg) sendResult {
	counting := o.counter != nil
	var before uint64
	if o.epochs != nil && !counting {
		e, ok := o.readEpoch(ctx)
		if ok && o.epochKnown && e != o.epoch {
			return o.recover(ctx, m, "the broker connection was replaced since the last message")
		}
		if ok && !o.epochKnown {
			o.epoch, o.epochKnown = e, true
		}
		before = e
	}
	pctx, cancel := context.WithTimeout(ctx, o.timeout)
	var n int
	var err error
	if counting {
		n, err = o.counter.PublishCount(pctx, m.channel, m.data)
	} else {
		err = o.broker.Publish(pctx, m.channel, m.data)
	}
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return stopping
		}
		if o.meter != nil {
			o.meter.obs.PublishFailed()
		}
		return o.recover(ctx, m, err.Error())
	}
	switch {
	case counting:
		want, known := o.want[m.channel]
		if known && n < want && !o.retried && o.restarted(ctx) {
			// Fewer receivers than the last time, and not because a node
			// left: the broker restarted and not every node subscribed
			// again yet.
			return o.recover(ctx, m, fmt.Sprintf("the broker restarted: the message reached %d subscribers of %d", n, want))
		}
	case o.epochs != nil:
		if e, ok := o.readEpoch(ctx); !ok || e != before {
			return o.recover(ctx, m, "the broker connection was replaced while publishing")
		}
	}
	if counting {
		if len(o.want) > 64 {
			clear(o.want) // specific response channels of many past requesters
		}
		o.want[m.channel] = n
	}
	return sent
}

// restarted tells a counting broker's restart from a node leaving, after
// a publish reached fewer subscribers than the one before: the broker's
// epoch changed (or it does not answer). A broker without epochs never
// restarted.
func (o *outbox) restarted(ctx context.Context) bool {
	if o.epochs == nil {
		return false
	}
	ectx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	e, err := o.epochs.Epoch(ectx)
	switch {
	case errors.Is(err, ErrNoEpoch):
		return false
	case err != nil || !o.epochKnown:
		return true
	}
	return e != o.epoch
}

// recover holds the queue after a failed or doubtful publish of m until
// the broker and the other nodes are back, then notes the broker's epoch
// and, if it changed on a broker that cannot count receivers, queues the
// last messages sent before m again.
func (o *outbox) recover(ctx context.Context, m outMsg, why string) sendResult {
	o.meter.brokerUp(false)
	o.mu.Lock()
	held := len(o.q)
	o.mu.Unlock()
	o.log.Warn("adapter: broker unreachable or restarted; holding messages for the other nodes until they are back", "channel", m.channel, "held", held, "why", why)
	target := o.want[m.channel]
	if target == 0 { // its first publish: as many as on any channel
		target = 1
		for _, n := range o.want {
			target = max(target, n)
		}
	}
	if !o.await(ctx, m.channel, target) {
		return stopping
	}
	o.retried = true
	o.meter.brokerUp(true)
	e, ok := o.readEpoch(ctx)
	replay := 0
	if o.epochs != nil && o.counter == nil && (!ok || !o.epochKnown || e != o.epoch) {
		replay = o.replay()
	}
	o.epoch, o.epochKnown = e, ok
	o.mu.Lock()
	held, o.warned = len(o.q), false
	o.mu.Unlock()
	o.log.Info("adapter: broker answers again; sending the held messages", "held", held, "sent_again", replay)
	return again
}

// replay puts the recently sent messages back at the head of the queue,
// in their order, and returns how many.
func (o *outbox) replay() int {
	n := len(o.recent)
	if n == 0 {
		return 0
	}
	o.mu.Lock()
	if len(o.q) == 0 {
		o.idle = make(chan struct{})
	}
	q := make([]outMsg, 0, n+len(o.q))
	q = append(q, o.recent...)
	o.q = append(q, o.q...)
	o.bytes += o.recentSize
	o.mu.Unlock()
	o.recent, o.recentSize = nil, 0
	return n
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

func (o *outbox) stats() (queued, bytes int, dropped, expired uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q), o.bytes, o.dropped, o.expired
}
