package adapter_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/protocol/socketio"
)

// restartBroker is an in-process broker that restarts like one without
// persistence: a restart drops every subscription until its node
// subscribes again (revive, in the order the test chooses) and changes the
// epoch. Publishes are accepted all the while, as a broker that is back
// accepts them before the nodes resubscribed. While lossy, publishes are
// accepted and lost (a server dying with them in flight).
type restartBroker struct {
	mu    sync.Mutex
	subs  []*restartSub
	epoch uint64
	lossy bool
}

type restartSub struct {
	sub    adapter.Subscription
	live   bool
	closed bool
	q      chan [2]string
	done   chan struct{}
}

func (s *restartSub) wants(channel string) bool {
	if slices.Contains(s.sub.Channels, channel) {
		return true
	}
	for _, p := range s.sub.Prefixes {
		if strings.HasPrefix(channel, p) {
			return true
		}
	}
	return false
}

func (b *restartBroker) publish(channel string, data []byte) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lossy {
		return 0
	}
	n := 0
	for _, s := range b.subs {
		if s.live && !s.closed && s.wants(channel) {
			s.q <- [2]string{channel, string(data)}
			n++
		}
	}
	return n
}

func (b *restartBroker) Publish(_ context.Context, channel string, data []byte) error {
	b.publish(channel, data)
	return nil
}

func (b *restartBroker) Subscribe(_ context.Context, sub adapter.Subscription) (io.Closer, error) {
	s := &restartSub{sub: sub, live: true, q: make(chan [2]string, 4096), done: make(chan struct{})}
	go func() {
		for {
			select {
			case <-s.done:
				return
			case m := <-s.q:
				sub.Deliver(m[0], []byte(m[1]))
			}
		}
	}()
	b.mu.Lock()
	b.subs = append(b.subs, s)
	b.mu.Unlock()
	return closerFunc(func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !s.closed {
			s.closed = true
			close(s.done)
		}
		return nil
	}), nil
}

func (b *restartBroker) Epoch(context.Context) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.epoch, nil
}

// restart drops every subscription and changes the epoch.
func (b *restartBroker) restart() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.epoch++
	b.lossy = false
	for _, s := range b.subs {
		s.live = false
	}
}

// revive subscribes the i-th subscription (in Subscribe order) again.
func (b *restartBroker) revive(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[i].live = true
}

func (b *restartBroker) setLossy() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lossy = true
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// countingRestartBroker counts receivers, as Redis does.
type countingRestartBroker struct{ *restartBroker }

var (
	_ adapter.PublishCounter    = countingRestartBroker{}
	_ adapter.SubscriberCounter = countingRestartBroker{}
	_ adapter.Epocher           = (*restartBroker)(nil)
)

func (b countingRestartBroker) PublishCount(_ context.Context, channel string, data []byte) (int, error) {
	return b.publish(channel, data), nil
}

func (b countingRestartBroker) NumSub(_ context.Context, channel string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.subs {
		if s.live && !s.closed && slices.Contains(s.sub.Channels, channel) {
			n++
		}
	}
	return n, nil
}

// receivedOnce waits until sid got exactly want (in order) among the
// events named in want.
func receivedOnce(t *testing.T, n *adaptertest.Node, sid string, want ...string) {
	t.Helper()
	adaptertest.Eventually(t, fmt.Sprintf("%s gets %v once", sid, want), func() error {
		var got []string
		for _, e := range n.Received(sid) {
			if slices.Contains(want, e) {
				got = append(got, e)
			}
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s got %v", sid, got)
		}
		return nil
	})
}

// On a broker that counts receivers (Redis), a broadcast that reached
// fewer nodes than the one before after a restart is held until every
// node subscribed again, and sent again; a node that already had it drops
// the copy; a node that leaves (same epoch) holds nothing up.
func TestRestartCountingBroker(t *testing.T) {
	rb := &restartBroker{}
	br := countingRestartBroker{rb}
	var logs adaptertest.LogBuffer
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 5 * time.Second}
	cfgA := cfg
	cfgA.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a, b := twoNodes(t, br, cfgA, br, cfg) // subscriptions 0 (A) and 1 (B)
	b.Connect("b1", false)
	ctx := context.Background()
	send := func(name string) {
		t.Helper()
		if err := a.Adapter.Broadcast(ctx, ev(t, name), adapter.BroadcastOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	send("m1")
	receivedOnce(t, b, "b1", "m1[]")
	const held = "holding messages"

	// A back first: m2 reaches only A; held until B is back.
	rb.restart()
	rb.revive(0)
	send("m2")
	adaptertest.Eventually(t, "A holds m2", func() error {
		if logs.Count(held) != 1 {
			return fmt.Errorf("not logged:\n%s", logs.String())
		}
		return nil
	})
	rb.revive(1)
	receivedOnce(t, b, "b1", "m1[]", "m2[]")

	// B back first: m3 reaches B; sent again once A is back, B drops the
	// copy.
	rb.restart()
	rb.revive(1)
	send("m3")
	adaptertest.Eventually(t, "A holds m3", func() error {
		if logs.Count(held) != 2 {
			return fmt.Errorf("not logged:\n%s", logs.String())
		}
		return nil
	})
	rb.revive(0)
	send("m4")
	receivedOnce(t, b, "b1", "m1[]", "m2[]", "m3[]", "m4[]")
	adaptertest.Eventually(t, "A's queue empties", func() error {
		if s := a.Adapter.(*adapter.Cluster).Stats(); s.Queued != 0 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})

	// B leaves: fewer receivers, same epoch; nothing is held.
	_ = b.Adapter.Close()
	send("m5")
	adaptertest.Eventually(t, "A's queue empties", func() error {
		if s := a.Adapter.(*adapter.Cluster).Stats(); s.Queued != 0 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	if n := logs.Count(held); n != 2 {
		t.Errorf("a node leaving held the queue:\n%s", logs.String())
	}
}

// On a broker that cannot count (NATS), a change of epoch holds the
// queue until every node known by heartbeat answers again, then the
// messages of the last moments are sent again: one lost in flight when
// the broker died arrives, the others are dropped as copies.
func TestRestartEpochBroker(t *testing.T) {
	rb := &restartBroker{}
	var logs adaptertest.LogBuffer
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 5 * time.Second, HeartbeatInterval: 100 * time.Millisecond}
	cfgA := cfg
	cfgA.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a, b := twoNodes(t, rb, cfgA, rb, cfg)
	b.Connect("b1", false)
	ctx := context.Background()
	send := func(name string) {
		t.Helper()
		if err := a.Adapter.Broadcast(ctx, ev(t, name), adapter.BroadcastOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	adaptertest.Eventually(t, "A knows B", func() error {
		if n, _ := a.Adapter.ServerCount(ctx); n != 2 {
			return fmt.Errorf("%d nodes", n)
		}
		return nil
	})
	send("m1")
	send("m2")
	receivedOnce(t, b, "b1", "m1[]", "m2[]")
	rb.setLossy()
	send("m3") // accepted, lost with the server
	adaptertest.Eventually(t, "m3 sent", func() error {
		if s := a.Adapter.(*adapter.Cluster).Stats(); s.Queued != 0 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	rb.restart()
	rb.revive(0)
	send("m4")
	adaptertest.Eventually(t, "A holds m4", func() error {
		if logs.Count("holding messages") != 1 {
			return fmt.Errorf("not logged:\n%s", logs.String())
		}
		return nil
	})
	rb.revive(1)
	send("m5")
	receivedOnce(t, b, "b1", "m1[]", "m2[]", "m3[]", "m4[]", "m5[]")
}

// BenchmarkOutboxBroadcast measures a cross-node broadcast through the
// outbox with no outage, on one in-process broker seen three ways: knowing
// nothing of restarts, counting receivers with an epoch (as Redis: the
// messages are numbered), and with an epoch only (as NATS: asked around
// every publish, recent messages kept for a replay). It waits until the
// other node received them all.
func BenchmarkOutboxBroadcast(b *testing.B) {
	for _, c := range []struct {
		name   string
		broker func() adapter.Broker
	}{
		{"plain", func() adapter.Broker { return plainBroker{&restartBroker{}} }},
		{"counting+epoch", func() adapter.Broker { return countingRestartBroker{&restartBroker{}} }},
		{"epoch", func() adapter.Broker { return &restartBroker{} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			br := c.broker()
			cfg := adapter.ClusterConfig{Prefix: "bench", RequestTimeout: 5 * time.Second, OutboxLimit: 1 << 20}
			got := make(chan struct{}, 1024)
			recv := adapter.NewCluster(br, cfg)(benchLocal{got: got})
			defer recv.Close()
			send := adapter.NewCluster(br, cfg)(benchLocal{})
			defer send.Close()
			p, err := socketio.NewEvent("/", "ev", []any{"hello"})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			done := make(chan struct{})
			go func() {
				for range b.N {
					<-got
				}
				close(done)
			}()
			for range b.N {
				if err := send.Broadcast(ctx, &p, adapter.BroadcastOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			<-done
		})
	}
}

// plainBroker is a restartBroker that shows neither epochs nor counts:
// the outbox's behaviour before restarts were noticed, on the same
// delivery path.
type plainBroker struct{ rb *restartBroker }

func (b plainBroker) Publish(ctx context.Context, channel string, data []byte) error {
	return b.rb.Publish(ctx, channel, data)
}

func (b plainBroker) Subscribe(ctx context.Context, sub adapter.Subscription) (io.Closer, error) {
	return b.rb.Subscribe(ctx, sub)
}

// benchLocal is a namespace with one socket that signals each delivery.
type benchLocal struct{ got chan struct{} }

func (benchLocal) Name() string { return "/" }
func (l benchLocal) Deliver(*socketio.Packet, []string, adapter.Flags) int {
	if l.got != nil {
		l.got <- struct{}{}
	}
	return 1
}
func (benchLocal) DeliverWithAck(context.Context, *socketio.Packet, []string, adapter.Flags, adapter.AckFunc) int {
	return 0
}
func (benchLocal) Disconnect([]string, bool)                           {}
func (benchLocal) Socket(string) (adapter.SocketInfo, bool)            { return adapter.SocketInfo{}, false }
func (benchLocal) OnServerSideEmit(string, socketio.Args, func([]any)) {}
