package redisadapter

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// hub multiplexes every subscription of a Broker (one per namespace of a
// gateway node) over a single Redis Pub/Sub connection read by a single
// goroutine, so that a node costs Redis one subscribing connection
// however many namespaces it has. Channels and patterns are reference
// counted: SUBSCRIBE when the first subscription wants one, UNSUBSCRIBE
// when the last one leaves.
type hub struct {
	b *Broker

	mu       sync.Mutex
	ps       *redis.PubSub // nil until the first subscription
	done     chan struct{} // closed when the reader ends
	exact    map[string][]*hubSub
	patterns map[string][]*hubSub
	// waiting are the subscriptions waiting for Redis to confirm a
	// channel ("c:"+name) or a pattern ("p:"+pattern).
	waiting map[string][]chan struct{}
	closed  bool
}

// hubSub is one subscription on the hub.
type hubSub struct {
	deliver  func(channel string, data []byte)
	exact    []string
	patterns []string

	mu     sync.Mutex // held while delivering, so Close waits for it
	closed bool
}

// add registers s, subscribing what no other subscription has yet, and
// waits until Redis confirms it (or ctx ends). An unreachable Redis is
// logged, not fatal: go-redis subscribes once it is back.
func (h *hub) add(ctx context.Context, s *hubSub) (io.Closer, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fmt.Errorf("redisadapter: subscribe: broker closed")
	}
	if h.ps == nil {
		h.ps = h.b.client.Subscribe(context.Background())
		h.exact = make(map[string][]*hubSub)
		h.patterns = make(map[string][]*hubSub)
		h.waiting = make(map[string][]chan struct{})
		h.done = make(chan struct{})
		go h.read(h.ps, h.done)
	}
	var newExact, newPatterns []string
	var waits []chan struct{}
	wait := func(key string) {
		ch := make(chan struct{})
		h.waiting[key] = append(h.waiting[key], ch)
		waits = append(waits, ch)
	}
	for _, c := range s.exact {
		if len(h.exact[c]) == 0 {
			newExact = append(newExact, c)
			wait("c:" + c)
		}
		h.exact[c] = append(h.exact[c], s)
	}
	for _, p := range s.patterns {
		if len(h.patterns[p]) == 0 {
			newPatterns = append(newPatterns, p)
			wait("p:" + p)
		}
		h.patterns[p] = append(h.patterns[p], s)
	}
	ps := h.ps
	h.mu.Unlock()

	var err error
	if len(newExact) > 0 {
		err = ps.Subscribe(ctx, newExact...)
	}
	if len(newPatterns) > 0 {
		if perr := ps.PSubscribe(ctx, newPatterns...); err == nil {
			err = perr
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			_ = h.remove(s)
			return nil, fmt.Errorf("redisadapter: subscribe: %w", err)
		}
		h.b.log.Warn("redisadapter: Redis unreachable at subscription; subscribing when it returns", "err", err)
		return closerFunc(func() error { return h.remove(s) }), nil
	}
	// Wait for the confirmations, so that messages published after
	// Subscribe returns are not missed.
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			_ = h.remove(s)
			return nil, fmt.Errorf("redisadapter: subscribe: no confirmation from Redis: %w", ctx.Err())
		}
	}
	return closerFunc(func() error { return h.remove(s) }), nil
}

// remove unregisters s; channels and patterns nobody wants any more are
// unsubscribed. After it returns, s receives nothing.
func (h *hub) remove(s *hubSub) error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	h.mu.Lock()
	var goneExact, gonePatterns []string
	drop := func(m map[string][]*hubSub, key string) bool {
		list := m[key]
		for i, x := range list {
			if x == s {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(m, key)
			return true
		}
		m[key] = list
		return false
	}
	for _, c := range s.exact {
		if drop(h.exact, c) {
			goneExact = append(goneExact, c)
		}
	}
	for _, p := range s.patterns {
		if drop(h.patterns, p) {
			gonePatterns = append(gonePatterns, p)
		}
	}
	ps := h.ps
	closed := h.closed
	h.mu.Unlock()
	if ps == nil || closed {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	// Errors are ignored: an unreachable Redis drops every subscription of
	// the connection anyway, and go-redis forgets these ones now.
	if len(goneExact) > 0 {
		_ = ps.Unsubscribe(ctx, goneExact...)
	}
	if len(gonePatterns) > 0 {
		_ = ps.PUnsubscribe(ctx, gonePatterns...)
	}
	return nil
}

// subscribeTimeout bounds an UNSUBSCRIBE on removal.
const subscribeTimeout = 5 * time.Second

// read delivers every message to the subscriptions that want it, and
// tells waiting subscribers of the confirmations.
func (h *hub) read(ps *redis.PubSub, done chan struct{}) {
	defer close(done)
	for m := range ps.ChannelWithSubscriptions(redis.WithChannelSize(4096)) {
		switch m := m.(type) {
		case *redis.Subscription:
			key := "c:" + m.Channel
			if m.Kind == "psubscribe" {
				key = "p:" + m.Channel
			} else if m.Kind != "subscribe" {
				continue
			}
			h.mu.Lock()
			for _, ch := range h.waiting[key] {
				close(ch)
			}
			delete(h.waiting, key)
			h.mu.Unlock()
		case *redis.Message:
			h.mu.Lock()
			var subs []*hubSub
			if m.Pattern != "" {
				subs = h.patterns[m.Pattern]
			} else {
				subs = h.exact[m.Channel]
			}
			h.mu.Unlock()
			for _, s := range subs {
				s.mu.Lock()
				if !s.closed {
					s.deliver(m.Channel, []byte(m.Payload))
				}
				s.mu.Unlock()
			}
		}
	}
}

// close ends the shared connection once the broker closes.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	ps, done := h.ps, h.done
	h.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
		<-done
	}
}
