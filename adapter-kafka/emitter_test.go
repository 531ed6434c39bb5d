//go:build cgo

// The tests in this file run librdkafka's mock cluster, which needs cgo.

package kafkaadapter_test

import (
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/emitter/emittertest"
)

// A program that is not a node reaches the nodes' sockets through the
// Kafka broker's Publish.
func TestEmitter(t *testing.T) {
	mc := startKafka(t)
	emittertest.Run(t, func(t *testing.T) adapter.Broker {
		return newBroker(t, options(mc))
	}, adapter.ClusterConfig{RequestTimeout: 2 * time.Second})
}
