package natsadapter_test

import (
	"errors"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// natsURL is the NATS server of the development machine and CI.
const natsURL = "nats://127.0.0.1:4222"

func TestConformance(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adapter.Factory {
		cfg := adapter.ClusterConfig{
			Prefix:            adaptertest.Prefix(t),
			RequestTimeout:    2 * time.Second,
			HeartbeatInterval: 200 * time.Millisecond,
			// Generous: a node busy with 5,000-socket answers under -race and
			// a loaded machine must not be taken for gone.
			HeartbeatTimeout: 10 * time.Second,
		}
		var brokers []*natsadapter.Broker
		t.Cleanup(func() {
			for _, b := range brokers {
				_ = b.Close()
			}
		})
		return func(local adapter.Local) adapter.Adapter {
			b, err := natsadapter.NewBroker(natsadapter.Options{URL: natsURL})
			if err != nil {
				t.Fatalf("NATS on 127.0.0.1:4222 is needed: %v", err)
			}
			brokers = append(brokers, b)
			return adapter.NewCluster(b, cfg)(local)
		}
	})
}

func TestURLs(t *testing.T) {
	for _, bad := range []string{"", "http://127.0.0.1:4222", "nats://", "nats://[::1"} {
		if _, err := natsadapter.NewBroker(natsadapter.Options{URL: bad}); !errors.Is(err, natsadapter.ErrBadURL) {
			t.Errorf("%q: err = %v, want ErrBadURL", bad, err)
		}
	}
	if _, err := natsadapter.NewBroker(natsadapter.Options{URL: "nats://127.0.0.1:1"}); err == nil {
		t.Error("an unreachable NATS was accepted")
	}
}

// A node that closes or crashes stops being waited for
// (adaptertest.RunNodeDeath).
func TestNodeDeath(t *testing.T) {
	adaptertest.RunNodeDeath(t, func(t *testing.T) adapter.Broker {
		b, err := natsadapter.NewBroker(natsadapter.Options{URL: natsURL})
		if err != nil {
			t.Fatalf("NATS on 127.0.0.1:4222 is needed: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}
