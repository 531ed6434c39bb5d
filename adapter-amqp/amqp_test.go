package amqpadapter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// amqpURL is the RabbitMQ of the development machine and CI.
const amqpURL = "amqp://guest:guest@127.0.0.1:5672/"

func TestConformance(t *testing.T) {
	for _, confirms := range []bool{false, true} {
		t.Run(fmt.Sprintf("confirms=%v", confirms), func(t *testing.T) {
			adaptertest.Run(t, func(t *testing.T) adapter.Factory {
				cfg := adapter.ClusterConfig{
					Prefix:            adaptertest.Prefix(t),
					RequestTimeout:    2 * time.Second,
					HeartbeatInterval: 200 * time.Millisecond,
				}
				var brokers []*amqpadapter.Broker
				t.Cleanup(func() {
					for _, b := range brokers {
						_ = b.Close()
					}
				})
				return func(local adapter.Local) adapter.Adapter {
					b, err := amqpadapter.NewBroker(amqpadapter.Options{URL: amqpURL, Confirms: confirms})
					if err != nil {
						t.Fatalf("RabbitMQ on 127.0.0.1:5672 is needed: %v", err)
					}
					brokers = append(brokers, b)
					return adapter.NewCluster(b, cfg)(local)
				}
			})
		})
	}
}

func TestURLs(t *testing.T) {
	if _, err := amqpadapter.NewBroker(amqpadapter.Options{URL: "http://127.0.0.1/"}); !errors.Is(err, amqpadapter.ErrBadURL) {
		t.Errorf("http URL: err = %v, want ErrBadURL", err)
	}
	if _, err := amqpadapter.NewBroker(amqpadapter.Options{URL: "amqp://guest:guest@127.0.0.1:1/"}); err == nil {
		t.Error("an unreachable broker was accepted")
	}
}

// A connection drop: the broker reconnects, resubscribes, and broadcasts
// cross nodes again; meanwhile local delivery works and the outage is
// logged.
func TestReconnectAfterConnectionDrop(t *testing.T) {
	proxy := adaptertest.NewCutter(t, "127.0.0.1:5672")
	var logs adaptertest.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	url := "amqp://guest:guest@" + proxy.Addr() + "/"
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond}

	bA, err := amqpadapter.NewBroker(amqpadapter.Options{URL: url, Logger: logger})
	if err != nil {
		t.Fatalf("RabbitMQ on 127.0.0.1:5672 is needed: %v", err)
	}
	defer bA.Close()
	bB, err := amqpadapter.NewBroker(amqpadapter.Options{URL: amqpURL})
	if err != nil {
		t.Fatal(err)
	}
	defer bB.Close()
	a := adaptertest.NewNode("A", "/", adapter.NewCluster(bA, cfg))
	b := adaptertest.NewNode("B", "/", adapter.NewCluster(bB, cfg))
	defer a.Adapter.Close()
	defer b.Adapter.Close()
	a.Connect("a1", false)
	b.Connect("b1", false)
	ctx := context.Background()
	send := func(n *adaptertest.Node, ev, room string) {
		p := mustEvent(t, ev)
		_ = n.Adapter.Broadcast(ctx, p, adapter.BroadcastOptions{Rooms: []string{room}})
	}
	adaptertest.Eventually(t, "A reaches b1 before the drop", func() error {
		send(a, "before", "b1")
		if !slices.Contains(b.Received("b1"), "before[]") {
			return errors.New("not yet")
		}
		return nil
	})

	proxy.Cut(false)
	// During the outage A still delivers to its own sockets.
	send(a, "local", "a1")
	if !slices.Contains(a.Received("a1"), "local[]") {
		t.Error("local delivery failed during the outage")
	}
	adaptertest.Eventually(t, "the outage is logged", func() error {
		if !bytes.Contains([]byte(logs.String()), []byte("connection lost")) {
			return errors.New(logs.String())
		}
		return nil
	})
	adaptertest.Eventually(t, "A reaches b1 again after reconnecting", func() error {
		send(a, "after", "b1")
		if !slices.Contains(b.Received("b1"), "after[]") {
			return errors.New("not yet")
		}
		return nil
	})
	adaptertest.Eventually(t, "B reaches a1 (A resubscribed)", func() error {
		send(b, "back", "a1")
		if !slices.Contains(a.Received("a1"), "back[]") {
			return errors.New("not yet")
		}
		return nil
	})
	if !bytes.Contains([]byte(logs.String()), []byte("reconnected")) {
		t.Errorf("recovery not logged: %s", logs.String())
	}
}
