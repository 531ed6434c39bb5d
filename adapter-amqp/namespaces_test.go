package amqpadapter_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// rabbitmqctl runs the broker's own control tool (the management API is
// not installed): what it lists is what RabbitMQ holds.
func rabbitmqctl(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-q"}, args...)...).Output()
	if err != nil {
		t.Fatalf("rabbitmqctl %s (the RabbitMQ server's tool, needed to count what it holds): %v", strings.Join(args, " "), err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestOneConnectionForEveryNamespace: the namespaces of a node share one
// connection, one queue read by one AMQP channel and one goroutine; the
// queue is bound once to each distinct channel's exchange, and unbound
// when the last namespace wanting it closes (adaptertest.RunNamespaces).
// Counted by rabbitmqctl: the connection named after the test, and the
// bindings of the test's exchanges.
func TestOneConnectionForEveryNamespace(t *testing.T) {
	var prefixes []string
	t.Cleanup(func() { deleteExchanges(t, prefixes) })
	adaptertest.RunNamespaces(t, adaptertest.Namespaces{
		Broker: func(t *testing.T, prefix string) adapter.Broker {
			prefixes = append(prefixes, prefix)
			b, err := amqpadapter.NewBroker(amqpadapter.Options{URL: amqpURL, Config: &amqp.Config{
				Heartbeat:  10 * time.Second,
				Properties: amqp.Table{"connection_name": prefix},
			}})
			if err != nil {
				t.Fatalf("RabbitMQ on 127.0.0.1:5672 is needed: %v", err)
			}
			return b
		},
		Usage: func(t *testing.T, prefix string) adaptertest.Usage {
			var u adaptertest.Usage
			for _, l := range rabbitmqctl(t, "list_connections", "--no-table-headers", "client_properties", "channels") {
				if strings.Contains(l, prefix) {
					u.Connections++
				}
			}
			for _, l := range rabbitmqctl(t, "list_bindings", "--no-table-headers", "source_name", "destination_name") {
				if strings.HasPrefix(l, adapter.SafeName(prefix)) {
					u.Subscriptions++
				}
			}
			return u
		},
		MaxConnections: 1,
	})
}

// deleteExchanges removes the exchanges the test's channels made.
func deleteExchanges(t *testing.T, prefixes []string) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	n := 0
	for _, l := range rabbitmqctl(t, "list_exchanges", "--no-table-headers", "name") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, adapter.SafeName(p)) {
				_ = ch.ExchangeDelete(l, false, false)
				n++
			}
		}
	}
	t.Logf("cleanup: %s exchanges deleted", strconv.Itoa(n))
}
