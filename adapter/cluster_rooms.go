package adapter

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/siogate/siogate/adapter/wire"
)

// roomChannels keeps a cluster adapter of the sharded layout subscribed
// to the channels of its rooms ("prefix#nsp#room#"), as Node's sharded
// adapter does in its "dynamic" modes: a room's channel is subscribed
// when its first local socket joins and unsubscribed when its last one
// leaves. Memory notes the rooms that change (touch, under its lock); one
// goroutine brings the subscriptions in line, in order.
//
// A join that creates a room's first local membership also subscribes at
// once and waits for the broker's confirmation (ensure, bounded by
// ensureWait): this node's AddAll, and another node's join request before
// it is applied. So once a socket is seen in a room, broadcasts to the
// room reach its node, which Node's sharded adapter does not promise (it
// subscribes in the background).
type roomChannels struct {
	c    *Cluster
	kick chan struct{}
	opMu sync.Mutex // serializes subscribing and unsubscribing

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

// ensureWait bounds how long a join waits for its room channel: past it
// (the broker is away) the join goes on and the subscription is made in
// the background.
const ensureWait = 2 * time.Second

// ensure subscribes the channels of rooms that a join is about to create
// on this node (or has just created), waiting for the confirmations. The
// rooms are touched afterwards, so that a channel nobody ends up wanting
// is unsubscribed again.
func (r *roomChannels) ensure(rooms []string) {
	for _, room := range rooms {
		r.mu.Lock()
		_, have := r.subs[room]
		r.mu.Unlock()
		if have {
			continue
		}
		_, private := r.c.Memory.roomState(room)
		if !wire.SubscribeRoom(r.c.layout.Mode, room, private) {
			continue
		}
		r.subscribe(room, ensureWait)
		r.touch(room)
	}
}

// subscribe subscribes one room's channel unless it is already.
func (r *roomChannels) subscribe(room string, wait time.Duration) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	r.mu.Lock()
	_, have := r.subs[room]
	r.mu.Unlock()
	if have || r.c.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, wait)
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
}

// reconcile subscribes or unsubscribes one room's channel.
func (r *roomChannels) reconcile(room string) {
	exists, private := r.c.Memory.roomState(room)
	want := exists && wire.SubscribeRoom(r.c.layout.Mode, room, private)
	if want {
		r.subscribe(room, r.c.cfg.RequestTimeout)
		return
	}
	r.opMu.Lock()
	defer r.opMu.Unlock()
	exists, private = r.c.Memory.roomState(room)
	if exists && wire.SubscribeRoom(r.c.layout.Mode, room, private) {
		return // joined again meanwhile
	}
	r.mu.Lock()
	sub, have := r.subs[room]
	delete(r.subs, room)
	r.mu.Unlock()
	if have {
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
