//go:build cgo

// The tests in this file run librdkafka's mock cluster, which needs cgo.

package kafkaadapter_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// The Kafka broker goes down and comes back, twice: local delivery never
// stops, each outage is logged once, a broadcast during a known outage
// returns at once, and broadcasts cross nodes again
// (adaptertest.RunRecovery).
func TestBrokerDownAndUp(t *testing.T) {
	mc := startKafka(t)
	adaptertest.RunRecovery(t, adaptertest.Recovery{
		Brokers: func(t *testing.T, logger *slog.Logger) (adapter.Broker, adapter.Broker) {
			optsA := options(mc)
			optsA.Logger = logger
			optsA.MaxReconnectDelay = 500 * time.Millisecond
			return newBroker(t, optsA), newBroker(t, options(mc))
		},
		Interrupt: func(t *testing.T) {
			if err := mc.SetBrokerDown(1); err != nil {
				t.Fatal(err)
			}
		},
		DuringOutage: func(t *testing.T, a, _ *adaptertest.Node, _ *adaptertest.LogBuffer) {
			time.Sleep(time.Second) // readers and the heartbeat keep failing
			start := time.Now()
			_ = a.Adapter.Broadcast(context.Background(), mustEvent(t, "local2"), adapter.BroadcastOptions{Rooms: []string{"a1"}})
			if el := time.Since(start); el > 100*time.Millisecond {
				t.Errorf("a broadcast during a known outage took %v, want a fast failure", el)
			}
		},
		Restore: func(t *testing.T) {
			if err := mc.SetBrokerUp(1); err != nil {
				t.Fatal(err)
			}
		},
		AfterRecovery: func(t *testing.T, _, _ *adaptertest.Node, logs *adaptertest.LogBuffer) {
			if n := strings.Count(logs.String(), "connection lost"); n != 2 {
				t.Errorf("two outages logged %d times, want once each:\n%s", n, logs.String())
			}
		},
	})
}

// Node A reaches Kafka through a proxy that the test cuts: A serves its
// own sockets meanwhile and logs the outage; B goes on publishing; once
// the network is back, A's readers resume where they were (so A gets what
// B broadcast during the cut) and broadcasts cross nodes both ways. Kafka
// advertises its own address in metadata, so A's dialer sends every
// connection to the proxy.
func TestConnectionDrop(t *testing.T) {
	mc := startKafka(t)
	proxy := adaptertest.NewCutter(t, mc.BootstrapServers())
	var logs adaptertest.LogBuffer
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond}
	optsA := options(mc)
	optsA.URL = "kafka://" + proxy.Addr()
	optsA.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	optsA.MaxReconnectDelay = 500 * time.Millisecond
	optsA.Dialer = &kafka.Dialer{
		ClientID: "siogate-test",
		Timeout:  5 * time.Second,
		DialFunc: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, proxy.Addr())
		},
	}
	bA := newBroker(t, optsA)
	bB := newBroker(t, options(mc))
	a := adaptertest.NewNode("A", "/", adapter.NewCluster(bA, cfg))
	b := adaptertest.NewNode("B", "/", adapter.NewCluster(bB, cfg))
	defer a.Adapter.Close()
	defer b.Adapter.Close()
	a.Connect("a1", false)
	b.Connect("b1", false)
	send := func(n *adaptertest.Node, ev, room string) {
		_ = n.Adapter.Broadcast(context.Background(), mustEvent(t, ev), adapter.BroadcastOptions{Rooms: []string{room}})
	}
	adaptertest.Eventually(t, "A reaches b1 before the cut", func() error {
		send(a, "before", "b1")
		if !slices.Contains(b.Received("b1"), "before[]") {
			return errors.New("not yet")
		}
		return nil
	})

	proxy.Cut(true)
	send(a, "local", "a1")
	if !slices.Contains(a.Received("a1"), "local[]") {
		t.Error("local delivery failed during the cut")
	}
	adaptertest.Eventually(t, "the outage is logged", func() error {
		if !strings.Contains(logs.String(), "connection lost") {
			return errors.New(logs.String())
		}
		return nil
	})
	send(b, "during", "a1") // B still reaches Kafka
	time.Sleep(500 * time.Millisecond)
	if slices.Contains(a.Received("a1"), "during[]") {
		t.Error("A received a message through a cut network")
	}
	proxy.Cut(false)
	adaptertest.Eventually(t, "A gets what B sent during the cut", func() error {
		if !slices.Contains(a.Received("a1"), "during[]") {
			return fmt.Errorf("a1 got %v", a.Received("a1"))
		}
		return nil
	})
	adaptertest.Eventually(t, "A reaches b1 again", func() error {
		send(a, "after", "b1")
		if !slices.Contains(b.Received("b1"), "after[]") {
			return errors.New("not yet")
		}
		return nil
	})
	adaptertest.Eventually(t, "the recovery is logged", func() error {
		if !strings.Contains(logs.String(), "reconnected") {
			return errors.New(logs.String())
		}
		return nil
	})
	if n := strings.Count(logs.String(), "connection lost"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, logs.String())
	}
}
