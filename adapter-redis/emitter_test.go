package redisadapter_test

import (
	"testing"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/emitter/emittertest"
)

// The emitter reaches nodes through this broker.
func TestEmitter(t *testing.T) {
	emittertest.Run(t, func(t *testing.T) adapter.Broker {
		b, err := redisadapter.NewBroker(redisadapter.Options{URL: redisURL})
		if err != nil {
			t.Fatalf("the broker at %s is needed: %v", redisURL, err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}, adapter.ClusterConfig{})
}
