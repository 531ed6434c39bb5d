package adaptertest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/protocol/socketio"
)

// RunNodeDeath is the contract of brokers that cannot count subscribers
// (nodes count each other by heartbeat). open returns a new connection to
// the broker for one node; closing it (io.Closer) cuts that node off as a
// crash would. Three nodes A, B and C run two scenarios:
//
//   - CloseAnnounced: with a heartbeat timeout of a minute, C closes its
//     adapter; A stops counting it at once, and a ServerSideEmit with acks
//     in flight, which C had not answered, ends with B's answer;
//   - Crash: C's broker connection closes without a word while a request
//     waits for C; A forgets C once its heartbeats stop (interval 200ms,
//     timeout 600ms) and the request ends with B's answer, and a broadcast
//     with acks hears that C asked nobody.
//
// Both requests have a minute to run: they may only end early because C
// was counted gone.
func RunNodeDeath(t *testing.T, open func(t *testing.T) adapter.Broker) {
	t.Helper()
	start := func(t *testing.T, timeout time.Duration) (a, b, c *Node, brokerC io.Closer) {
		t.Helper()
		cfg := adapter.ClusterConfig{
			Prefix: Prefix(t), RequestTimeout: 2 * time.Second,
			HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: timeout,
		}
		bC := open(t)
		closer, ok := bC.(io.Closer)
		if !ok {
			t.Fatalf("the broker %T cannot be closed", bC)
		}
		a = NewNode("A", "/", adapter.NewCluster(open(t), cfg))
		b = NewNode("B", "/", adapter.NewCluster(open(t), cfg))
		c = NewNode("C", "/", adapter.NewCluster(bC, cfg))
		for _, n := range []*Node{a, b, c} {
			t.Cleanup(func() { _ = n.Adapter.Close() })
			n.Connect(n.Label+"1", false)
		}
		Eventually(t, "A counts three nodes", func() error {
			if n, _ := a.Adapter.ServerCount(context.Background()); n != 3 {
				return fmt.Errorf("A counts %d", n)
			}
			return nil
		})
		return a, b, c, closer
	}
	// askWhileCHangs starts a ServerSideEmit with acks from A that C's
	// handler holds, then runs gone (C leaves) and returns the answers.
	askWhileCHangs := func(t *testing.T, a, c *Node, gone func()) []string {
		t.Helper()
		release := make(chan struct{})
		var once sync.Once
		t.Cleanup(func() { once.Do(func() { close(release) }) })
		entered := c.HoldServerEvent("hang", release)
		type result struct {
			answers []socketio.Args
			err     error
		}
		done := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			answers, err := a.Adapter.ServerSideEmit(ctx, "hang", nil, true)
			done <- result{answers, err}
		}()
		select {
		case <-entered:
		case <-time.After(Wait):
			t.Fatal("C's server-side handler never ran")
		}
		gone()
		select {
		case r := <-done:
			if r.err != nil {
				t.Errorf("ServerSideEmit: %v, want B's answer once C is gone", r.err)
			}
			var from []string
			for _, a := range r.answers {
				from = append(from, a.String(0))
			}
			return from
		case <-time.After(Wait):
			t.Fatal("ServerSideEmit still waits for C, gone")
			return nil
		}
	}

	t.Run("CloseAnnounced", func(t *testing.T) {
		a, _, c, _ := start(t, time.Minute)
		from := askWhileCHangs(t, a, c, func() { _ = c.Adapter.Close() })
		if !slices.Equal(from, []string{"from:B"}) {
			t.Errorf("answers from %v, want B only", from)
		}
		if n, _ := a.Adapter.ServerCount(context.Background()); n != 2 {
			t.Errorf("A counts %d nodes after C closed, want 2", n)
		}
	})
	t.Run("Crash", func(t *testing.T) {
		a, _, c, brokerC := start(t, 600*time.Millisecond)
		from := askWhileCHangs(t, a, c, func() { _ = brokerC.Close() })
		if !slices.Equal(from, []string{"from:B"}) {
			t.Errorf("answers from %v, want B only", from)
		}
		Eventually(t, "A counts two nodes", func() error {
			if n, _ := a.Adapter.ServerCount(context.Background()); n != 2 {
				return fmt.Errorf("A counts %d", n)
			}
			return nil
		})
	})
	t.Run("CrashDuringBroadcastWithAck", func(t *testing.T) {
		a, _, _, brokerC := start(t, 600*time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		counts := make(chan int, 8)
		p, _ := socketio.NewEvent("/", "question", nil)
		// C's broker is closed before the request: C never answers it.
		_ = brokerC.Close()
		nodes, err := a.Adapter.BroadcastWithAck(ctx, &p, adapter.BroadcastOptions{Rooms: []string{"A1", "B1", "C1"}},
			func(n int) { counts <- n }, func(string, socketio.Args) {})
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for len(got) < nodes {
			select {
			case n := <-counts:
				got = append(got, n)
			case <-time.After(Wait):
				t.Fatalf("%d of %d nodes reported their count: %v", len(got), nodes, got)
			}
		}
		sort.Ints(got)
		if nodes == 3 && !slices.Equal(got, []int{0, 1, 1}) || nodes == 2 && !slices.Equal(got, []int{1, 1}) {
			t.Errorf("%d nodes reported %v, want A's and B's socket, and C none", nodes, got)
		}
	})
}
