package adapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/adapter/wire"
)

// The conformance kit over the in-process bus, counting nodes both ways.
func TestClusterConformanceBusNumSub(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adapter.Factory {
		return adapter.NewCluster(adapter.NewBus(), adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second})
	})
}

func TestClusterConformanceBusHeartbeat(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adapter.Factory {
		return adapter.NewCluster(adapter.NewBus().WithoutCounting(), adapter.ClusterConfig{
			Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second,
			HeartbeatInterval: 200 * time.Millisecond,
			// Generous: a node busy with 5,000-socket answers under -race and
			// a loaded machine must not be taken for gone.
			HeartbeatTimeout: 10 * time.Second,
		})
	})
}

// Server-side events wait for a slow handler in a bounded queue; past it
// they are dropped and counted.
func TestServerEventQueueFull(t *testing.T) {
	bus := adapter.NewBus()
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: time.Second}
	a, b := twoNodes(t, bus, cfg, bus, cfg)
	release := make(chan struct{})
	entered := b.HoldServerEvent("slow", release)
	ctx := context.Background()
	if _, err := a.Adapter.ServerSideEmit(ctx, "slow", nil, false); err != nil {
		t.Fatal(err)
	}
	<-entered
	const queued = 256 // the adapter's queue
	for i := range queued + 3 {
		if _, err := a.Adapter.ServerSideEmit(ctx, "e", []any{i}, false); err != nil {
			t.Fatal(err)
		}
	}
	adaptertest.Eventually(t, "the events past the queue are dropped", func() error {
		if d := b.Adapter.(*adapter.Cluster).Stats().ServerEventsDropped; d != 3 {
			return fmt.Errorf("%d dropped", d)
		}
		return nil
	})
	close(release)
	adaptertest.Eventually(t, "the queued events run", func() error {
		if n := len(b.ServerEvents()); n != 1+queued {
			return fmt.Errorf("%d handled", n)
		}
		return nil
	})
}

// A fetch answer to a siogate node travels in bounded parts; a requester
// that did not ask for parts (a Node server) gets one message.
func TestFetchAnswersInParts(t *testing.T) {
	bus := adapter.NewBus()
	prefix := adaptertest.Prefix(t)
	cfg := adapter.ClusterConfig{Prefix: prefix, RequestTimeout: 30 * time.Second}
	a, b := twoNodes(t, bus, cfg, bus, cfg)
	a.Connect("a1", false)
	for i := range 1800 {
		b.Connect(fmt.Sprint("b", i), false)
	}
	ch := wire.ChannelsFor(prefix, "/")
	var mu sync.Mutex
	parts := map[string][]*wire.Response{} // request id → responses
	spy, err := bus.Subscribe(context.Background(), adapter.Subscription{Channels: []string{ch.Response}, Deliver: func(_ string, data []byte) {
		r, err := wire.DecodeResponse(data)
		if err != nil {
			t.Error(err)
			return
		}
		if r.Parts > 0 && len(data) > 256<<10 {
			t.Errorf("a part of %d bytes", len(data))
		}
		mu.Lock()
		parts[r.RequestID] = append(parts[r.RequestID], r)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()

	socks, err := a.Adapter.FetchSockets(context.Background(), adapter.BroadcastOptions{})
	if err != nil || len(socks) != 1801 {
		t.Fatalf("fetched %d sockets, %v; want 1801", len(socks), err)
	}
	adaptertest.Eventually(t, "the spy sees B's parts", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range parts {
			if len(rs) != 4 {
				return fmt.Errorf("%d parts, want 4 (1800 sockets, 500 a part)", len(rs))
			}
			for i, r := range rs {
				if r.Part != i+1 || r.Parts != 4 || r.UID == "" {
					return fmt.Errorf("part %d: %d of %d from %q", i, r.Part, r.Parts, r.UID)
				}
			}
			return nil
		}
		return fmt.Errorf("no answer seen")
	})

	// A Node requester: no "parts" in its request, one answer.
	mu.Lock()
	clear(parts)
	mu.Unlock()
	req, _ := json.Marshal(map[string]any{"uid": "node-js", "requestId": "r1", "type": wire.TypeRemoteFetch, "opts": map[string]any{"rooms": []string{}, "except": []string{}}})
	if err := bus.Publish(context.Background(), ch.Request, req); err != nil {
		t.Fatal(err)
	}
	adaptertest.Eventually(t, "one answer from each node to a Node requester", func() error {
		mu.Lock()
		defer mu.Unlock()
		rs := parts["r1"]
		if len(rs) != 2 {
			return fmt.Errorf("%d answers", len(rs))
		}
		var sizes []int
		for _, r := range rs {
			var socks []json.RawMessage
			if err := json.Unmarshal(r.Sockets, &socks); err != nil || r.Parts != 0 {
				return fmt.Errorf("an answer in parts (%d) or bad: %v", r.Parts, err)
			}
			sizes = append(sizes, len(socks))
		}
		if sizes[0]+sizes[1] != 1801 || max(sizes[0], sizes[1]) != 1800 {
			return fmt.Errorf("answers of %v sockets, want 1 and 1800", sizes)
		}
		return nil
	})
}

// slowResponses is the bus with a slow publish on response channels, as a
// loaded broker with publisher confirms.
type slowResponses struct {
	*adapter.Bus
	delay time.Duration
}

func (s slowResponses) Publish(ctx context.Context, channel string, data []byte) error {
	if strings.Contains(channel, "-response#") {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Bus.Publish(ctx, channel, data)
}

// shardedBus is the bus in Node's sharded layout (static mode: no room
// channels), slow to publish on every channel but the namespace's main
// one, that is on the requesters' own response channels, where every
// answer goes in this layout.
type shardedBus struct {
	*adapter.Bus
	main  string // wire.ShardedChannel
	delay time.Duration
}

func (s shardedBus) Layout() wire.Layout { return wire.Layout{Sharded: true, Mode: wire.ModeStatic} }

func (s shardedBus) Publish(ctx context.Context, channel string, data []byte) error {
	if channel != s.main && s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Bus.Publish(ctx, channel, data)
}

// An answer in parts stays queued as long as the requester waits for it,
// not only the responder's own request timeout: on a slow broker, the
// last parts of a large answer used to be dropped as expired, and the
// requester waited in vain for the node's answer ("0 of 1 nodes
// answered"). In both layouts: the sharded one carries the requester's
// wait in its own envelope, and once did not (FetchSocketsAtScale on a
// loaded machine failed in the sharded conformance runs).
func TestFetchPartsWaitForTheRequester(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		t.Run(map[bool]string{false: "classic", true: "sharded"}[sharded], func(t *testing.T) {
			bus := adapter.NewBus()
			prefix := adaptertest.Prefix(t)
			const delay = 100 * time.Millisecond
			var fast, slow adapter.Broker = bus, slowResponses{Bus: bus, delay: delay}
			if sharded {
				main := wire.ShardedChannel(prefix, "/")
				fast, slow = shardedBus{Bus: bus, main: main}, shardedBus{Bus: bus, main: main, delay: delay}
			}
			a, b := twoNodes(t,
				fast, adapter.ClusterConfig{Prefix: prefix, RequestTimeout: 30 * time.Second},
				slow, adapter.ClusterConfig{Prefix: prefix, RequestTimeout: 200 * time.Millisecond})
			// 5 parts of 500: the last is published about 500ms after it
			// was queued, past B's 200ms.
			for i := range 2500 {
				b.Connect(fmt.Sprint("b", i), false)
			}
			adaptertest.Eventually(t, "A sees B", func() error {
				if n, err := a.Adapter.ServerCount(context.Background()); err != nil || n != 2 {
					return fmt.Errorf("%d nodes, %v", n, err)
				}
				return nil
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			socks, err := a.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{})
			if err != nil || len(socks) != 2500 {
				t.Fatalf("fetched %d sockets, %v; want 2500", len(socks), err)
			}
			if e := b.Adapter.(*adapter.Cluster).Stats().Expired; e != 0 {
				t.Errorf("B skipped %d answer parts as expired", e)
			}
		})
	}
}
