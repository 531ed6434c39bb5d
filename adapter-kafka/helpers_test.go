//go:build cgo

// The tests in this file run librdkafka's mock cluster, which needs cgo.

package kafkaadapter_test

import (
	"context"
	"strings"
	"testing"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	"github.com/siogate/siogate/protocol/socketio"
)

// startKafka runs librdkafka's mock cluster, a single in-process broker
// that speaks the Kafka protocol, until the test ends.
func startKafka(t *testing.T) *ck.MockCluster {
	t.Helper()
	mc, err := ck.NewMockCluster(1)
	if err != nil {
		t.Fatalf("librdkafka mock cluster: %v", err)
	}
	t.Cleanup(mc.Close)
	return mc
}

// createTopic creates topics through the mock's own control API: the
// mock refuses kafka-go's CreateTopics request, and its automatic
// creation makes four partitions.
func createTopic(mc *ck.MockCluster) func(ctx context.Context, topic string) error {
	return func(_ context.Context, topic string) error {
		err := mc.CreateTopic(topic, 1, 1)
		if err != nil && strings.Contains(strings.ToLower(err.Error()), "exist") {
			return nil
		}
		return err
	}
}

// options connect to the mock; a short fetch wait keeps latency low since
// the mock does not answer a waiting fetch when a message arrives.
func options(mc *ck.MockCluster) kafkaadapter.Options {
	return kafkaadapter.Options{
		URL:         "kafka://" + mc.BootstrapServers(),
		CreateTopic: createTopic(mc),
		FetchWait:   20 * time.Millisecond,
	}
}

func newBroker(t *testing.T, opts kafkaadapter.Options) *kafkaadapter.Broker {
	t.Helper()
	b, err := kafkaadapter.NewBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func mustEvent(t *testing.T, name string, args ...any) *socketio.Packet {
	t.Helper()
	p, err := socketio.NewEvent("/", name, args)
	if err != nil {
		t.Fatal(err)
	}
	return &p
}
