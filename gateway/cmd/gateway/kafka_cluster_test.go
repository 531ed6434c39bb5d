//go:build cgo && unix

package main

import (
	"testing"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	"github.com/siogate/siogate/adapter/wire"
)

// TestHAProxyKafka runs the three-gateway scenario on Kafka. No Kafka
// server runs here, so the brokers are librdkafka's mock cluster (the real
// Kafka protocol, in this test process, cgo). Its topics are created up
// front through the mock's control API, as operators provision topics on
// clusters where clients may not create them; the gateways find them.
func TestHAProxyKafka(t *testing.T) {
	mc, err := ck.NewMockCluster(1)
	if err != nil {
		t.Fatalf("librdkafka mock cluster: %v", err)
	}
	defer mc.Close()
	bin := buildGateway(t)
	testHAProxy(t, bin, "kafka", func(prefix string) []string {
		ch := wire.ChannelsFor(prefix, "/")
		for _, c := range []string{ch.Broadcast, ch.Request, ch.Response} {
			if err := mc.CreateTopic(kafkaadapter.TopicName(c), 1, 1); err != nil {
				t.Fatalf("create topic for %s: %v", c, err)
			}
		}
		return []string{"--kafka-url", "kafka://" + mc.BootstrapServers()}
	})
}
