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

// shardHub carries a sharded Broker's subscriptions on SSUBSCRIBE. A shard
// channel lives on the master of its hash slot, and Redis Cluster requires
// the channels of one SSUBSCRIBE to share a slot, so the hub holds one
// subscribing connection per master in use (as node-redis does), and
// subscribes there slot by slot (for a standalone Redis, one connection).
//
// When a connection fails (its master died) or Redis answers MOVED, the
// hub reloads the cluster's slot map and places each of the connection's
// channels again at its slot's current master, backing off from 50ms to
// 1s while the map still names a dead master; when Redis takes one
// channel away (SUNSUBSCRIBE, sent when its slot moves to another shard),
// that channel alone is placed again. That is the resubscription after
// failover and resharding.
//
// The readers hand messages to one dispatching goroutine, in the order
// each connection reads them, and handle SSUBSCRIBE confirmations
// themselves: a subscriber may then subscribe to more channels, and wait
// for Redis to confirm them, from within its delivery (the cluster adapter
// does, before applying a join that needs a room channel).
type shardHub struct {
	b *Broker

	mu       sync.Mutex
	conns    map[string]*nodeConn // master address → its connection
	where    map[string]*nodeConn // channel → the connection it is on
	subs     map[string][]*hubSub // channel → subscriptions
	waiting  map[string][]chan struct{}
	closed   bool
	inbox    chan shardDelivery // to the dispatcher; nil until the first subscription
	dispatch chan struct{}      // closed when the dispatcher ends
	stop     chan struct{}      // closed by close
	wg       sync.WaitGroup     // the goroutines placing channels again
}

// nodeConn is the subscribing connection to one master.
type nodeConn struct {
	addr     string
	delay    time.Duration       // waited before connecting (a retry)
	channels map[string]struct{} // wanted here
	ps       *redis.PubSub       // the current connection, nil before and after
	stop     chan struct{}
	done     chan struct{}
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

// masterOf returns the address of the master serving channel's slot
// ("" on a standalone Redis).
func (h *shardHub) masterOf(ctx context.Context, channel string) (string, error) {
	cc, ok := h.b.client.(*redis.ClusterClient)
	if !ok {
		return "", nil
	}
	m, err := cc.MasterForKey(ctx, channel)
	if err != nil {
		return "", err
	}
	return m.Options().Addr, nil
}

// add registers s and waits until Redis confirms its channels (or ctx
// ends). An unreachable Redis is logged, not fatal: the channels are
// placed once a master answers.
func (h *shardHub) add(ctx context.Context, s *hubSub) (io.Closer, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fmt.Errorf("redisadapter: subscribe: broker closed")
	}
	if h.conns == nil {
		h.conns = make(map[string]*nodeConn)
		h.where = make(map[string]*nodeConn)
		h.subs = make(map[string][]*hubSub)
		h.waiting = make(map[string][]chan struct{})
		h.stop = make(chan struct{})
		h.inbox, h.dispatch = make(chan shardDelivery, 4096), make(chan struct{})
		go h.dispatcher(h.inbox, h.dispatch)
	}
	var fresh []string
	var waits []chan struct{}
	for _, c := range s.exact {
		first := len(h.subs[c]) == 0
		h.subs[c] = append(h.subs[c], s)
		if first {
			fresh = append(fresh, c)
			w := make(chan struct{})
			h.waiting[c] = append(h.waiting[c], w)
			waits = append(waits, w)
		}
	}
	h.mu.Unlock()
	closer := closerFunc(func() error { return h.remove(s) })
	for _, c := range fresh {
		h.place(ctx, c, 0)
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

// place puts a wanted channel on the connection to its slot's master,
// starting that connection if needed (after delay, for a retry). When the
// master cannot be found, it tries again in the background.
func (h *shardHub) place(ctx context.Context, channel string, delay time.Duration) {
	addr, err := h.masterOf(ctx, channel)
	h.mu.Lock()
	if h.closed || len(h.subs[channel]) == 0 || h.where[channel] != nil {
		h.mu.Unlock()
		return
	}
	if err != nil {
		h.wg.Add(1)
		h.mu.Unlock()
		h.b.log.Warn("redisadapter: no master found for a shard channel; retrying", "channel", channel, "err", err)
		go h.placeLater(channel, max(delay, 50*time.Millisecond))
		return
	}
	nc := h.conns[addr]
	if nc == nil {
		nc = &nodeConn{addr: addr, delay: delay, channels: map[string]struct{}{}, stop: make(chan struct{}), done: make(chan struct{})}
		h.conns[addr] = nc
		go h.keep(nc)
	}
	nc.channels[channel] = struct{}{}
	h.where[channel] = nc
	ps := nc.ps
	h.mu.Unlock()
	if ps != nil {
		// A failure here is the connection's: its channels are placed
		// again when its reader sees it.
		sctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
		_ = ps.SSubscribe(sctx, channel)
		cancel()
	}
}

// placeLater places channel after delay, reloading the slot map first.
func (h *shardHub) placeLater(channel string, delay time.Duration) {
	defer h.wg.Done()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-h.stop:
		return
	case <-t.C:
	}
	h.reload()
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	h.place(ctx, channel, min(2*delay, time.Second))
}

// reload refreshes a cluster client's slot map.
func (h *shardHub) reload() {
	if cc, ok := h.b.client.(*redis.ClusterClient); ok {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cc.ReloadState(ctx)
		cancel()
	}
}

// remove unregisters s; channels nobody wants any more are unsubscribed,
// and a connection with no channel left closes.
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
	var ends []*nodeConn
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
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
		delete(h.waiting, c)
		nc := h.where[c]
		if nc == nil {
			continue
		}
		delete(h.where, c)
		delete(nc.channels, c)
		if len(nc.channels) == 0 {
			if h.conns[nc.addr] == nc { // not already stopped by close
				delete(h.conns, nc.addr)
				ends = append(ends, nc)
			}
		} else if nc.ps != nil {
			unsub = append(unsub, gone{nc.ps, c})
		}
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	for _, g := range unsub {
		_ = g.ps.SUnsubscribe(ctx, g.ch)
	}
	for _, nc := range ends {
		close(nc.stop)
		<-nc.done
	}
	return nil
}

// keep holds one master's subscribing connection until it has no channel
// left, the hub closes, or it fails (its channels are then placed again,
// each at its slot's current master).
func (h *shardHub) keep(nc *nodeConn) {
	defer close(nc.done)
	if nc.delay > 0 {
		t := time.NewTimer(nc.delay)
		select {
		case <-nc.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
	h.mu.Lock()
	if h.closed || len(nc.channels) == 0 {
		h.mu.Unlock()
		return
	}
	bySlot := map[int][]string{}
	for c := range nc.channels {
		slot := 0
		if _, ok := h.b.client.(*redis.ClusterClient); ok {
			slot = keySlot(c)
		}
		bySlot[slot] = append(bySlot[slot], c)
	}
	// No channel yet: no I/O under the lock. The first SSUBSCRIBE dials
	// the master of its channels' slot, which is this connection's.
	ps := h.b.client.SSubscribe(context.Background())
	nc.ps = ps
	h.mu.Unlock()

	stopped := make(chan struct{})
	go func() {
		select {
		case <-nc.stop:
			_ = ps.Close()
		case <-stopped:
		}
	}()
	var err error
	for _, group := range bySlot {
		ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
		err = ps.SSubscribe(ctx, group...)
		cancel()
		if err != nil {
			break
		}
	}
	if err == nil {
		err = h.read(nc, ps)
	}
	close(stopped)
	_ = ps.Close()
	select {
	case <-nc.stop:
		return
	default:
	}
	// The connection failed: hand its channels over.
	h.b.log.Warn("redisadapter: shard channel connection lost; resubscribing at the slots' current masters", "master", nc.addr, "err", err)
	h.mu.Lock()
	nc.ps = nil
	if h.conns[nc.addr] == nc {
		delete(h.conns, nc.addr)
	}
	channels := make([]string, 0, len(nc.channels))
	for c := range nc.channels {
		channels = append(channels, c)
		if h.where[c] == nc {
			delete(h.where, c)
		}
	}
	nc.channels = map[string]struct{}{}
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return
	}
	h.reload()
	delay := min(max(2*nc.delay, 50*time.Millisecond), time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	for _, c := range channels {
		h.place(ctx, c, delay)
	}
}

// read delivers the messages of one connection until it fails, Redis
// answers with an error (MOVED: the map was stale), or the hub stops it.
// A channel Redis takes away (its slot moved) is placed again alone.
func (h *shardHub) read(nc *nodeConn, ps *redis.PubSub) error {
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
				return perr
			}
			return err
		}
		switch m := m.(type) {
		case *redis.Subscription:
			switch m.Kind {
			case "ssubscribe":
				h.mu.Lock()
				for _, w := range h.waiting[m.Channel] {
					close(w)
				}
				delete(h.waiting, m.Channel)
				if nc.delay > 0 {
					nc.delay = 0 // working: the next failure retries at once
				}
				h.mu.Unlock()
			case "sunsubscribe":
				h.mu.Lock()
				_, wanted := nc.channels[m.Channel]
				if wanted {
					// Redis unsubscribed us: the slot moved to another shard.
					delete(nc.channels, m.Channel)
					if h.where[m.Channel] == nc {
						delete(h.where, m.Channel)
					}
					h.wg.Add(1)
				}
				h.mu.Unlock()
				if wanted {
					h.b.log.Info("redisadapter: shard channel moved; resubscribing at its new master", "channel", m.Channel)
					go h.placeLater(m.Channel, 50*time.Millisecond)
				}
			}
		case *redis.Message:
			h.mu.Lock()
			subs, inbox := h.subs[m.Channel], h.inbox
			h.mu.Unlock()
			if len(subs) > 0 {
				select {
				case inbox <- shardDelivery{subs: subs, channel: m.Channel, payload: m.Payload}:
				case <-nc.stop:
					return errors.New("redisadapter: shard connection stopped")
				}
			}
		}
	}
}

// close ends every connection once the broker closes.
func (h *shardHub) close() {
	h.mu.Lock()
	h.closed = true
	conns := h.conns
	h.conns = nil
	inbox, dispatch, stop := h.inbox, h.dispatch, h.stop
	h.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	for _, nc := range conns {
		close(nc.stop)
		<-nc.done
	}
	h.wg.Wait()
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
