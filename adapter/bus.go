package adapter

import (
	"context"
	"io"
	"strings"
	"sync"
)

// Bus is an in-process Broker: every Broker it hands out reaches the
// subscribers of all of them. It runs the cluster protocol without a
// broker process, for tests and for several servers in one process.
type Bus struct {
	mu   sync.RWMutex
	subs map[*busSub]struct{}
}

var (
	_ Broker            = (*Bus)(nil)
	_ SubscriberCounter = (*Bus)(nil)
)

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: make(map[*busSub]struct{})} }

// busSub delivers to one subscriber in order, from its own goroutine, so a
// slow subscriber never blocks a publisher.
type busSub struct {
	bus  *Bus
	sub  Subscription
	mu   sync.Mutex
	q    []busMsg
	wake chan struct{}
	done chan struct{}
	once sync.Once
}

type busMsg struct {
	channel string
	data    []byte
}

func (s *busSub) wants(channel string) bool {
	for _, c := range s.sub.Channels {
		if c == channel {
			return true
		}
	}
	for _, p := range s.sub.Prefixes {
		if strings.HasPrefix(channel, p) && channel != p {
			return true
		}
	}
	return false
}

// Publish delivers data to every subscription of channel.
func (b *Bus) Publish(_ context.Context, channel string, data []byte) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if !s.wants(channel) {
			continue
		}
		cp := append([]byte(nil), data...)
		s.mu.Lock()
		s.q = append(s.q, busMsg{channel, cp})
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Subscribe starts a subscription.
func (b *Bus) Subscribe(_ context.Context, sub Subscription) (io.Closer, error) {
	s := &busSub{bus: b, sub: sub, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.run()
	return s, nil
}

// NumSub counts the subscriptions that receive channel by exact name.
func (b *Bus) NumSub(_ context.Context, channel string) (int, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for s := range b.subs {
		for _, c := range s.sub.Channels {
			if c == channel {
				n++
				break
			}
		}
	}
	return n, nil
}

func (s *busSub) run() {
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			q := s.q
			s.q = nil
			s.mu.Unlock()
			if len(q) == 0 {
				break
			}
			for _, m := range q {
				select {
				case <-s.done:
					return
				default:
				}
				s.sub.Deliver(m.channel, m.data)
			}
		}
	}
}

// Close ends the subscription.
func (s *busSub) Close() error {
	s.once.Do(func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		s.bus.mu.Unlock()
		close(s.done)
	})
	return nil
}

// WithoutCounting hides the bus's subscriber counting, so that cluster
// adapters on it count nodes by heartbeat, as they do on brokers that
// cannot count.
func (b *Bus) WithoutCounting() Broker { return busNoCount{b} }

type busNoCount struct{ b *Bus }

func (n busNoCount) Publish(ctx context.Context, channel string, data []byte) error {
	return n.b.Publish(ctx, channel, data)
}

func (n busNoCount) Subscribe(ctx context.Context, sub Subscription) (io.Closer, error) {
	return n.b.Subscribe(ctx, sub)
}
