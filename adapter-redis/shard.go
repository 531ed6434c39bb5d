package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// shardHub carries a sharded Broker's subscriptions on SSUBSCRIBE. Redis
// Cluster requires every channel of one SSUBSCRIBE to hash to the same
// slot, and a shard channel lives on the master of its slot, so the hub
// holds one subscribing connection per slot in use (for a standalone
// Redis, one for all). Each slot's connection is kept by a goroutine that,
// when the connection fails (its master died) or Redis takes the channels
// away (SUNSUBSCRIBE sent when a slot moves), reloads the cluster's slot
// map and subscribes again at the slot's current master: resubscription
// after failover and resharding.
//
// The readers hand messages to one dispatching goroutine, in the order
// each connection reads them, and handle SSUBSCRIBE confirmations
// themselves: a subscriber may then subscribe to more channels, and wait
// for Redis to confirm them, from within its delivery (the cluster adapter
// does, before applying a join that needs a room channel).
type shardHub struct {
	b *Broker

	mu       sync.Mutex
	slots    map[int]*slotConn
	subs     map[string][]*hubSub // channel → subscriptions
	closed   bool
	inbox    chan shardDelivery // to the dispatcher; nil until the first subscription
	dispatch chan struct{}      // closed when the dispatcher ends
}

// shardDelivery is one message for the dispatcher.
type shardDelivery struct {
	subs    []*hubSub
	channel string
	payload string
}

// dispatcher delivers the readers' messages until the inbox closes.
func (h *shardHub) dispatcher(inbox chan shardDelivery, done chan struct{}) {
	defer close(done)
	for d := range inbox {
		for _, s := range d.subs {
			s.mu.Lock()
			if !s.closed {
				s.deliver(d.channel, []byte(d.payload))
			}
			s.mu.Unlock()
		}
	}
}

// slotConn is the subscribing connection of one hash slot.
type slotConn struct {
	slot     int
	channels map[string]struct{} // wanted
	// waiting are the subscriptions waiting for Redis to confirm a channel.
	waiting map[string][]chan struct{}
	ps      *redis.PubSub // the current connection, nil between two
	stop    chan struct{}
	done    chan struct{}
}

// slotOf returns the hash slot of channel on a cluster, 0 otherwise.
func (h *shardHub) slotOf(channel string) int {
	if _, ok := h.b.client.(*redis.ClusterClient); ok {
		return keySlot(channel)
	}
	return 0
}

// add registers s and waits until Redis confirms its channels (or ctx
// ends). An unreachable Redis is logged, not fatal: the slot's goroutine
// subscribes once a master answers.
func (h *shardHub) add(ctx context.Context, s *hubSub) (io.Closer, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fmt.Errorf("redisadapter: subscribe: broker closed")
	}
	if h.slots == nil {
		h.slots = make(map[int]*slotConn)
		h.subs = make(map[string][]*hubSub)
		h.inbox, h.dispatch = make(chan shardDelivery, 4096), make(chan struct{})
		go h.dispatcher(h.inbox, h.dispatch)
	}
	type pending struct {
		ps *redis.PubSub
		ch string
	}
	var now []pending
	var waits []chan struct{}
	for _, c := range s.exact {
		first := len(h.subs[c]) == 0
		h.subs[c] = append(h.subs[c], s)
		if !first {
			continue
		}
		slot := h.slotOf(c)
		sc := h.slots[slot]
		if sc == nil {
			sc = &slotConn{slot: slot, channels: map[string]struct{}{}, waiting: map[string][]chan struct{}{},
				stop: make(chan struct{}), done: make(chan struct{})}
			h.slots[slot] = sc
			sc.channels[c] = struct{}{}
			go h.keep(sc)
		} else {
			sc.channels[c] = struct{}{}
			if sc.ps != nil {
				now = append(now, pending{sc.ps, c})
			}
		}
		w := make(chan struct{})
		sc.waiting[c] = append(sc.waiting[c], w)
		waits = append(waits, w)
	}
	h.mu.Unlock()
	closer := closerFunc(func() error { return h.remove(s) })
	for _, p := range now {
		// A failure here is the connection's: its goroutine subscribes
		// every wanted channel on the next one.
		_ = p.ps.SSubscribe(ctx, p.ch)
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				_ = h.remove(s)
				return nil, fmt.Errorf("redisadapter: subscribe: %w", ctx.Err())
			}
			h.b.log.Warn("redisadapter: no SSUBSCRIBE confirmation yet; subscribing when Redis answers", "err", ctx.Err())
			return closer, nil
		}
	}
	return closer, nil
}

// remove unregisters s; channels nobody wants any more are unsubscribed,
// and a slot with no channel left closes its connection.
func (h *shardHub) remove(s *hubSub) error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	type gone struct {
		ps *redis.PubSub
		ch string
	}
	var unsub []gone
	var ends []*slotConn
	h.mu.Lock()
	for _, c := range s.exact {
		list := h.subs[c]
		for i, x := range list {
			if x == s {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) > 0 {
			h.subs[c] = list
			continue
		}
		delete(h.subs, c)
		sc := h.slots[h.slotOf(c)]
		if sc == nil {
			continue
		}
		delete(sc.channels, c)
		if len(sc.channels) == 0 {
			delete(h.slots, sc.slot)
			ends = append(ends, sc)
		} else if sc.ps != nil {
			unsub = append(unsub, gone{sc.ps, c})
		}
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	for _, g := range unsub {
		_ = g.ps.SUnsubscribe(ctx, g.ch)
	}
	for _, sc := range ends {
		close(sc.stop)
		<-sc.done
	}
	return nil
}

// keep holds one slot's subscribing connection until the slot has no
// channel left or the hub closes.
func (h *shardHub) keep(sc *slotConn) {
	defer close(sc.done)
	delay := 50 * time.Millisecond
	for {
		h.mu.Lock()
		channels := make([]string, 0, len(sc.channels))
		for c := range sc.channels {
			channels = append(channels, c)
		}
		var ps *redis.PubSub
		if len(channels) > 0 && !h.closed {
			// No channel yet: no I/O under the lock. The first SSUBSCRIBE
			// dials the master of the channels' slot.
			ps = h.b.client.SSubscribe(context.Background())
			sc.ps = ps
		}
		h.mu.Unlock()
		if ps == nil {
			return
		}
		stopped := make(chan struct{})
		go func() {
			select {
			case <-sc.stop:
				_ = ps.Close()
			case <-stopped:
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
		err := ps.SSubscribe(ctx, channels...)
		cancel()
		healthy := false
		if err == nil {
			healthy, err = h.read(sc, ps)
		}
		close(stopped)
		h.mu.Lock()
		sc.ps = nil
		h.mu.Unlock()
		_ = ps.Close()
		select {
		case <-sc.stop:
			return
		default:
		}
		if healthy {
			delay = 50 * time.Millisecond
		}
		h.b.log.Warn("redisadapter: shard channel connection lost; resubscribing at the slot's current master", "slot", sc.slot, "err", err)
		if cc, ok := h.b.client.(*redis.ClusterClient); ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			cc.ReloadState(ctx)
			cancel()
		}
		t := time.NewTimer(delay)
		select {
		case <-sc.stop:
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// read delivers the messages of one connection until it fails or Redis
// takes a wanted channel away. healthy reports that it had worked.
func (h *shardHub) read(sc *slotConn, ps *redis.PubSub) (healthy bool, err error) {
	for {
		m, err := ps.ReceiveTimeout(context.Background(), 5*time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				perr := ps.Ping(ctx)
				cancel()
				if perr == nil {
					continue
				}
				return healthy, perr
			}
			return healthy, err
		}
		switch m := m.(type) {
		case *redis.Subscription:
			switch m.Kind {
			case "ssubscribe":
				healthy = true
				h.mu.Lock()
				for _, w := range sc.waiting[m.Channel] {
					close(w)
				}
				delete(sc.waiting, m.Channel)
				h.mu.Unlock()
			case "sunsubscribe":
				h.mu.Lock()
				_, wanted := sc.channels[m.Channel]
				h.mu.Unlock()
				if wanted {
					// Redis unsubscribed us: the slot moved to another shard.
					return healthy, fmt.Errorf("redisadapter: Redis dropped shard channel %q (slot moved)", m.Channel)
				}
			}
		case *redis.Message:
			h.mu.Lock()
			subs, inbox := h.subs[m.Channel], h.inbox
			h.mu.Unlock()
			if len(subs) > 0 {
				select {
				case inbox <- shardDelivery{subs: subs, channel: m.Channel, payload: m.Payload}:
				case <-sc.stop:
					return healthy, errors.New("redisadapter: slot connection stopped")
				}
			}
		}
	}
}

// close ends every slot's connection once the broker closes.
func (h *shardHub) close() {
	h.mu.Lock()
	h.closed = true
	slots := h.slots
	h.slots = nil
	inbox, dispatch := h.inbox, h.dispatch
	h.mu.Unlock()
	for _, sc := range slots {
		close(sc.stop)
		<-sc.done
	}
	if inbox != nil {
		close(inbox) // no reader is left to send
		<-dispatch
	}
}

// keySlot is Redis Cluster's hash slot of a key (CRC16 of the key, or of
// its {hash tag}, modulo 16384).
func keySlot(key string) int {
	if s := indexByte(key, '{'); s >= 0 {
		if e := indexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(crc16(key) % 16384)
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// crc16 is CRC-16/XMODEM, the one Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
