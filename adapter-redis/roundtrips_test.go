//go:build linux

package redisadapter_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/protocol/socketio"
)

// commandCalls reads INFO commandstats: calls per command.
func commandCalls(t *testing.T, rc *redis.Client) map[string]int {
	t.Helper()
	info, err := rc.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
		calls[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return calls
}

// A broadcast costs Redis one PUBLISH and nothing else when no broker
// outage happens: the receiver count that guards against restarts is
// PUBLISH's own reply (the server's epoch is asked only when it falls),
// and the sequence number travels inside the message.
func TestBroadcastCostsOnePublish(t *testing.T) {
	r := &privateRedis{bin: redisServerBinary(t), dir: t.TempDir(), port: outageFreePort(t)}
	r.start(t)
	t.Cleanup(func() { r.kill(t) })
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", r.port)
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second}
	node := func(label string) *adaptertest.Node {
		// No health checks during the count.
		b, err := redisadapter.NewBroker(redisadapter.Options{URL: url, HealthInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		n := adaptertest.NewNode(label, "/", adapter.NewCluster(b, cfg))
		t.Cleanup(func() {
			_ = n.Adapter.Close()
			_ = b.Close()
		})
		return n
	}
	a, b := node("A"), node("B")
	b.Connect("b1", false)
	ctx := context.Background()
	emit := func(name string) {
		t.Helper()
		p, err := socketio.NewEvent("/", name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Adapter.Broadcast(ctx, &p, adapter.BroadcastOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	adaptertest.Eventually(t, "a first broadcast reaches B", func() error {
		emit("warm-up")
		if len(b.Received("b1")) == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	adaptertest.Eventually(t, "A's queue empties", func() error {
		if s := a.Adapter.(*adapter.Cluster).Stats(); s.Queued != 0 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer rc.Close()
	before := commandCalls(t, rc)
	const n = 500
	for i := range n {
		emit(fmt.Sprint("e", i))
	}
	adaptertest.Eventually(t, "B gets them all", func() error {
		if got := len(b.Received("b1")); got < n {
			return fmt.Errorf("b1 got %d", got)
		}
		return nil
	})
	after := commandCalls(t, rc)
	for cmd, calls := range after {
		d := calls - before[cmd]
		switch {
		case cmd == "publish" && d != n:
			t.Errorf("%d PUBLISH for %d broadcasts", d, n)
		case cmd == "info" && d != 1: // the first commandCalls
			t.Errorf("%d INFO during the broadcasts (the epoch is asked only after a short count)", d-1)
		case cmd == "ping": // go-redis's idle checks, on a clock, not per publish
		case cmd != "publish" && cmd != "info" && d != 0:
			t.Errorf("%d %s during the broadcasts", d, cmd)
		}
	}
}
