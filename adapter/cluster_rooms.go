package adapter

import (
	"context"
	"io"
	"sync"

	"github.com/siogate/siogate/adapter/wire"
)

// roomChannels keeps a cluster adapter of the sharded layout subscribed
// to the channels of its rooms ("prefix#nsp#room#"), as Node's sharded
// adapter does in its "dynamic" modes: a room's channel is subscribed
// when its first local socket joins and unsubscribed when its last one
// leaves. Memory notes the rooms that change (touch, under its lock); one
// goroutine brings the subscriptions in line, in order, so that a join
// never waits for Redis.
type roomChannels struct {
	c    *Cluster
	kick chan struct{}

	mu    sync.Mutex
	dirty map[string]struct{}
	subs  map[string]io.Closer // only the run goroutine and closeAll touch it
}

func newRoomChannels(c *Cluster) *roomChannels {
	return &roomChannels{c: c, kick: make(chan struct{}, 1), dirty: make(map[string]struct{}), subs: make(map[string]io.Closer)}
}

// touch notes that room was created or deleted. It never blocks.
func (r *roomChannels) touch(room string) {
	r.mu.Lock()
	r.dirty[room] = struct{}{}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run reconciles until the adapter closes.
func (r *roomChannels) run() {
	defer r.c.wg.Done()
	for {
		select {
		case <-r.c.ctx.Done():
			return
		case <-r.kick:
		}
		r.mu.Lock()
		dirty := r.dirty
		r.dirty = make(map[string]struct{})
		r.mu.Unlock()
		for room := range dirty {
			if r.c.ctx.Err() != nil {
				return
			}
			r.reconcile(room)
		}
	}
}

// reconcile subscribes or unsubscribes one room's channel.
func (r *roomChannels) reconcile(room string) {
	exists, private := r.c.Memory.roomState(room)
	want := exists && wire.SubscribeRoom(r.c.layout.Mode, room, private)
	r.mu.Lock()
	sub, have := r.subs[room]
	r.mu.Unlock()
	switch {
	case want && !have:
		ctx, cancel := context.WithTimeout(r.c.ctx, r.c.cfg.RequestTimeout)
		closer, err := r.c.broker.Subscribe(ctx, Subscription{Channels: []string{r.c.ch.Broadcast + room + "#"}, Deliver: r.c.deliver})
		cancel()
		if err != nil {
			if r.c.ctx.Err() == nil {
				r.c.cfg.Logger.Warn("adapter: room channel not subscribed; broadcasts to the room from other nodes are missed until it is", "room", room, "err", err)
				r.touch(room) // try again on the next round
			}
			return
		}
		r.mu.Lock()
		r.subs[room] = closer
		r.mu.Unlock()
	case !want && have:
		r.mu.Lock()
		delete(r.subs, room)
		r.mu.Unlock()
		_ = sub.Close()
	}
}

// closeAll unsubscribes every room channel (the adapter is closing and
// run has returned).
func (r *roomChannels) closeAll() {
	r.mu.Lock()
	subs := r.subs
	r.subs = make(map[string]io.Closer)
	r.mu.Unlock()
	for _, s := range subs {
		_ = s.Close()
	}
}
