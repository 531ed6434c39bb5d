//go:build linux

package redisadapter_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
)

// connectedClients reads INFO clients of the server c talks to.
func connectedClients(t *testing.T, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(context.Background(), "clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "connected_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no connected_clients in %q", info)
	return 0
}

// TestOneConnectionForEveryNamespace: a broker's subscriptions (one per
// namespace of a node) share one Redis connection; each still gets only
// its own messages, once; a closed one gets nothing and its channels are
// unsubscribed; closing the broker releases everything.
func TestOneConnectionForEveryNamespace(t *testing.T) {
	r := &privateRedis{bin: redisServerBinary(t), dir: t.TempDir(), port: outageFreePort(t)}
	r.start(t)
	defer r.kill(t)
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", r.port)
	probe := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer probe.Close()
	base := connectedClients(t, probe)

	b, err := redisadapter.NewBroker(redisadapter.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var mu sync.Mutex
	got := map[string][]string{} // subscription -> channels received
	var closers []interface{ Close() error }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range n {
		name := fmt.Sprintf("ns%d", i)
		sub := adapter.Subscription{
			Channels: []string{"req#" + name, "bc#" + name + "#"},
			Prefixes: []string{"bc#" + name + "#"},
			Deliver: func(channel string, data []byte) {
				mu.Lock()
				got[name] = append(got[name], channel+"="+string(data))
				mu.Unlock()
			},
		}
		c, err := b.Subscribe(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, c)
	}
	if now := connectedClients(t, probe); now > base+2 {
		t.Errorf("%d namespaces opened %d Redis connections, want at most 2 (the shared subscriber and the command pool)", n, now-base)
	}
	for i := range n {
		name := fmt.Sprintf("ns%d", i)
		for _, ch := range []string{"req#" + name, "bc#" + name + "#", "bc#" + name + "#room"} {
			if err := b.Publish(ctx, ch, []byte("m")); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(name string, want []string) bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(got[name], ",") == strings.Join(want, ",")
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := range n {
		name := fmt.Sprintf("ns%d", i)
		want := []string{"req#" + name + "=m", "bc#" + name + "#=m", "bc#" + name + "#room=m"}
		for !check(name, want) {
			if time.Now().After(deadline) {
				mu.Lock()
				t.Fatalf("%s received %v, want %v", name, got[name], want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Close half: their channels are unsubscribed, they receive nothing.
	for i := 0; i < n; i += 2 {
		if err := closers[i].Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		ch := fmt.Sprintf("req#ns%d", i)
		subs, err := probe.PubSubNumSub(ctx, ch).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(i % 2); subs[ch] != want {
			t.Errorf("%s: %d subscribers, want %d", ch, subs[ch], want)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for connectedClients(t, probe) > base {
		if time.Now().After(deadline) {
			t.Fatalf("connections left after Close: %d, want %d", connectedClients(t, probe), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
