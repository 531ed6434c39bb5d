package redisadapter_test

import (
	"errors"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// redisURL is the shared Redis server of the development machine and CI.
const redisURL = "redis://127.0.0.1:6379/0"

// TestConformance runs the adapter kit against real Redis: three nodes,
// each with its own connection.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adapter.Factory {
		prefix := adaptertest.Prefix(t)
		var brokers []*redisadapter.Broker
		t.Cleanup(func() {
			for _, b := range brokers {
				_ = b.Close()
			}
		})
		cfg := adapter.ClusterConfig{Prefix: prefix, RequestTimeout: 2 * time.Second}
		// Each node gets its own Redis connection, as separate processes would.
		return func(local adapter.Local) adapter.Adapter {
			b, err := redisadapter.NewBroker(redisadapter.Options{URL: redisURL})
			if err != nil {
				t.Fatalf("Redis on 127.0.0.1:6379 is needed: %v", err)
			}
			brokers = append(brokers, b)
			return adapter.NewCluster(b, cfg)(local)
		}
	})
}

func TestURLs(t *testing.T) {
	for _, bad := range []string{"", "http://x", "redis://[::1", "redis+sentinel:///0/m", "redis+sentinel://h:1/x/m", "redis+sentinel://h:1/0/m/extra"} {
		if _, err := redisadapter.ClientFromURL(bad); !errors.Is(err, redisadapter.ErrBadURL) {
			t.Errorf("%q: err = %v, want ErrBadURL", bad, err)
		}
	}
	for _, good := range []string{"redis://127.0.0.1:6379/0", "rediss://u:p@127.0.0.1:6380/1", "redis+sentinel://u:p@127.0.0.1:26379,127.0.0.1:26380/0/mymaster", "redis+sentinel://127.0.0.1/mymaster"} {
		c, err := redisadapter.ClientFromURL(good)
		if err != nil {
			t.Errorf("%q: %v", good, err)
			continue
		}
		_ = c.Close()
	}
	if _, _, err := redisadapter.New(redisadapter.Options{URL: "redis://127.0.0.1:1/0"}); err == nil {
		t.Error("an unreachable Redis was accepted at start")
	}
}
