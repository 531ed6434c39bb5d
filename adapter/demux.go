package adapter

import "sync"

// Demux routes the messages a broker module receives on one connection to
// the many subscriptions made through it (one per namespace of a node), so
// that a node costs the broker one subscribing connection, one consumer
// and one delivering goroutine however many namespaces it has. Channels
// are reference counted: Add reports the channels no subscription wanted
// before (for the broker to subscribe), Remove the channels nobody wants
// any more (for the broker to unsubscribe). The zero Demux is ready to
// use; it is safe for concurrent use.
type Demux struct {
	mu   sync.Mutex
	subs map[string][]*DemuxSub // channel → subscriptions wanting it
}

// DemuxSub is one subscription registered on a Demux.
type DemuxSub struct {
	sub Subscription

	mu     sync.Mutex // held while delivering, so that Remove waits for it
	closed bool
}

// Subscription returns what s was registered with.
func (s *DemuxSub) Subscription() Subscription { return s.sub }

// Add registers sub and returns it with the channels of sub that no other
// subscription wanted before, in sub's order, each once.
func (d *Demux) Add(sub Subscription) (s *DemuxSub, fresh []string) {
	s = &DemuxSub{sub: sub}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.subs == nil {
		d.subs = make(map[string][]*DemuxSub)
	}
	for _, c := range sub.Channels {
		list := d.subs[c]
		if len(list) > 0 && list[len(list)-1] == s {
			continue // listed twice in sub
		}
		if len(list) == 0 {
			fresh = append(fresh, c)
		}
		d.subs[c] = append(list, s)
	}
	return s, fresh
}

// Remove unregisters s and returns the channels nobody wants any more.
// Once it returns, s receives nothing: it waits for a delivery to s in
// progress, so it must not be called from s's own Deliver. A second
// Remove of s returns nothing.
func (d *Demux) Remove(s *DemuxSub) (gone []string) {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range s.sub.Channels {
		list := d.subs[c]
		i := indexOf(list, s)
		if i < 0 {
			continue // listed twice in s
		}
		list = append(list[:i:i], list[i+1:]...)
		if len(list) == 0 {
			delete(d.subs, c)
			gone = append(gone, c)
			continue
		}
		d.subs[c] = list
	}
	return gone
}

func indexOf(list []*DemuxSub, s *DemuxSub) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// Deliver hands data, received on channel, to every subscription that
// wants channel, one after the other. Each gets its own copy of data but
// the last, which gets data itself.
func (d *Demux) Deliver(channel string, data []byte) {
	d.DeliverIf(channel, data, nil)
}

// DeliverIf is Deliver restricted to the subscriptions for which want
// (when not nil) returns true.
func (d *Demux) DeliverIf(channel string, data []byte, want func(*DemuxSub) bool) {
	d.mu.Lock()
	subs := d.subs[channel] // never modified in place: Add and Remove copy
	d.mu.Unlock()
	for i, s := range subs {
		if want != nil && !want(s) {
			continue
		}
		msg := data
		if i < len(subs)-1 {
			msg = append([]byte(nil), data...)
		}
		s.mu.Lock()
		if !s.closed {
			s.sub.Deliver(channel, msg)
		}
		s.mu.Unlock()
	}
}

// Wants reports whether some subscription wants channel.
func (d *Demux) Wants(channel string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subs[channel]) > 0
}

// Channels returns every channel some subscription wants, in no order
// (for a broker to subscribe again after a reconnection).
func (d *Demux) Channels() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.subs))
	for c := range d.subs {
		out = append(out, c)
	}
	return out
}

// Len returns the number of channels wanted.
func (d *Demux) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subs)
}
