package adaptertest

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
)

// Usage is what a broker holds for the process under test, measured from
// the broker's side where it can tell (NATS monitoring, Redis INFO), in
// the process otherwise.
type Usage struct {
	// Connections to the broker.
	Connections int
	// Subscriptions counts the channels the broker delivers to the
	// process: NATS subscriptions, queue bindings, topics read.
	Subscriptions int
}

// Namespaces configures RunNamespaces.
type Namespaces struct {
	// Broker opens a broker on the server Usage measures. The kit closes
	// it (it must implement io.Closer). Every channel the kit uses starts
	// with prefix; a shared server can tell the broker's connection by it.
	Broker func(t *testing.T, prefix string) adapter.Broker
	// Usage measures the broker's resources for this process (on a
	// shared server: its connections named after prefix, and its
	// subscriptions to channels starting with prefix).
	Usage func(t *testing.T, prefix string) Usage
	// MaxConnections bounds the connections one broker may hold whatever
	// its number of namespaces (default 2).
	MaxConnections int
	// Goroutines bounds the goroutines one broker may run whatever its
	// number of namespaces (default 20).
	Goroutines int
}

// NamespaceCount is how many namespaces RunNamespaces opens on one node.
const NamespaceCount = 50

// RunNamespaces checks that a broker's resources are per node, not per
// namespace: NamespaceCount subscriptions of three channels each (one per
// namespace, as a gateway node with that many namespaces makes) share a
// bounded number of connections and goroutines; each subscription gets
// exactly its own messages, once; a channel two subscriptions want stays
// subscribed until both close; a closed subscription gets nothing and its
// channels are released on the broker; NamespaceCount cluster adapters
// (namespaces) closed, as the gateway closes the adapter of an emptied
// dynamic namespace, release everything they held; closing the broker
// releases its connections and goroutines.
func RunNamespaces(t *testing.T, cfg Namespaces) {
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 2
	}
	if cfg.Goroutines <= 0 {
		cfg.Goroutines = 20
	}
	const n = NamespaceCount
	prefix := Prefix(t)
	base := cfg.Usage(t, prefix)
	baseG := settledGoroutines()
	b := cfg.Broker(t, prefix)
	closeBroker := sync.OnceFunc(func() {
		if c, ok := b.(io.Closer); ok {
			_ = c.Close()
		}
	})
	t.Cleanup(closeBroker)

	var mu sync.Mutex
	got := map[string][]string{} // subscription → "channel=data" received
	chans := func(i int) []string {
		ns := fmt.Sprintf("%s#/ns%d#", prefix, i)
		return []string{ns + "req", ns + "res", ns + "bc#"}
	}
	subscribe := func(name string, channels []string) io.Closer {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		c, err := b.Subscribe(ctx, adapter.Subscription{Channels: channels, Deliver: func(channel string, data []byte) {
			mu.Lock()
			got[name] = append(got[name], channel+"="+string(data))
			mu.Unlock()
		}})
		if err != nil {
			t.Fatalf("subscription %s: %v", name, err)
		}
		return c
	}
	closers := make([]io.Closer, n)
	for i := range n {
		closers[i] = subscribe(fmt.Sprintf("ns%d", i), chans(i))
	}
	// A second subscription to ns0's request channel.
	twin := subscribe("twin", chans(0)[:1])

	usage := func(what string, want func(Usage) error) {
		t.Helper()
		Eventually(t, what, func() error {
			return want(cfg.Usage(t, prefix))
		})
	}
	usage(fmt.Sprintf("%d namespaces hold at most %d connections and %d subscriptions", n, cfg.MaxConnections, 3*n), func(u Usage) error {
		if c := u.Connections - base.Connections; c < 1 || c > cfg.MaxConnections {
			return fmt.Errorf("%d connections, want 1 to %d", c, cfg.MaxConnections)
		}
		if s := u.Subscriptions - base.Subscriptions; s != 3*n {
			return fmt.Errorf("%d subscriptions, want %d (one per distinct channel)", s, 3*n)
		}
		return nil
	})
	if g := runtime.NumGoroutine() - baseG; g > cfg.Goroutines {
		t.Errorf("%d namespaces run %d goroutines, want at most %d whatever the number of namespaces", n, g, cfg.Goroutines)
	} else {
		t.Logf("%d namespaces: %d goroutines, usage %+v (before: %+v)", n, g, cfg.Usage(t, prefix), base)
	}

	publishAll := func(round string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		for i := range n {
			for _, ch := range chans(i) {
				if err := b.Publish(ctx, ch, []byte(round)); err != nil {
					t.Fatalf("publish on %s: %v", ch, err)
				}
			}
		}
	}
	expect := func(open func(i int) bool, twinOpen bool, rounds ...string) {
		t.Helper()
		want := map[string][]string{}
		for i := range n {
			if !open(i) {
				continue
			}
			for _, r := range rounds {
				for _, ch := range chans(i) {
					want[fmt.Sprintf("ns%d", i)] = append(want[fmt.Sprintf("ns%d", i)], ch+"="+r)
				}
			}
		}
		if twinOpen {
			for _, r := range rounds {
				want["twin"] = append(want["twin"], chans(0)[0]+"="+r)
			}
		}
		same := func() error {
			mu.Lock()
			defer mu.Unlock()
			for name, w := range want {
				// Brokers order messages per channel only.
				g := slices.Sorted(slices.Values(got[name]))
				if w = slices.Sorted(slices.Values(w)); !slices.Equal(g, w) {
					return fmt.Errorf("%s received %v, want %v", name, g, w)
				}
			}
			return nil
		}
		Eventually(t, "every subscription receives its own messages", same)
		// Nothing more arrives (a message twice, or for a closed one).
		time.Sleep(200 * time.Millisecond)
		if err := same(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for name, g := range got {
			if _, ok := want[name]; !ok && len(g) > 0 {
				t.Fatalf("%s received %v, want nothing", name, g)
			}
		}
	}
	publishAll("1")
	expect(func(int) bool { return true }, true, "1")

	// Close the even ones: ns0's request channel stays for the twin.
	mu.Lock()
	clear(got)
	mu.Unlock()
	for i := 0; i < n; i += 2 {
		if err := closers[i].Close(); err != nil {
			t.Fatal(err)
		}
	}
	usage("the closed subscriptions' channels are released", func(u Usage) error {
		if s, want := u.Subscriptions-base.Subscriptions, 3*n/2+1; s != want {
			return fmt.Errorf("%d subscriptions, want %d", s, want)
		}
		return nil
	})
	publishAll("2")
	expect(func(i int) bool { return i%2 == 1 }, true, "2")
	_ = twin.Close()
	for i := 1; i < n; i += 2 {
		if err := closers[i].Close(); err != nil {
			t.Fatal(err)
		}
	}
	usage("every subscription is released", func(u Usage) error {
		if s := u.Subscriptions - base.Subscriptions; s != 0 {
			return fmt.Errorf("%d subscriptions left", s)
		}
		return nil
	})

	// Namespaces as the gateway makes them: one cluster adapter each,
	// closed as an emptied dynamic namespace is.
	ccfg := adapter.ClusterConfig{Prefix: prefix + "-nsp", RequestTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond}
	nodes := make([]*Node, n)
	for i := range n {
		nodes[i] = NewNode("A", fmt.Sprintf("/dyn-%d", i), adapter.NewCluster(b, ccfg))
	}
	usage(fmt.Sprintf("%d cluster namespaces subscribe", n), func(u Usage) error {
		if s := u.Subscriptions - base.Subscriptions; s < 3*n {
			return fmt.Errorf("%d subscriptions, want at least %d", s, 3*n)
		}
		if c := u.Connections - base.Connections; c > cfg.MaxConnections {
			return fmt.Errorf("%d connections, want at most %d", c, cfg.MaxConnections)
		}
		return nil
	})
	for _, node := range nodes {
		if err := node.Adapter.Close(); err != nil {
			t.Fatal(err)
		}
	}
	usage("the closed namespaces release their subscriptions", func(u Usage) error {
		if s := u.Subscriptions - base.Subscriptions; s != 0 {
			return fmt.Errorf("%d subscriptions left", s)
		}
		return nil
	})

	closeBroker()
	usage("closing the broker releases its connections", func(u Usage) error {
		if c := u.Connections - base.Connections; c > 0 {
			return fmt.Errorf("%d connections left", c)
		}
		return nil
	})
	Eventually(t, "the broker's goroutines end", func() error {
		if g := runtime.NumGoroutine() - baseG; g > 0 {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("%d goroutines more than before:\n%s", g, firstLines(string(buf), 60))
		}
		return nil
	})
}

// settledGoroutines returns the goroutine count once it stops falling
// (goroutines of earlier tests ending).
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
