//go:build cgo && unix

package main

import (
	"testing"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/siogate/siogate/adapter"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
)

// TestPythonWorkersKafka runs the python-socketio worker scenario with a
// real socketio.KafkaManager (Debian's python3-kafka) on librdkafka's mock
// cluster (no Kafka server runs here). The manager's topic is created up
// front; KafkaManager publishes pickle.dumps(message) to it, and each
// node's bridge reads it through the Kafka broker.
func TestPythonWorkersKafka(t *testing.T) {
	mc, err := ck.NewMockCluster(1)
	if err != nil {
		t.Fatalf("librdkafka mock cluster: %v", err)
	}
	defer mc.Close()
	url := "kafka://" + mc.BootstrapServers()
	testPythonWorkersOn(t, "kafka", url, func(channel string) {
		if err := mc.CreateTopic(kafkaadapter.TopicName(channel), 1, 1); err != nil {
			t.Fatalf("create topic %s: %v", channel, err)
		}
	}, func(t *testing.T) adapter.Broker {
		b, err := kafkaadapter.NewBroker(kafkaadapter.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}
